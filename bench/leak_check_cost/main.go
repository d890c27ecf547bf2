// The target of bench/leak_check_cost (run.py): a program with many
// goroutines and a large pointer-rich live heap, whose GC cycles are forced at
// a steady pace so that each cycle can be compared with its neighbours.
//
//   - -heap-mb of live heap, as 128-byte objects holding two pointers each
//     (a ring the GC must follow), built before the first status line.
//   - -goroutines goroutines, half leaked (each blocked on a channel only it
//     holds: the runtime's check proves them) and half pool workers blocked
//     on one live global channel (never leaked).
//   - one worker that does a fixed unit of work in a loop (hash a buffer it
//     never reallocates) and prints "work unix_us=T ops=N" every -tick: the
//     throughput over time.
//   - a driver that calls runtime.GC() every -gc-every and prints
//     "cycle gc=N start_us=T end_us=T pause_ns=P": the cycle's number (the
//     gctrace line with the same number says whether it ran the goroutine
//     leak check), its span in wall time, and its total stop-the-world time
//     (debug.ReadGCStats, the runtime's own pause for that cycle).
package main

import (
	"flag"
	"fmt"
	"hash/crc32"
	"os"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"
)

var (
	heapMB     = flag.Int("heap-mb", 1024, "live heap to build, MiB")
	goroutines = flag.Int("goroutines", 10000, "goroutines: half leaked, half pool workers")
	gcEvery    = flag.Duration("gc-every", 3*time.Second, "force a GC cycle this often")
	tick       = flag.Duration("tick", 20*time.Millisecond, "throughput report interval")
)

type node struct {
	next, other *node
	pad         [112]byte
}

var (
	live []*node          // the live heap
	jobs = make(chan int) // the pool's channel: global, so never a leak
	sink atomic.Uint32
)

func usNow() int64 { return time.Now().UnixMicro() }

func buildHeap(mb int) {
	n := mb << 20 / 128
	live = make([]*node, n)
	for i := range live {
		live[i] = &node{}
		if i > 0 {
			live[i].next = live[i-1]
			live[i].other = live[(i*7919)%i]
		}
	}
	live[0].next = live[n-1]
}

func worker(ops *atomic.Int64) {
	// No allocation: every GC cycle is one the driver forced.
	buf := make([]byte, 1024)
	for n := 0; ; n++ {
		buf[n%len(buf)]++
		sink.Add(crc32.ChecksumIEEE(buf))
		ops.Add(1)
	}
}

func main() {
	flag.Parse()
	buildHeap(*heapMB)
	for i := 0; i < *goroutines/2; i++ {
		go func(c chan int) { <-c }(make(chan int)) // leaked: nothing else holds c
		go func() {
			for range jobs {
			}
		}()
	}
	runtime.GC()
	fmt.Printf("ready pid=%d heap_mb=%d goroutines=%d unix_us=%d\n", os.Getpid(), *heapMB,
		runtime.NumGoroutine(), usNow())

	var ops atomic.Int64
	go worker(&ops)
	go func() {
		for range time.Tick(*tick) {
			fmt.Printf("work unix_us=%d ops=%d\n", usNow(), ops.Swap(0))
		}
	}()
	var st debug.GCStats
	for range time.Tick(*gcEvery) {
		start := usNow()
		runtime.GC()
		end := usNow()
		debug.ReadGCStats(&st)
		fmt.Printf("cycle gc=%d start_us=%d end_us=%d pause_ns=%d\n", st.NumGC, start, end,
			st.Pause[0].Nanoseconds())
	}
	runtime.KeepAlive(live)
}
