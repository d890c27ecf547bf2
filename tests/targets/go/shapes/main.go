// shapes: heap growth that is not a leak, for leakhound's verdict tests. Every
// mode also churns garbage so the GC (and with it the heap series) keeps going.
//
//	-mode sawtooth  a cache (main.cacheFill) fills to -cache-mb in
//	                -period, is flushed, and fills again
//	-mode plateau   a warm-up (main.warmUp) allocates -warm-mb over
//	                -warm, keeps it, and stops allocating more
//	-mode leak      a slow steady leak (main.leakSlow), the positive control
//	-mode mixed     leakhound's 30 s acceptance case: leaks of 16 KiB/s of
//	                64 B objects (main.leak16), 64 KiB/s of 1 KiB
//	                (main.leak64), 256 KiB/s of 4 KiB (main.leak256), and
//	                64 KiB/s of 256 B split over four stacks under
//	                main.splitLeak; next to sessions of 512 B kept 10 s
//	                each at 256 KiB/s (main.session: not a leak, but a live
//	                set that fills for 10 s after attach)
//
// The allocating line of each is marked for the tests with a trailing comment.
//
// -memprofilerate N sets the program's own heap sampler (on at N from the
// start), as a program that tunes its profiling does.
//
// Output: "ready pid=P mode=M go=V", then every -interval "tick=N elapsed_s=X
// unix_us=U live_mb=Y kept16=B kept64=B kept256=B kept_split=B" (the bytes
// each of the mixed mode's leaks has kept so far).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

var (
	mode     = flag.String("mode", "sawtooth", "sawtooth, plateau, leak or mixed")
	cacheMB  = flag.Int("cache-mb", 20, "sawtooth: cache size before a flush")
	period   = flag.Duration("period", 4*time.Second, "sawtooth: fill-and-flush period")
	warmMB   = flag.Int("warm-mb", 40, "plateau: bytes kept by the warm-up")
	warm     = flag.Duration("warm", 15*time.Second, "plateau: length of the warm-up")
	leakKBps = flag.Int("leak-kbps", 256, "leak: KiB leaked per second")
	churnMB  = flag.Int("churn", 20, "garbage allocated per second, in MB")
	interval = flag.Duration("interval", time.Second, "status line period")
	memRate  = flag.Int("memprofilerate", 0, "set runtime.MemProfileRate at start: the "+
		"program's own sampler on, which leakhound leaves alone (0: the runtime's or the linker's choice)")
)

const chunk = 16 << 10

var (
	mu        sync.Mutex
	kept      [][]byte // what the mode keeps alive
	keptBytes int
	sink      []byte
	liveMB    float64
)

func keep(b []byte) { keepAs(nil, b) }

// keepAs keeps b and adds its size to *counter too: the mixed mode's own
// count of what each leak kept, the truth its status lines print.
func keepAs(counter *int, b []byte) {
	mu.Lock()
	kept = append(kept, b)
	keptBytes += len(b)
	liveMB = float64(keptBytes) / (1 << 20)
	if counter != nil {
		*counter += len(b)
	}
	mu.Unlock()
}

// Bytes kept by each of the mixed mode's leaks (under mu).
var kept16, kept64, kept256, keptSplit int

func cacheFill() []byte { return make([]byte, chunk) } // CACHE-LINE

func warmUp() []byte { return make([]byte, chunk) } // WARMUP-LINE

func leakSlow() []byte { return make([]byte, chunk) } // LEAK-LINE

func leak16() []byte  { return make([]byte, 64) }   // LEAK16-LINE
func leak64() []byte  { return make([]byte, 1024) } // LEAK64-LINE
func leak256() []byte { return make([]byte, 4096) } // LEAK256-LINE

// splitLeak keeps 1 KiB a call, from four allocation sites.
func splitLeak() {
	keepAs(&keptSplit, make([]byte, 256)) // SPLIT1-LINE
	keepAs(&keptSplit, make([]byte, 256)) // SPLIT2-LINE
	keepAs(&keptSplit, make([]byte, 256)) // SPLIT3-LINE
	keepAs(&keptSplit, make([]byte, 256)) // SPLIT4-LINE
}

func session() []byte { return make([]byte, 512) } // SESSION-LINE

// mixed runs the acceptance case: every leak at its rate, and sessions that
// expire after 10 s.
func mixed() {
	// Room for every kept object up front: keep's own append would otherwise
	// be a growing allocation site of its own. Not more: a large live heap
	// would space the GC cycles (the series points) out.
	kept = make([][]byte, 0, 1<<16) // 100 s of leaks
	go every(16<<10/64, func() bool { keepAs(&kept16, leak16()); return true })
	go every(64<<10/1024, func() bool { keepAs(&kept64, leak64()); return true })
	go every(256<<10/4096, func() bool { keepAs(&kept256, leak256()); return true })
	go every(64<<10/1024, func() bool { splitLeak(); return true })
	type live struct {
		b       []byte
		expires time.Time
	}
	var sessions []live
	var smu sync.Mutex
	go every(256<<10/512, func() bool {
		now := time.Now()
		smu.Lock()
		sessions = append(sessions, live{session(), now.Add(10 * time.Second)})
		i := 0
		for i < len(sessions) && now.After(sessions[i].expires) {
			// Dropped from the backing array too: re-slicing alone would
			// keep each expired session reachable until the next append
			// moves the array, a live set creeping up (judged a leak).
			sessions[i] = live{}
			i++
		}
		sessions = sessions[i:]
		smu.Unlock()
		return true
	})
}

// every calls f n times per second, spread evenly, until f returns false.
func every(perSecond float64, f func() bool) {
	if perSecond <= 0 {
		return
	}
	step := time.Duration(float64(time.Second) / perSecond)
	next := time.Now()
	for f() {
		next = next.Add(step)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
}

func main() {
	flag.Parse()
	if *memRate > 0 {
		runtime.MemProfileRate = *memRate
	}
	start := time.Now()
	switch *mode {
	case "sawtooth":
		perFill := *cacheMB << 20 / chunk
		go every(float64(perFill)/period.Seconds(), func() bool {
			keep(cacheFill())
			mu.Lock()
			if len(kept) >= perFill {
				kept, keptBytes, liveMB = nil, 0, 0 // flush
			}
			mu.Unlock()
			return true
		})
	case "plateau":
		n := *warmMB << 20 / chunk
		go every(float64(n)/warm.Seconds(), func() bool {
			keep(warmUp())
			mu.Lock()
			defer mu.Unlock()
			return len(kept) < n
		})
	case "leak":
		go every(float64(*leakKBps<<10)/chunk, func() bool {
			keep(leakSlow())
			return true
		})
	case "mixed":
		mixed()
	default:
		fmt.Fprintf(os.Stderr, "shapes: unknown -mode %q\n", *mode)
		os.Exit(2)
	}
	go every(float64(*churnMB<<20)/(64<<10), func() bool {
		sink = make([]byte, 64<<10) // garbage: keeps the GC cycling
		return true
	})
	fmt.Printf("ready pid=%d mode=%s go=%s\n", os.Getpid(), *mode, runtime.Version())
	for tick := 1; ; tick++ {
		time.Sleep(*interval)
		mu.Lock()
		mb := liveMB
		k16, k64, k256, ks := kept16, kept64, kept256, keptSplit
		mu.Unlock()
		now := time.Now()
		fmt.Printf("tick=%d elapsed_s=%.3f unix_us=%d live_mb=%.1f kept16=%d kept64=%d kept256=%d kept_split=%d\n",
			tick, now.Sub(start).Seconds(), now.UnixMicro(), mb, k16, k64, k256, ks)
	}
}
