// The Go runtime's own memory statistics read from outside through
// /proc/PID/mem: what runtime.ReadMemStats would report (heap in use, stacks,
// runtime metadata) and the GC controller's state (GOGC, GOMEMLIMIT, heap goal,
// live heap), without stopping the target and without writing to it. The
// reads race the program; each snapshot sums the runtime's three rotating
// heap-stat deltas as consistentHeapStats.unsafeRead does (mstats.go).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "binary/elf_file.h"
#include "binary/pclntab.h"
#include "goruntime/memstats_layout.h"
#include "target/memory.h"
#include "util/result.h"

namespace leakhound::goruntime {

// Link-time addresses of runtime.memstats and runtime.gcController.
struct MemStatsSymbols {
  uint64_t memstats = 0;
  uint64_t gc_controller = 0;
  bool from_symtab = false;  // false: recovered from the code
};

// From .symtab, else from the code: the addresses the heap's accounting and
// the GC's entry points take of them (&memstats.heapStats, &gcController),
// intersected over several functions; exactly one must remain
// (docs/go-runtime.md §9). Never guesses.
Result<MemStatsSymbols> resolve_memstats_symbols(const binary::ElfFile& elf,
                                                 const binary::Pclntab& pclntab,
                                                 const MemStatsLayout& layout,
                                                 bool ignore_symtab = false);

// One reading, in bytes unless said otherwise. As runtime.ReadMemStats names them:
struct MemStatsSnapshot {
  uint64_t heap_inuse = 0;   // HeapInuse: bytes in in-use heap spans
  uint64_t heap_free = 0;    // HeapIdle - HeapReleased: free heap pages still mapped
  uint64_t stack_inuse = 0;  // StackInuse
  uint64_t metadata = 0;     // MSpanSys + MCacheSys + BuckHashSys + GCSys + OtherSys
  uint64_t heap_live = 0;    // gcController.heapLive: marked + allocated since (~HeapAlloc)
  uint64_t heap_marked = 0;  // live heap after the last GC
  uint64_t heap_goal = 0;    // NextGC: GOGC's goal, lowered by GOMEMLIMIT's (1.19+)
  uint64_t gogc_goal = 0;    // GOGC's goal alone
  int32_t gc_percent = 0;    // GOGC; -1: off
  std::optional<int64_t> memory_limit;  // GOMEMLIMIT (1.19+); INT64_MAX: none
  uint64_t mapped_ready = 0;            // 1.19+: all memory mapped and not released (0: unknown)
  uint64_t heap_alloc = 0;              // 1.19+: bytes in heap objects (totalAlloc - totalFree)
  // 1.19+: what the pacer expects allocated during a mark (trigger = goal - runway).
  uint64_t runway = 0;
  uint32_t numgc = 0;
  double gc_cpu_fraction = 0;  // GCCPUFraction since the program started
};

// Reads one snapshot; `runtime` addresses (link-time + bias).
Result<MemStatsSnapshot> read_memstats(const target::MemoryReader& mem, const MemStatsLayout& l,
                                       uint64_t memstats_addr, uint64_t gc_addr);

// gcControllerState.memoryLimitHeapGoal (mgcpacer.go, 1.19+): the heap goal
// that keeps mapped memory under the limit, less a headroom of 1 MiB
// (1.19-1.20) or 3% of the goal and at least 1 MiB (1.21+).
uint64_t memory_limit_heap_goal(int go_minor, int64_t limit, uint64_t mapped_ready,
                                uint64_t heap_free, uint64_t heap_alloc, uint64_t heap_marked);

}  // namespace leakhound::goruntime
