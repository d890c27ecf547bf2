// The target of bench/retention_walk (run.py): a program with a large
// pointer-rich live heap and a leak that the retention walk must reach
// through all of it, and a worker that measures the program's throughput.
//
//   - -heap-mb of live heap, built before the "ready" line: three quarters
//     as 128-byte nodes holding two pointers each (small objects: their
//     pointer bits are at their span's end), one quarter as 1 KiB blobs
//     holding 16 pointers (objects over 512 B: an allocation header names
//     their type), all held by global slices; the nodes' slice is shuffled,
//     so that the walk meets their spans in no particular order, as in a
//     program that has run for a while.
//   - a leak of -leak-kb KiB/s of 1 KiB *Leaked objects (newLeak, one
//     allocation stack) kept in a growing linked list of chunks (main.leaks),
//     appended at its tail: the walk goes breadth first, so it reaches the
//     list's later chunks only after the whole live heap.
//   - one worker that does a fixed unit of work in a loop without allocating
//     (hash a buffer) and prints "work unix_us=T ops=N" every -tick.
//   - a driver that, while switched on (SIGUSR1 on, SIGUSR2 off), forces a
//     GC cycle every -gc-every (the heap profile's clock: leakhound's verdict
//     needs points) and prints "cycle start_us=T end_us=T" for each.
package main

import (
	"flag"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	heapMB  = flag.Int("heap-mb", 100, "live heap to build, MiB")
	leakKB  = flag.Int("leak-kb", 512, "leak rate, KiB/s")
	gcEvery = flag.Duration("gc-every", time.Second, "force a GC cycle this often while switched on")
	tick    = flag.Duration("tick", 20*time.Millisecond, "throughput report interval")
)

type node struct {
	next, other *node
	pad         [112]byte
}

type blob struct {
	ptrs [16]*node
	data [112]uint64
}

// Leaked is over 512 B: an allocation header names it.
type Leaked struct {
	ID      int64
	Prev    *Leaked
	Payload [1000]byte
}

type chunk struct {
	next  *chunk
	items [63]*Leaked
	n     int
}

var (
	live  []*node
	blobs []*blob
	leaks struct{ head, tail *chunk } // main.leaks: the leak's root
	sink  atomic.Uint32
	gcOn  atomic.Bool
)

func usNow() int64 { return time.Now().UnixMicro() }

func buildHeap(mb int) {
	n := (mb << 20) * 3 / 4 / 128
	live = make([]*node, n)
	for i := range live {
		live[i] = &node{}
		if i > 0 {
			live[i].next = live[i-1]
			live[i].other = live[(i*7919)%i]
		}
	}
	live[0].next = live[n-1]
	// A long-running program's heap is not in allocation order: the walk
	// (breadth first, in the slice's order) visits the nodes' spans at random.
	rand.New(rand.NewPCG(1, 2)).Shuffle(n, func(i, j int) { live[i], live[j] = live[j], live[i] })
	blobs = make([]*blob, (mb<<20)/4/1024)
	for i := range blobs {
		b := &blob{}
		for k := range b.ptrs {
			b.ptrs[k] = live[(i*31+k*7)%n]
		}
		blobs[i] = b
	}
}

//go:noinline
func newLeak(id int64, prev *Leaked) *Leaked {
	return &Leaked{ID: id, Prev: prev} // LEAK-LINE
}

func leak(kbPerSecond int) {
	leaks.head = &chunk{}
	leaks.tail = leaks.head
	var prev *Leaked
	const every = 10 * time.Millisecond
	perTick := float64(kbPerSecond) * every.Seconds()
	owed := 0.0
	var id int64
	for range time.Tick(every) {
		for owed += perTick; owed >= 1; owed-- {
			c := leaks.tail
			if c.n == len(c.items) {
				c.next = &chunk{}
				c = c.next
				leaks.tail = c
			}
			prev = newLeak(id, prev)
			c.items[c.n] = prev
			c.n++
			id++
		}
	}
}

func worker(ops *atomic.Int64) {
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
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("ready pid=%d heap_mb=%d heap_alloc=%d unix_us=%d\n", os.Getpid(), *heapMB,
		ms.HeapAlloc, usNow())

	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		for s := range sig {
			gcOn.Store(s == syscall.SIGUSR1)
		}
	}()
	var ops atomic.Int64
	go worker(&ops)
	go leak(*leakKB)
	go func() {
		for range time.Tick(*tick) {
			fmt.Printf("work unix_us=%d ops=%d\n", usNow(), ops.Swap(0))
		}
	}()
	for range time.Tick(*gcEvery) {
		if !gcOn.Load() {
			continue
		}
		start := usNow()
		runtime.GC()
		fmt.Printf("cycle start_us=%d end_us=%d\n", start, usNow())
	}
	runtime.KeepAlive(live)
	runtime.KeepAlive(blobs)
}
