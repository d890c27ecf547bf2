// An allocation-heavy Go program: allocates small and medium objects in a
// tight loop, retaining a rolling window so the GC has real work, and prints
// how many allocations it completed in each interval. -work N adds N rounds of
// hashing per allocation, for a service-like mix of CPU and allocation;
// -leak N keeps every Nth allocation for good (a leak inside the churn):
//
//	t=SECONDS allocs=N
package main

import (
	"flag"
	"fmt"
	"hash/fnv"
	"time"
)

var (
	window [4096][]byte
	leaked [][]byte
)

// leakOne is the leak's allocation site, named so the bench can find it.
//
//go:noinline
func leakOne() []byte { return make([]byte, 512) }

func main() {
	interval := flag.Duration("interval", 500*time.Millisecond, "report interval")
	work := flag.Int("work", 0, "rounds of hashing (64 bytes each) per allocation")
	leakEvery := flag.Int("leak", 0, "keep every Nth allocation for good (0: none)")
	flag.Parse()
	h := fnv.New64a()
	var scratch [64]byte
	sizes := [...]int{16, 48, 128, 512, 2048, 8192}
	start := time.Now()
	next := start.Add(*interval)
	n := 0
	for i := 0; ; i++ {
		b := make([]byte, sizes[i%len(sizes)])
		b[0] = byte(i)
		window[i%len(window)] = b
		if *leakEvery > 0 && i%*leakEvery == 0 {
			leaked = append(leaked, leakOne())
		}
		for w := 0; w < *work; w++ {
			scratch[w%64] = byte(i)
			h.Write(scratch[:])
		}
		n++
		if n&1023 == 0 {
			if now := time.Now(); now.After(next) {
				fmt.Printf("t=%.3f allocs=%d h=%d\n", now.Sub(start).Seconds(), n, h.Sum64()&1)
				n = 0
				next = next.Add(*interval)
				// After a SIGSTOP (the bench pauses the workloads not being
				// measured) start the intervals afresh, not catch up.
				if now.After(next) {
					next = now.Add(*interval)
				}
			}
		}
	}
}
