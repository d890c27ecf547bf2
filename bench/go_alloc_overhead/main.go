// An allocation-heavy Go program: allocates small and medium objects in a
// tight loop, retaining a rolling window so the GC has real work, and prints
// how many allocations it completed in each interval:
//
//	t=SECONDS allocs=N
package main

import (
	"flag"
	"fmt"
	"time"
)

var window [4096][]byte

func main() {
	interval := flag.Duration("interval", 500*time.Millisecond, "report interval")
	flag.Parse()
	sizes := [...]int{16, 48, 128, 512, 2048, 8192}
	start := time.Now()
	next := start.Add(*interval)
	n := 0
	for i := 0; ; i++ {
		b := make([]byte, sizes[i%len(sizes)])
		b[0] = byte(i)
		window[i%len(window)] = b
		n++
		if n&1023 == 0 && time.Now().After(next) {
			fmt.Printf("t=%.3f allocs=%d\n", time.Since(start).Seconds(), n)
			n = 0
			next = next.Add(*interval)
		}
	}
}
