package main

// The runtime's own memory statistics (runtime.memstats, runtime.gcController):
// the offsets agent/goruntime/memstats_layout.cpp reads them at, per release.

import (
	"debug/dwarf"
	"errors"
	"fmt"
	"strings"
)

// msLayout is one entry of memstats_layout_table.inc; fields follow
// MemStatsLayout (memstats_layout.h). -1: the release has no such field.
type msLayout struct {
	version string
	minor   int
	// runtime.mstats
	heapStats, stacksSys, mspanSys, mcacheSys, buckhashSys, gcMiscSys, otherSys int64
	numgc, gcCPUFraction                                                        int64
	// runtime.heapStatsDelta
	deltaSize, committed, inHeap, inStacks, inWorkBufs, inPtrScalarBits int64
	// runtime.gcControllerState
	gcPercent, memoryLimit, heapMinimum, heapGoal, heapLive, heapMarked int64
	mappedReady, heapFree, totalAlloc, totalFree, runway                int64
}

func analyzeMemStats(d *dwarf.Data, version string, minor int) (*msLayout, error) {
	l := &msLayout{version: version, minor: minor}
	ms, err := findStruct(d, "runtime.mstats")
	if err != nil {
		return nil, err
	}
	hsOff, hs, err := sub(ms, "heapStats", "runtime.consistentHeapStats")
	if err != nil {
		return nil, err
	}
	sf := field(hs, "stats")
	if sf == nil {
		return nil, errors.New("runtime.consistentHeapStats has no field stats")
	}
	at, ok := sf.Type.(*dwarf.ArrayType)
	if !ok || at.Count != 3 {
		return nil, fmt.Errorf("consistentHeapStats.stats has type %s, want [3]heapStatsDelta", sf.Type)
	}
	et := at.Type
	for {
		td, isTD := et.(*dwarf.TypedefType)
		if !isTD {
			break
		}
		et = td.Type
	}
	delta, ok := et.(*dwarf.StructType)
	if !ok || delta.StructName != "runtime.heapStatsDelta" {
		return nil, fmt.Errorf("consistentHeapStats.stats has type %s, want [3]heapStatsDelta", sf.Type)
	}
	l.heapStats = hsOff + sf.ByteOffset
	l.deltaSize = delta.ByteSize
	var errs []error
	get := func(st *dwarf.StructType, dst *int64, name string, size int64, optional bool) {
		v, e := offset(st, name, size, optional)
		*dst = v
		errs = append(errs, e)
	}
	get(ms, &l.stacksSys, "stacks_sys", 8, false)
	get(ms, &l.mspanSys, "mspan_sys", 8, false)
	get(ms, &l.mcacheSys, "mcache_sys", 8, false)
	get(ms, &l.buckhashSys, "buckhash_sys", 8, false)
	get(ms, &l.gcMiscSys, "gcMiscSys", 8, false)
	get(ms, &l.otherSys, "other_sys", 8, false)
	get(ms, &l.numgc, "numgc", 4, false)
	get(ms, &l.gcCPUFraction, "gc_cpu_fraction", 8, false)
	get(delta, &l.committed, "committed", 8, false)
	get(delta, &l.inHeap, "inHeap", 8, false)
	get(delta, &l.inStacks, "inStacks", 8, false)
	get(delta, &l.inWorkBufs, "inWorkBufs", 8, false)
	get(delta, &l.inPtrScalarBits, "inPtrScalarBits", 8, true) // gone in 1.25
	gc, err := findStruct(d, "runtime.gcControllerState")
	if err != nil {
		return nil, err
	}
	get(gc, &l.gcPercent, "gcPercent", 4, false)
	get(gc, &l.memoryLimit, "memoryLimit", 8, true) // 1.19+
	get(gc, &l.heapMinimum, "heapMinimum", 8, false)
	// 1.18 keeps the goal in heapGoal; 1.19+ keeps GOGC's goal in
	// gcPercentHeapGoal and derives the memory limit's on demand.
	get(gc, &l.heapGoal, "gcPercentHeapGoal", 8, true)
	if l.heapGoal == absent {
		get(gc, &l.heapGoal, "heapGoal", 8, false)
	}
	get(gc, &l.heapLive, "heapLive", 8, false)
	get(gc, &l.heapMarked, "heapMarked", 8, false)
	get(gc, &l.mappedReady, "mappedReady", 8, true) // 1.19+
	get(gc, &l.heapFree, "heapFree", 8, true)       // 1.19+
	get(gc, &l.totalAlloc, "totalAlloc", 8, true)   // 1.19+
	get(gc, &l.totalFree, "totalFree", 8, true)     // 1.19+
	get(gc, &l.runway, "runway", 8, true)           // 1.19+ (a local in 1.18)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return l, nil
}

func renderMemStats(ls []*msLayout) string {
	return renderTable(ls, func(l *msLayout) string { return l.version }, func(l *msLayout, f entryField, _ *strings.Builder) {
		f("go_minor", int64(l.minor))
		f("heap_stats", l.heapStats)
		f("stacks_sys", l.stacksSys)
		f("mspan_sys", l.mspanSys)
		f("mcache_sys", l.mcacheSys)
		f("buckhash_sys", l.buckhashSys)
		f("gc_misc_sys", l.gcMiscSys)
		f("other_sys", l.otherSys)
		f("numgc", l.numgc)
		f("gc_cpu_fraction", l.gcCPUFraction)
		f("delta_size", l.deltaSize)
		f("committed", l.committed)
		f("in_heap", l.inHeap)
		f("in_stacks", l.inStacks)
		f("in_work_bufs", l.inWorkBufs)
		f("in_ptr_scalar_bits", l.inPtrScalarBits)
		f("gc_percent", l.gcPercent)
		f("memory_limit", l.memoryLimit)
		f("heap_minimum", l.heapMinimum)
		f("heap_goal", l.heapGoal)
		f("heap_live", l.heapLive)
		f("heap_marked", l.heapMarked)
		f("mapped_ready", l.mappedReady)
		f("heap_free", l.heapFree)
		f("total_alloc", l.totalAlloc)
		f("total_free", l.totalFree)
		f("runway", l.runway)
	})
}
