// cgoleak: a cgo service that leaks C (libc malloc) memory through one known
// Go function while doing balanced malloc/free and realloc work in C, so
// leakhound's native allocation findings can be checked against ground truth.
//
// Each path runs in its own goroutine:
//
//	leak      main.leakCString: C.CString of a -leak-size byte string, -leak-rate
//	          times a second, pointer dropped: each leak is one malloc of
//	          leak-size+1 bytes, from the C.CString line (marker comment: CGO-LEAK,
//	          dash, LINE; written out only there, for source_line)
//	churn     control: C cgoleak_churn, -churn-rate malloc/free pairs a second,
//	          sizes 16..8207 bytes, about half kept in a 256-slot ring for a
//	          while (bounded, never grows)
//	realloc   control: C cgoleak_realloc_chain, -realloc-rate chains a second,
//	          each a malloc grown by -realloc-steps reallocs (200..320 bytes each),
//	          then freed
//	prealloc  C cgoleak_prealloc mallocs -prealloc buffers (64..1087 bytes)
//	          before the ready line; cgoleak_prealloc_free frees them during the
//	          run, -prealloc-free-rate a second (frees of pointers allocated
//	          before a tracer attached)
//
// A rate of 0 turns a path off. Output, one line at a time:
//
//	ready pid=P go=VERSION leak_size=S prealloc=N
//	tick=N elapsed_s=X leaked_bytes=B leaked_allocs=A prealloc_live=L   (every -interval)
//	leaked_bytes=B leaked_allocs=A                                      (on SIGUSR1)
//	leaked leaked_bytes=B leaked_allocs=A from_us=T0 to_us=T1           (-stamps: at every change)
//	mallinfo elapsed_s=X arena=A hblkhd=H uordblks=U fordblks=F keepcost=K
//	                                     (-mallinfo: glibc's mallinfo2() after each tick line)
//
// leaked_bytes counts leak-size+1 bytes per leaked allocation (the malloc size).
// With -stamps the counter is clocked: the allocations that took it to B were
// made between T0 and T1 (wall clock, microseconds since the Unix epoch), so
// a test can tell what it was at any instant, however late it reads the line.
package main

/*
#include <stdlib.h>
#include "native.h"
*/
import "C"

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
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
	leakRate      = flag.Float64("leak-rate", 50, "C.CString leaks per second (0: no leak)")
	leakSize      = flag.Int("leak-size", 1000, "length of each leaked string; each leak mallocs leak-size+1 bytes")
	churnRate     = flag.Float64("churn-rate", 2000, "balanced malloc/free pairs per second in C")
	reallocRate   = flag.Float64("realloc-rate", 20, "realloc chains per second in C")
	reallocSteps  = flag.Int("realloc-steps", 32, "reallocs per chain")
	prealloc      = flag.Int("prealloc", 2000, "C buffers allocated before the ready line")
	preallocFrees = flag.Float64("prealloc-free-rate", 20, "pre-allocated buffers freed per second")
	interval      = flag.Duration("interval", time.Second, "how often to print a status line")
	duration      = flag.Duration("duration", 0, "exit after this long (0: run until killed)")
	stamps        = flag.Bool("stamps", false, "print the leak counter with the clock at every change")
	mallinfo      = flag.Bool("mallinfo", false, "print glibc's mallinfo2() at every status line")
)

var (
	leakedAllocs counter // leaked_bytes = leakedAllocs * (leak-size+1)
	preallocLive counter
	lastLeak     unsafe.Pointer // only the newest leak is referenced, to nobody's use
	outMu        sync.Mutex
)

func say(format string, args ...any) {
	outMu.Lock()
	fmt.Fprintf(os.Stdout, format+"\n", args...)
	outMu.Unlock()
}

// leakCString is the leaking function: it copies s into C memory (malloc of
// len(s)+1 bytes) and never frees it. Tests look for it on the malloc stack.
//
//go:noinline
func leakCString(s string) {
	p := C.CString(s) // CGO-LEAK-LINE
	lastLeak = unsafe.Pointer(p)
	leakedAllocs.Add(1)
}

// paced calls step(n) so that about rate*elapsed units are done, every tick.
func paced(start time.Time, rate float64, tick time.Duration, step func(n int64)) {
	if rate <= 0 {
		return
	}
	var done int64
	for now := range time.Tick(tick) {
		want := int64(now.Sub(start).Seconds() * rate)
		if want > done {
			step(want - done)
			done = want
		}
	}
}

func leaker(start time.Time) {
	s := strings.Repeat("x", *leakSize)
	paced(start, *leakRate, 10*time.Millisecond, func(n int64) {
		from := time.Now().UnixMicro()
		for i := int64(0); i < n; i++ {
			leakCString(s)
		}
		if *stamps {
			b, a := status()
			say("leaked leaked_bytes=%d leaked_allocs=%d from_us=%d to_us=%d", b, a, from,
				time.Now().UnixMicro())
		}
	})
}

func churner(start time.Time) {
	seed := uint32(1)
	paced(start, *churnRate, 10*time.Millisecond, func(n int64) {
		seed = seed*2654435761 + 1
		C.cgoleak_churn(C.int(n), C.uint(seed))
	})
}

func reallocer(start time.Time) {
	paced(start, *reallocRate, 10*time.Millisecond, func(n int64) {
		for i := int64(0); i < n; i++ {
			C.cgoleak_realloc_chain(C.int(*reallocSteps))
		}
	})
}

func preallocFreer(start time.Time) {
	paced(start, *preallocFrees, 50*time.Millisecond, func(n int64) {
		live := C.cgoleak_prealloc_free(C.int(n))
		preallocLive.Store(int64(live))
	})
}

func status() (int64, int64) {
	a := leakedAllocs.Load()
	return a * int64(*leakSize+1), a
}

func main() {
	flag.Parse()
	if *leakSize < 0 {
		fmt.Fprintln(os.Stderr, "cgoleak: -leak-size must be >= 0")
		os.Exit(2)
	}
	start := time.Now()
	n := C.cgoleak_prealloc(C.int(*prealloc))
	preallocLive.Store(int64(n))

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)

	run := time.Now()
	go leaker(run)
	go churner(run)
	go reallocer(run)
	go preallocFreer(run)

	ticker := time.NewTicker(*interval)
	var deadline <-chan time.Time
	if *duration > 0 {
		deadline = time.After(*duration)
	}
	say("ready pid=%d go=%s leak_size=%d prealloc=%d", os.Getpid(), runtime.Version(), *leakSize, int(n))
	for tick := 0; ; {
		select {
		case <-ticker.C:
			tick++
			b, a := status()
			say("tick=%d elapsed_s=%.3f leaked_bytes=%d leaked_allocs=%d prealloc_live=%d",
				tick, time.Since(start).Seconds(), b, a, preallocLive.Load())
			if *mallinfo {
				var m [5]C.ulonglong
				C.cgoleak_mallinfo(&m[0])
				say("mallinfo elapsed_s=%.3f arena=%d hblkhd=%d uordblks=%d fordblks=%d keepcost=%d",
					time.Since(start).Seconds(), m[0], m[1], m[2], m[3], m[4])
			}
		case <-usr1:
			b, a := status()
			say("leaked_bytes=%d leaked_allocs=%d", b, a)
		case <-sigs:
			say("exit signal")
			return
		case <-deadline:
			say("exit duration")
			return
		}
	}
}
