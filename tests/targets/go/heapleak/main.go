// heapleak: a Go service that leaks heap through one known function while
// churning garbage, so leakhound's findings can be checked against ground truth.
//
// It prints one line per interval to stdout:
//
//	tick=N elapsed_s=X leaked_bytes=Y leak_rate_bps=Z memprofilerate=R unix_us=T ancestry=A
//
// unix_us is the wall clock when the line was made: a test reading the lines
// late on a loaded machine still knows when each was true. With
// -ancestry-probe, ancestry is 1 when the runtime records the creators of new
// goroutines (GODEBUG tracebackancestors > 0, which leakhound
// --goroutine-ancestry sets): the runtime's own traceback of a fresh goroutine
// then shows its creator. Off by default: the probe's goroutine and its stack
// would move the runtime's stack statistics that rss_e2e compares; without it
// the field is absent.
//
// leak_rate_bps is the leak rate the target itself measures (bytes retained
// per second since start); tests compare leakhound's estimate with it.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// counter is atomic.Int64 for Go 1.18, which lacks it (the targets build with 1.18-1.27).
type counter struct{ v int64 }

func (c *counter) Add(d int64) int64 { return atomic.AddInt64(&c.v, d) }
func (c *counter) Load() int64       { return atomic.LoadInt64(&c.v) }
func (c *counter) Store(x int64)     { atomic.StoreInt64(&c.v, x) }

var (
	leakRate      = flag.Int("leak-rate", 1<<20, "bytes leaked per second (0: no leak, a control)")
	leakSize      = flag.Int("leak-size", 32<<10, "size of each leaked object in bytes")
	churnMBps     = flag.Int("churn", 100, "garbage allocated per second, in MB")
	interval      = flag.Duration("interval", time.Second, "how often to print a status line")
	duration      = flag.Duration("duration", 0, "exit after this long (0: run until killed)")
	ancestryProbe = flag.Bool("ancestry-probe", false, "print ancestry=0|1 in each status line (whether the runtime records goroutine creators)")
	leakFor       = flag.Duration("leak-for", 0, "stop leaking after this long (0: never)")
	memstats      = flag.Bool("memstats", false, "also print runtime.ReadMemStats at each interval")
	leakPtrs      = flag.Bool("leak-ptrs", false, "leak linked 64-byte nodes instead of []byte: a live heap the GC must scan, as real leaks are")
	gcfrac        = flag.Bool("gcfrac", false, "also print the GC CPU fraction from runtime/metrics at each interval (gcfrac.go)")
)

// retained holds every leaked object: the leak.
var retained [][]byte

// node is the -leak-ptrs unit: pointers the GC follows, so its mark work grows
// with the leak (a []byte is noscan: marking it costs nothing). A leaked batch
// is a slice of nodes, as a map or a cache holds its entries: shallow, so the
// mark workers share it (a long linked list would be marked by one at a time).
type node struct {
	first *node
	pad   [56]byte
}

var retainedNodes [][]*node
var leakedBytes counter

// leakOne is the leaking function; tests look for it at the top of the stack.
//
//go:noinline
func leakOne(size int) {
	if *leakPtrs {
		nodes := make([]*node, size/64)
		for i := range nodes {
			nodes[i] = &node{first: nodes[0]}
		}
		retainedNodes = append(retainedNodes, nodes)
		leakedBytes.Add(int64(size))
		return
	}
	buf := make([]byte, size) // LEAK-LINE
	// Written through, as real data is: a page never touched is not resident,
	// and the RSS e2e (rss_e2e.py) reconciles RSS with the heap.
	for i := 0; i < len(buf); i += 512 {
		buf[i] = 1
	}
	retained = append(retained, buf)
	leakedBytes.Add(int64(size))
}

func leaker(start time.Time) {
	if *leakRate <= 0 {
		return
	}
	perTick := 100 * time.Millisecond
	for now := range time.Tick(perTick) {
		if *leakFor > 0 && now.Sub(start) > *leakFor {
			fmt.Println("leak stopped")
			return
		}
		want := int64(now.Sub(start).Seconds() * float64(*leakRate))
		for leakedBytes.Load()+int64(*leakSize) <= want {
			leakOne(*leakSize)
		}
	}
}

var sink unsafe.Pointer // *[]byte

// churnOne allocates short-lived garbage of assorted sizes.
//
//go:noinline
func churnOne(size int) {
	b := make([]byte, size)
	b[0] = byte(size)
	atomic.StorePointer(&sink, unsafe.Pointer(&b))
}

func churner() {
	if *churnMBps <= 0 {
		return
	}
	sizes := []int{64, 256, 1024, 4096, 16384}
	const tick = 10 * time.Millisecond
	perTick := *churnMBps * 1000 * 1000 / int(time.Second/tick)
	for range time.Tick(tick) {
		for done, i := 0, 0; done < perTick; i++ {
			s := sizes[i%len(sizes)]
			churnOne(s)
			done += s
		}
	}
}

// printMemStats prints the runtime's own statistics, the oracle of the RSS
// breakdown's e2e test (tests/bpf/rss_e2e.py).
func printMemStats(el float64) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Printf("memstats elapsed_s=%.3f heap_inuse=%d heap_alloc=%d heap_idle=%d heap_released=%d "+
		"stack_inuse=%d next_gc=%d gc_sys=%d mspan_sys=%d mcache_sys=%d buckhash_sys=%d other_sys=%d "+
		"num_gc=%d gc_cpu_fraction=%g\n",
		el, m.HeapInuse, m.HeapAlloc, m.HeapIdle, m.HeapReleased, m.StackInuse, m.NextGC, m.GCSys,
		m.MSpanSys, m.MCacheSys, m.BuckHashSys, m.OtherSys, m.NumGC, m.GCCPUFraction)
}

func main() {
	flag.Parse()
	start := time.Now()
	startExtras()
	go leaker(start)
	go churner()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	ticker := time.NewTicker(*interval)
	var deadline <-chan time.Time
	if *duration > 0 {
		deadline = time.After(*duration)
	}
	fmt.Printf("ready pid=%d go=%s memprofilerate=%d\n", os.Getpid(), runtime.Version(), runtime.MemProfileRate)
	for tick := 1; ; tick++ {
		select {
		case <-ticker.C:
			el := time.Since(start).Seconds()
			lb := leakedBytes.Load()
			anc := ""
			if *ancestryProbe {
				anc = fmt.Sprintf(" ancestry=%d", ancestry())
			}
			fmt.Printf("tick=%d elapsed_s=%.3f leaked_bytes=%d leak_rate_bps=%.0f memprofilerate=%d unix_us=%d%s\n",
				tick, el, lb, float64(lb)/el, runtime.MemProfileRate, time.Now().UnixMicro(), anc)
			if *memstats {
				printMemStats(el)
			}
			if *gcfrac {
				printGCFrac()
			}
		case <-sigs:
			fmt.Println("exit signal")
			return
		case <-deadline:
			fmt.Println("exit duration")
			return
		}
	}
}

// ancestry asks the runtime itself whether it records goroutine creators: a
// goroutine created now prints "[originating from goroutine N]" in its own
// traceback only if the runtime saved its creator's stack (proc.go
// saveAncestors, traceback.go printAncestorTraceback).
func ancestry() int {
	on := make(chan int)
	go func() {
		buf := make([]byte, 16<<10)
		n := runtime.Stack(buf, false)
		if bytes.Contains(buf[:n], []byte("[originating from goroutine")) {
			on <- 1
		} else {
			on <- 0
		}
	}()
	return <-on
}
