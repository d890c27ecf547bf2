// shapes: heap growth that is not a leak, for leakhound's verdict tests. Every
// mode also churns garbage so the GC (and with it the heap series) keeps going.
//
//	-mode sawtooth  a cache (main.cacheFill) fills to -cache-mb in
//	                -period, is flushed, and fills again
//	-mode plateau   a warm-up (main.warmUp) allocates -warm-mb over
//	                -warm, keeps it, and stops allocating more
//	-mode leak      a slow steady leak (main.leakSlow), the positive control
//
// The allocating line of each is marked for the tests with a trailing comment.
//
// Output: "ready pid=P mode=M go=V", then "tick=N elapsed_s=X live_mb=Y" every -interval.
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
	mode     = flag.String("mode", "sawtooth", "sawtooth, plateau or leak")
	cacheMB  = flag.Int("cache-mb", 20, "sawtooth: cache size before a flush")
	period   = flag.Duration("period", 4*time.Second, "sawtooth: fill-and-flush period")
	warmMB   = flag.Int("warm-mb", 40, "plateau: bytes kept by the warm-up")
	warm     = flag.Duration("warm", 15*time.Second, "plateau: length of the warm-up")
	leakKBps = flag.Int("leak-kbps", 256, "leak: KiB leaked per second")
	churnMB  = flag.Int("churn", 20, "garbage allocated per second, in MB")
	interval = flag.Duration("interval", time.Second, "status line period")
)

const chunk = 16 << 10

var (
	mu     sync.Mutex
	kept   [][]byte // what the mode keeps alive
	sink   []byte
	liveMB float64
)

func keep(b []byte) {
	mu.Lock()
	kept = append(kept, b)
	liveMB = float64(len(kept)*chunk) / (1 << 20)
	mu.Unlock()
}

func cacheFill() []byte { return make([]byte, chunk) } // CACHE-LINE

func warmUp() []byte { return make([]byte, chunk) } // WARMUP-LINE

func leakSlow() []byte { return make([]byte, chunk) } // LEAK-LINE

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
	start := time.Now()
	switch *mode {
	case "sawtooth":
		perFill := *cacheMB << 20 / chunk
		go every(float64(perFill)/period.Seconds(), func() bool {
			keep(cacheFill())
			mu.Lock()
			if len(kept) >= perFill {
				kept, liveMB = nil, 0 // flush
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
		mu.Unlock()
		fmt.Printf("tick=%d elapsed_s=%.3f live_mb=%.1f\n", tick, time.Since(start).Seconds(), mb)
	}
}
