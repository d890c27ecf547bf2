package main

// -gcfrac: the target's own GC CPU fraction, the oracle of the GOMEMLIMIT
// forecast's e2e (tests/bpf/memlimit_e2e.py). At each interval it prints
//
//	gcfrac unix_us=T heap_live=L gc_cpu_s=G total_cpu_s=C frac=F
//
// from runtime/metrics (Go 1.20+): F = dG/dC since the last line whose totals
// moved. The runtime publishes its CPU classes at the end of each GC cycle
// (metrics.go cpuStatsAggregate.compute), so F covers the GC cycles that ended
// in between, and is -1 when none did. frac_busy leaves out the idle mark
// workers' time (GC work on processors the program left idle): the share
// runtime.MemStats.GCCPUFraction and the GC CPU limiter count. heap_live is /gc/heap/live:bytes
// (Go 1.21+; -1 before). Before Go 1.20 it prints "gcfrac unsupported".

import (
	"fmt"
	"runtime/metrics"
	"time"
)

var gcfracSamples = []metrics.Sample{
	{Name: "/cpu/classes/gc/total:cpu-seconds"},
	{Name: "/cpu/classes/total:cpu-seconds"},
	{Name: "/gc/heap/live:bytes"},
	{Name: "/cpu/classes/gc/mark/idle:cpu-seconds"},
}

var lastGC, lastTotal, lastIdle float64

func printGCFrac() {
	metrics.Read(gcfracSamples)
	if gcfracSamples[0].Value.Kind() != metrics.KindFloat64 {
		fmt.Println("gcfrac unsupported")
		return
	}
	gc := gcfracSamples[0].Value.Float64()
	total := gcfracSamples[1].Value.Float64()
	live := int64(-1)
	if gcfracSamples[2].Value.Kind() == metrics.KindUint64 {
		live = int64(gcfracSamples[2].Value.Uint64())
	}
	idle := gcfracSamples[3].Value.Float64()
	frac, busy := -1.0, -1.0
	if total > lastTotal {
		frac = (gc - lastGC) / (total - lastTotal)
		busy = (gc - idle - lastGC + lastIdle) / (total - lastTotal)
		lastGC, lastTotal, lastIdle = gc, total, idle
	}
	fmt.Printf("gcfrac unix_us=%d heap_live=%d gc_cpu_s=%.6f total_cpu_s=%.6f frac=%.4f frac_busy=%.4f\n",
		time.Now().UnixMicro(), live, gc, total, frac, busy)
}
