#include "goruntime/memstats_layout.h"

#include "binary/byte_reader.h"
#include "goruntime/profile_layout.h"

namespace leakhound::goruntime {

const std::vector<MemStatsLayout>& all_memstats_layouts() {
  // Oldest first; regenerate with scripts/gen-offsets.sh.
  static const std::vector<MemStatsLayout> layouts = {
#include "goruntime/memstats_layout_table.inc"
  };
  return layouts;
}

Result<MemStatsLayout> memstats_layout(const binary::GoVersion& v) {
  if (v.major != 1 || v.minor < kMinGoMinor) {
    return make_error("{} is too old: leakhound supports Go 1.{} and newer", v.raw, kMinGoMinor);
  }
  const auto& all = all_memstats_layouts();
  if (all.empty()) return make_error("no runtime.memstats layouts: the table is empty");
  for (const auto& l : all) {
    if (l.go_minor == v.minor) return l;
  }
  if (v.minor > all.back().go_minor) return all.back();
  return make_error("{}: no runtime.memstats layout for Go 1.{}", v.raw, v.minor);
}

Result<MemStatsLayout> memstats_layout_from_dwarf(const binary::DwarfTypes& dwarf, int go_minor) {
  auto ms = dwarf.struct_layout("runtime.mstats");
  if (!ms) return ms.error();
  auto hs = dwarf.struct_layout("runtime.consistentHeapStats");
  if (!hs) return hs.error();
  auto delta = dwarf.struct_layout("runtime.heapStatsDelta");
  if (!delta) return delta.error();
  auto gc = dwarf.struct_layout("runtime.gcControllerState");
  if (!gc) return gc.error();
  // The offset of a field of `size` bytes (0: any), or kAbsent when missing.
  auto find = [](const binary::StructLayout& s, const char* name, uint64_t size,
                 const char* in) -> Result<int32_t> {
    auto it = s.members.find(name);
    if (it == s.members.end()) return kAbsent;
    if (size && it->second.size && it->second.size != size)
      return make_error("DWARF: {}.{} is {} bytes, expected {}", in, name, it->second.size, size);
    if (!binary::detail::in_bounds(it->second.offset, size, s.size) || s.size > (1u << 20))
      return make_error("DWARF: {}.{} lies outside the struct", in, name);
    return static_cast<int32_t>(it->second.offset);
  };
  MemStatsLayout l;
  l.go_minor = go_minor;
  l.delta_size = static_cast<uint32_t>(delta->size);
  struct Want {
    void* out;
    bool optional;
    const binary::StructLayout* s;
    const char* name;
    uint64_t size;
    const char* in;
  };
  int32_t heap_stats = 0, stats = 0, goal18 = kAbsent;
  const Want wants[] = {
      {&heap_stats, false, &*ms, "heapStats", 0, "runtime.mstats"},
      {&stats, false, &*hs, "stats", 0, "runtime.consistentHeapStats"},
      {&l.stacks_sys, false, &*ms, "stacks_sys", 8, "runtime.mstats"},
      {&l.mspan_sys, false, &*ms, "mspan_sys", 8, "runtime.mstats"},
      {&l.mcache_sys, false, &*ms, "mcache_sys", 8, "runtime.mstats"},
      {&l.buckhash_sys, false, &*ms, "buckhash_sys", 8, "runtime.mstats"},
      {&l.gc_misc_sys, false, &*ms, "gcMiscSys", 8, "runtime.mstats"},
      {&l.other_sys, false, &*ms, "other_sys", 8, "runtime.mstats"},
      {&l.numgc, false, &*ms, "numgc", 4, "runtime.mstats"},
      {&l.gc_cpu_fraction, false, &*ms, "gc_cpu_fraction", 8, "runtime.mstats"},
      {&l.committed, false, &*delta, "committed", 8, "runtime.heapStatsDelta"},
      {&l.in_heap, false, &*delta, "inHeap", 8, "runtime.heapStatsDelta"},
      {&l.in_stacks, false, &*delta, "inStacks", 8, "runtime.heapStatsDelta"},
      {&l.in_work_bufs, false, &*delta, "inWorkBufs", 8, "runtime.heapStatsDelta"},
      {&l.in_ptr_scalar_bits, true, &*delta, "inPtrScalarBits", 8, "runtime.heapStatsDelta"},
      {&l.gc_percent, false, &*gc, "gcPercent", 4, "runtime.gcControllerState"},
      {&l.memory_limit, true, &*gc, "memoryLimit", 8, "runtime.gcControllerState"},
      {&l.heap_minimum, false, &*gc, "heapMinimum", 8, "runtime.gcControllerState"},
      {&l.heap_goal, true, &*gc, "gcPercentHeapGoal", 8, "runtime.gcControllerState"},
      {&goal18, true, &*gc, "heapGoal", 8, "runtime.gcControllerState"},
      {&l.heap_live, false, &*gc, "heapLive", 8, "runtime.gcControllerState"},
      {&l.heap_marked, false, &*gc, "heapMarked", 8, "runtime.gcControllerState"},
      {&l.mapped_ready, true, &*gc, "mappedReady", 8, "runtime.gcControllerState"},
      {&l.heap_free, true, &*gc, "heapFree", 8, "runtime.gcControllerState"},
      {&l.total_alloc, true, &*gc, "totalAlloc", 8, "runtime.gcControllerState"},
      {&l.total_free, true, &*gc, "totalFree", 8, "runtime.gcControllerState"},
      {&l.runway, true, &*gc, "runway", 8, "runtime.gcControllerState"},
  };
  bool have_goal = false;
  for (const Want& w : wants) {
    auto off = find(*w.s, w.name, w.size, w.in);
    if (!off) return off.error();
    if (*off == kAbsent && !w.optional)
      return make_error("DWARF: {} has no field {}", w.in, w.name);
    // Every field is either an int32_t slot (kAbsent allowed) or a present uint32_t one.
    *static_cast<int32_t*>(w.out) = *off;
    if (w.out == &l.heap_goal) have_goal = *off != kAbsent;
  }
  // 1.18 keeps the goal itself in heapGoal; 1.19+ GOGC's goal in gcPercentHeapGoal.
  if (!have_goal) {
    if (goal18 == kAbsent)
      return make_error(
          "DWARF: runtime.gcControllerState has neither gcPercentHeapGoal nor heapGoal");
    l.heap_goal = static_cast<uint32_t>(goal18);
  }
  l.heap_stats = static_cast<uint32_t>(heap_stats + stats);
  return l;
}

Result<MemStatsLayout> resolve_memstats_layout(const binary::ElfFile& elf,
                                               const binary::GoVersion& v, std::string* source) {
  auto table = memstats_layout(v);
  if (!table) return table.error();
  if (auto dwarf = binary::DwarfTypes::open(elf.path())) {
    if (auto l = memstats_layout_from_dwarf(*dwarf, v.minor)) {
      if (source) *source = "DWARF";
      return l;
    }
  }
  const bool newest = v.minor > all_memstats_layouts().back().go_minor;
  if (source) *source = newest ? "table (newest, best effort)" : "table";
  return table;
}

}  // namespace leakhound::goruntime
