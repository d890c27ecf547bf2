package main

// The runtime's own memory statistics (runtime.memstats, runtime.gcController):
// the offsets agent/goruntime/memstats_layout.cpp reads them at, per release.
// Fields follow MemStatsLayout (memstats_layout.h); -1: the release has none.

import (
	"debug/dwarf"
	"fmt"
)

const (
	mstats = "runtime.mstats"
	delta  = "runtime.heapStatsDelta"
	gcCtl  = "runtime.gcControllerState"
)

var memstatsSpecs = []spec{
	// mstats.heapStats.stats: [3]heapStatsDelta (checked below).
	{cname: "heap_stats", at: loc{mstats, "heapStats.stats"}},
	{cname: "stacks_sys", at: loc{mstats, "stacks_sys"}, size: 8},
	{cname: "mspan_sys", at: loc{mstats, "mspan_sys"}, size: 8},
	{cname: "mcache_sys", at: loc{mstats, "mcache_sys"}, size: 8},
	{cname: "buckhash_sys", at: loc{mstats, "buckhash_sys"}, size: 8},
	{cname: "gc_misc_sys", at: loc{mstats, "gcMiscSys"}, size: 8},
	{cname: "other_sys", at: loc{mstats, "other_sys"}, size: 8},
	{cname: "numgc", at: loc{mstats, "numgc"}, size: 4},
	{cname: "gc_cpu_fraction", at: loc{mstats, "gc_cpu_fraction"}, size: 8},
	{cname: "delta_size", at: loc{delta, ""}},
	{cname: "committed", at: loc{delta, "committed"}, size: 8},
	{cname: "in_heap", at: loc{delta, "inHeap"}, size: 8},
	{cname: "in_stacks", at: loc{delta, "inStacks"}, size: 8},
	{cname: "in_work_bufs", at: loc{delta, "inWorkBufs"}, size: 8},
	{cname: "in_ptr_scalar_bits", at: loc{delta, "inPtrScalarBits"}, size: 8, optional: true}, // gone in 1.25
	{cname: "gc_percent", at: loc{gcCtl, "gcPercent"}, size: 4},
	{cname: "memory_limit", at: loc{gcCtl, "memoryLimit"}, size: 8, optional: true}, // 1.19+
	{cname: "heap_minimum", at: loc{gcCtl, "heapMinimum"}, size: 8},
	// 1.18 keeps the goal in heapGoal; 1.19+ keeps GOGC's goal in
	// gcPercentHeapGoal and derives the memory limit's on demand.
	{cname: "heap_goal", at: loc{gcCtl, "gcPercentHeapGoal"}, size: 8, alt: []loc{{gcCtl, "heapGoal"}}},
	{cname: "heap_live", at: loc{gcCtl, "heapLive"}, size: 8},
	{cname: "heap_marked", at: loc{gcCtl, "heapMarked"}, size: 8},
	{cname: "mapped_ready", at: loc{gcCtl, "mappedReady"}, size: 8, optional: true}, // 1.19+
	{cname: "heap_free", at: loc{gcCtl, "heapFree"}, size: 8, optional: true},       // 1.19+
	{cname: "total_alloc", at: loc{gcCtl, "totalAlloc"}, size: 8, optional: true},   // 1.19+
	{cname: "total_free", at: loc{gcCtl, "totalFree"}, size: 8, optional: true},     // 1.19+
	// What the pacer expects allocated during a mark (a local in 1.18).
	{cname: "runway", at: loc{gcCtl, "runway"}, size: 8, optional: true}, // 1.19+
}

func analyzeMemStats(r *resolver) ([]entry, error) {
	es, err := r.resolve(memstatsSpecs)
	if err != nil {
		return nil, err
	}
	// The agent reads stats[i] at heap_stats + i*delta_size.
	ms, _ := r.find(mstats)
	hs := field(ms, "heapStats")
	st, _ := stripTypedefs(hs.Type).(*dwarf.StructType)
	at, ok := field(st, "stats").Type.(*dwarf.ArrayType)
	if !ok || at.Count != 3 {
		return nil, fmt.Errorf("consistentHeapStats.stats has type %s, want [3]heapStatsDelta", field(st, "stats").Type)
	}
	if e, ok := stripTypedefs(at.Type).(*dwarf.StructType); !ok || e.StructName != delta {
		return nil, fmt.Errorf("consistentHeapStats.stats has type %s, want [3]heapStatsDelta", at)
	}
	return es, nil
}
