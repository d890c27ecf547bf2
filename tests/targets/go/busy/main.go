// busy: a cgo program that keeps every path leakhound touches busy at once,
// and checks its own work, for the attach/detach stress test
// (tests/bpf/stress_e2e.py):
//
//	heap        -churn MB/s of Go allocations, each filled with a pattern that
//	            is verified before it is dropped (memory written under us shows)
//	goroutines  -spawn goroutines a second, each making a cgo call (malloc,
//	            fill, checksum, free in C) and checking its result, then exiting
//	cgo         the same C work from a long-lived goroutine too
//
// Output: "ready pid=P go=V memprofilerate=R", then every -interval
// "tick=N spawned=S done=D cgo_calls=C heap_checks=H errors=E memprofilerate=R";
// "exit signal" on SIGTERM/SIGINT. errors counts any check that failed: it
// must stay 0 whatever is attached or detached.
package main

/*
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// Mallocs n bytes, fills them from seed, sums them back, frees: returns the sum.
static uint64_t busy_work(int n, uint32_t seed) {
	unsigned char *p = malloc((size_t)n);
	if (!p) return 0;
	for (int i = 0; i < n; i++) { seed = seed * 1103515245u + 12345u; p[i] = (unsigned char)(seed >> 16); }
	uint64_t sum = 0;
	for (int i = 0; i < n; i++) sum += p[i];
	free(p);
	return sum;
}
*/
import "C"

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

// counter is atomic.Int64 for Go 1.18, which lacks it (the targets build with 1.18-1.27).
type counter struct{ v int64 }

func (c *counter) Add(d int64) int64 { return atomic.AddInt64(&c.v, d) }
func (c *counter) Load() int64       { return atomic.LoadInt64(&c.v) }
func (c *counter) Store(x int64)     { atomic.StoreInt64(&c.v, x) }

var (
	churnMB  = flag.Int("churn", 20, "Go heap churn, MB per second")
	spawn    = flag.Int("spawn", 500, "goroutines started per second (each makes a cgo call)")
	interval = flag.Duration("interval", time.Second, "status line period")

	spawned, done, cgoCalls, heapChecks, errors counter
)

// expected is busy_work's result computed in Go: the cgo result must match.
func expected(n int, seed uint32) uint64 {
	var sum uint64
	for i := 0; i < n; i++ {
		seed = seed*1103515245 + 12345
		sum += uint64(byte(seed >> 16))
	}
	return sum
}

func cgoCheck(n int, seed uint32) {
	got := uint64(C.busy_work(C.int(n), C.uint32_t(seed)))
	cgoCalls.Add(1)
	if got != expected(n, seed) {
		errors.Add(1)
	}
}

// every calls f n times per second, spread evenly.
func every(perSecond float64, f func(i int64)) {
	step := time.Duration(float64(time.Second) / perSecond)
	next := time.Now()
	for i := int64(0); ; i++ {
		f(i)
		next = next.Add(step)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
}

var sink []byte

func main() {
	flag.Parse()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	if *churnMB > 0 {
		go every(float64(*churnMB<<20)/(32<<10), func(i int64) {
			b := make([]byte, 32<<10)
			for j := range b {
				b[j] = byte(i + int64(j))
			}
			runtime.Gosched()
			for j := range b {
				if b[j] != byte(i+int64(j)) {
					errors.Add(1)
					break
				}
			}
			heapChecks.Add(1)
			sink = b
		})
	}
	if *spawn > 0 {
		go every(float64(*spawn), func(i int64) {
			spawned.Add(1)
			go func() {
				cgoCheck(256+int(i%1024), uint32(i))
				done.Add(1)
			}()
		})
	}
	go every(200, func(i int64) { cgoCheck(4096, uint32(i)*7) })

	fmt.Printf("ready pid=%d go=%s memprofilerate=%d\n", os.Getpid(), runtime.Version(),
		runtime.MemProfileRate)
	t := time.NewTicker(*interval)
	for tick := 1; ; tick++ {
		select {
		case <-t.C:
			fmt.Printf("tick=%d spawned=%d done=%d cgo_calls=%d heap_checks=%d errors=%d memprofilerate=%d\n",
				tick, spawned.Load(), done.Load(), cgoCalls.Load(), heapChecks.Load(), errors.Load(),
				runtime.MemProfileRate)
		case <-sigs:
			fmt.Println("exit signal")
			return
		}
	}
}
