// Where the Go runtime keeps its own memory statistics, per Go version:
// runtime.memstats (mstats.go: the consistent heap stats and the *_sys
// counters of runtime metadata) and runtime.gcController (mgcpacer.go: GOGC,
// GOMEMLIMIT, the heap goal, live and marked heap). Offsets come from the
// binary's DWARF when it has one, else from the table scripts/gen-offsets.sh
// generates from real toolchains' binaries (memstats_layout_table.inc; the
// g_layout_drift test regenerates it), as for runtime.g (g_layout.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "binary/buildinfo.h"
#include "binary/dwarf_types.h"
#include "binary/elf_file.h"
#include "goruntime/g_layout.h"  // kAbsent
#include "util/result.h"

namespace leakhound::goruntime {

struct MemStatsLayout {
  int go_minor = 0;
  // runtime.mstats. heap_stats: memstats.heapStats.stats, [3]heapStatsDelta
  // whose sum is the current value (consistentHeapStats.unsafeRead).
  uint32_t heap_stats = 0;
  uint32_t stacks_sys = 0, mspan_sys = 0, mcache_sys = 0, buckhash_sys = 0;  // sysMemStat
  uint32_t gc_misc_sys = 0, other_sys = 0;
  uint32_t numgc = 0;            // uint32
  uint32_t gc_cpu_fraction = 0;  // float64, set at each GC's mark termination
  // runtime.heapStatsDelta (int64 byte deltas).
  uint32_t delta_size = 0;
  uint32_t committed = 0, in_heap = 0, in_stacks = 0, in_work_bufs = 0;
  int32_t in_ptr_scalar_bits = kAbsent;  // GC programs' bits, gone in 1.25
  // runtime.gcControllerState.
  uint32_t gc_percent = 0;         // int32 (atomic.Int32): GOGC, -1 = off
  int32_t memory_limit = kAbsent;  // int64: GOMEMLIMIT, 1.19+
  uint32_t heap_minimum = 0;       // uint64
  uint32_t heap_goal = 0;          // 1.18 heapGoal; 1.19+ gcPercentHeapGoal (GOGC's goal only)
  uint32_t heap_live = 0;          // uint64: marked + allocated since the last GC
  uint32_t heap_marked = 0;        // uint64: live after the last GC
  int32_t mapped_ready = kAbsent;  // uint64, 1.19+: mapped and not released
  int32_t heap_free = kAbsent;     // 1.19+: free heap pages not released
  int32_t total_alloc = kAbsent;   // 1.19+: bytes ever allocated in heap objects
  int32_t total_free = kAbsent;    // 1.19+: ... and freed
  int32_t runway = kAbsent;        // uint64, 1.19+: what the pacer expects allocated in a mark
};

// The table's layout for a release; errors before Go 1.18; for releases newer
// than the table, the newest layout (the caller says "best effort").
Result<MemStatsLayout> memstats_layout(const binary::GoVersion& v);

// The layout from the binary's own DWARF (runtime.mstats,
// runtime.heapStatsDelta, runtime.gcControllerState).
Result<MemStatsLayout> memstats_layout_from_dwarf(const binary::DwarfTypes& dwarf, int go_minor);

// DWARF when present, else the table. `source`: "DWARF", "table",
// "table (newest, best effort)".
Result<MemStatsLayout> resolve_memstats_layout(const binary::ElfFile& elf,
                                               const binary::GoVersion& v, std::string* source);

// Every layout of the generated table, oldest first.
const std::vector<MemStatsLayout>& all_memstats_layouts();

}  // namespace leakhound::goruntime
