#include "goruntime/memstats.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <vector>

#include "goruntime/data_refs.h"

namespace leakhound::goruntime {
namespace {

bool in_writable_segment(const binary::ElfFile& elf, uint64_t addr) {
  for (const auto& s : elf.segments()) {
    if (s.type == PT_LOAD && (s.flags & PF_W) && !(s.flags & PF_X) && addr >= s.vaddr &&
        addr - s.vaddr < s.memsz)
      return true;
  }
  return false;
}

// Bases B such that every anchor function the pclntab has takes the address
// B + off (an AddressOf reference: LEA, ADRP+ADD), intersected over them; at
// least `min_present` anchors must be there, so no one function decides.
Result<std::set<uint64_t>> common_addresses(const binary::ElfFile& elf,
                                            const binary::Pclntab& pclntab, std::string_view global,
                                            const std::vector<const char*>& fns, uint32_t off,
                                            size_t min_present) {
  std::optional<std::set<uint64_t>> acc;
  size_t present = 0;
  for (const char* fn : fns) {
    auto fi = pclntab.func_by_name(fn);
    if (!fi) continue;
    auto refs = find_data_refs(elf, fi->entry, fi->end);
    if (!refs) return make_error("{}: {}: {}", global, fn, refs.error().message);
    present++;
    std::set<uint64_t> s;
    for (const DataRef& r : *refs) {
      if (r.kind != RefKind::AddressOf || r.target < off) continue;
      const uint64_t base = r.target - off;
      if ((!acc || acc->count(base)) && base % 8 == 0 && in_writable_segment(elf, base))
        s.insert(base);
    }
    acc = std::move(s);
  }
  if (present < min_present) {
    return make_error(
        "{}: cannot recover it: only {} of its {} anchor functions are in the pclntab", global,
        present, fns.size());
  }
  return acc.value_or(std::set<uint64_t>{});
}

Result<uint64_t> only_one(std::string_view global, const std::set<uint64_t>& c,
                          std::string_view how) {
  if (c.size() == 1) return *c.begin();
  std::string list;
  for (uint64_t a : c) list += fmt::format(" {:#x}", a);
  return make_error("{}: no unique address from {} ({} candidates:{})", global, how, c.size(),
                    c.empty() ? " none" : list);
}

int64_t opt(int32_t off) { return off; }  // kAbsent stays negative

}  // namespace

Result<MemStatsSymbols> resolve_memstats_symbols(const binary::ElfFile& elf,
                                                 const binary::Pclntab& pclntab,
                                                 const MemStatsLayout& l, bool ignore_symtab) {
  MemStatsSymbols out;
  if (!ignore_symtab && elf.has_symtab()) {
    auto ms = elf.symbol("runtime.memstats");
    auto gc = elf.symbol("runtime.gcController");
    if (ms && gc) {
      out.memstats = ms->value;
      out.gc_controller = gc->value;
      out.from_symtab = true;
      return out;
    }
  }
  // Measured with go tool objdump on every release's heapleak (1.18-1.27):
  // the heap's accounting takes &memstats.heapStats (consistentHeapStats.acquire)
  // in (*mcache).refill/allocLarge/releaseAll and (*mheap).allocSpan/
  // freeSpanLocked/grow; the GC's pacer is called as methods of &gcController
  // from the same mcache functions and from gcStart, gcinit, gcMarkDone and
  // gcBgMarkWorker (heapStats is at offset 0 from 1.19, so the mcache
  // functions take both addresses: each global has anchors the other lacks).
  auto ms = common_addresses(
      elf, pclntab, "runtime.memstats",
      {"runtime.(*mcache).refill", "runtime.(*mcache).allocLarge", "runtime.(*mcache).releaseAll",
       "runtime.(*mheap).allocSpan", "runtime.(*mheap).freeSpanLocked", "runtime.(*mheap).grow"},
      l.heap_stats, 3);
  if (!ms) return ms.error();
  // (*mheap).init hands &memstats.mspan_sys and &memstats.mcache_sys to its
  // fixallocs.
  for (uint32_t off : {l.mspan_sys, l.mcache_sys}) {
    auto init =
        common_addresses(elf, pclntab, "runtime.memstats", {"runtime.(*mheap).init"}, off, 1);
    if (!init) return init.error();
    std::erase_if(*ms, [&](uint64_t a) { return !init->count(a); });
  }
  auto ms_addr = only_one("runtime.memstats", *ms,
                          "&memstats.heapStats in the heap's accounting and &memstats.mspan_sys, "
                          "mcache_sys in (*mheap).init");
  if (!ms_addr) return ms_addr.error();
  auto gc = common_addresses(
      elf, pclntab, "runtime.gcController",
      {"runtime.(*mcache).refill", "runtime.(*mcache).allocLarge", "runtime.(*mcache).releaseAll",
       "runtime.gcStart", "runtime.gcinit", "runtime.gcMarkDone", "runtime.gcBgMarkWorker"},
      0, 4);
  if (!gc) return gc.error();
  gc->erase(*ms_addr);
  auto gc_addr = only_one("runtime.gcController", *gc,
                          "&gcController in the heap's accounting and the GC's entry points");
  if (!gc_addr) return gc_addr.error();
  out.memstats = *ms_addr;
  out.gc_controller = *gc_addr;
  return out;
}

uint64_t memory_limit_heap_goal(int go_minor, int64_t limit_i, uint64_t mapped_ready,
                                uint64_t heap_free, uint64_t heap_alloc, uint64_t heap_marked) {
  const uint64_t limit = static_cast<uint64_t>(std::max<int64_t>(limit_i, 0));
  const uint64_t used = heap_free + heap_alloc;
  const uint64_t non_heap = mapped_ready > used ? mapped_ready - used : 0;
  const uint64_t overage = mapped_ready > limit ? mapped_ready - limit : 0;
  if (non_heap + overage >= limit) return heap_marked;
  uint64_t goal = limit - (non_heap + overage);
  constexpr uint64_t kMinHeadroom = 1 << 20;
  uint64_t headroom = kMinHeadroom;
  if (go_minor >= 21) headroom = std::max(goal / 100 * 3, kMinHeadroom);
  goal = (goal < headroom || goal - headroom < headroom) ? headroom : goal - headroom;
  return std::max(goal, heap_marked);
}

Result<MemStatsSnapshot> read_memstats(const target::MemoryReader& mem, const MemStatsLayout& l,
                                       uint64_t memstats_addr, uint64_t gc_addr) {
  // Everything from the start of memstats to the end of its last field we
  // read, in 64 bits: a layout from a hostile binary's DWARF must not wrap.
  for (int64_t f : {opt(l.committed), opt(l.in_heap), opt(l.in_stacks), opt(l.in_work_bufs),
                    opt(l.in_ptr_scalar_bits)}) {
    if (f + 8 > static_cast<int64_t>(l.delta_size))
      return make_error("runtime.heapStatsDelta layout out of range");
  }
  const uint64_t ms_end64 = std::max<uint64_t>(
      {uint64_t{l.heap_stats} + 3 * uint64_t{l.delta_size}, uint64_t{l.stacks_sys} + 8,
       uint64_t{l.mspan_sys} + 8, uint64_t{l.mcache_sys} + 8, uint64_t{l.buckhash_sys} + 8,
       uint64_t{l.gc_misc_sys} + 8, uint64_t{l.other_sys} + 8, uint64_t{l.numgc} + 4,
       uint64_t{l.gc_cpu_fraction} + 8});
  uint64_t gc_end = 0;
  for (int64_t off : {opt(l.gc_percent), opt(l.memory_limit), opt(l.heap_minimum), opt(l.heap_goal),
                      opt(l.heap_live), opt(l.heap_marked), opt(l.mapped_ready), opt(l.heap_free),
                      opt(l.total_alloc), opt(l.total_free), opt(l.runway)})
    if (off >= 0) gc_end = std::max(gc_end, static_cast<uint64_t>(off) + 8);
  if (ms_end64 > (1u << 16) || gc_end > (1u << 12))
    return make_error("runtime.memstats layout out of range ({} / {} bytes)", ms_end64, gc_end);
  const size_t ms_end = static_cast<size_t>(ms_end64);
  std::vector<uint8_t> ms(ms_end), gc(gc_end);
  if (auto r = mem.read(memstats_addr, ms.data(), ms.size()); !r)
    return make_error("runtime.memstats: {}", r.error().message);
  if (auto r = mem.read(gc_addr, gc.data(), gc.size()); !r)
    return make_error("runtime.gcController: {}", r.error().message);
  auto get = [](const std::vector<uint8_t>& b, uint32_t off, auto zero) {
    decltype(zero) v{};
    std::memcpy(&v, b.data() + off, sizeof v);
    return v;
  };
  auto u64 = [&](const std::vector<uint8_t>& b, int64_t off) {
    return off < 0 ? uint64_t{0} : get(b, static_cast<uint32_t>(off), uint64_t{});
  };
  // consistentHeapStats.unsafeRead: the sum of the three deltas. Summed
  // modulo 2^64 (the target's memory may hold anything: a signed overflow
  // would be undefined behaviour here); nonneg() below clamps what is left.
  auto delta_sum = [&](int64_t field) {
    if (field < 0) return int64_t{0};
    uint64_t s = 0;
    for (uint32_t i = 0; i < 3; i++)
      s += get(ms, l.heap_stats + i * l.delta_size + static_cast<uint32_t>(field), uint64_t{});
    return static_cast<int64_t>(s);
  };
  auto nonneg = [](int64_t v) { return static_cast<uint64_t>(std::max<int64_t>(v, 0)); };
  const int64_t committed = delta_sum(l.committed), in_heap = delta_sum(l.in_heap),
                in_stacks = delta_sum(l.in_stacks), in_work = delta_sum(l.in_work_bufs),
                in_bits = delta_sum(l.in_ptr_scalar_bits);
  MemStatsSnapshot s;
  s.heap_inuse = nonneg(in_heap);
  s.stack_inuse = nonneg(in_stacks);
  // metrics.go: /memory/classes/heap/free = committed - inHeap - inStacks - inWorkBufs -
  // inPtrScalarBits.
  s.heap_free = nonneg(
      static_cast<int64_t>(static_cast<uint64_t>(committed) - static_cast<uint64_t>(in_heap) -
                           static_cast<uint64_t>(in_stacks) - static_cast<uint64_t>(in_work) -
                           static_cast<uint64_t>(in_bits)));
  // ReadMemStats: GCSys = gcMiscSys + inWorkBufs + inPtrScalarBits.
  s.metadata = u64(ms, l.mspan_sys) + u64(ms, l.mcache_sys) + u64(ms, l.buckhash_sys) +
               u64(ms, l.gc_misc_sys) + u64(ms, l.other_sys) + nonneg(in_work) + nonneg(in_bits);
  s.numgc = get(ms, l.numgc, uint32_t{});
  s.gc_cpu_fraction = get(ms, l.gc_cpu_fraction, double{});
  s.gc_percent = get(gc, l.gc_percent, int32_t{});
  s.heap_live = u64(gc, l.heap_live);
  s.heap_marked = u64(gc, l.heap_marked);
  s.gogc_goal = u64(gc, l.heap_goal);
  s.heap_goal = s.gogc_goal;
  if (l.mapped_ready >= 0) {
    s.mapped_ready = u64(gc, l.mapped_ready);
    s.heap_alloc = u64(gc, l.total_alloc) - u64(gc, l.total_free);
  }
  s.runway = u64(gc, l.runway);
  if (l.memory_limit >= 0) {
    s.memory_limit = get(gc, static_cast<uint32_t>(l.memory_limit), int64_t{});
    if (*s.memory_limit < std::numeric_limits<int64_t>::max() && l.mapped_ready >= 0) {
      const uint64_t lim =
          memory_limit_heap_goal(l.go_minor, *s.memory_limit, s.mapped_ready, u64(gc, l.heap_free),
                                 s.heap_alloc, s.heap_marked);
      // heapGoalInternal: the lower of the two; GOGC=off leaves only the limit's.
      if (lim < s.heap_goal || s.gc_percent < 0) s.heap_goal = lim;
    }
  }
  // A read that raced a rotation of the deltas, or the wrong address: say so.
  if (s.heap_inuse > (uint64_t{1} << 48) || s.heap_marked > (uint64_t{1} << 48) ||
      s.gc_percent < -1 || !(s.gc_cpu_fraction >= 0 && s.gc_cpu_fraction <= 1))
    return make_error("runtime.memstats: implausible values (heap in use {}, GOGC {})",
                      s.heap_inuse, s.gc_percent);
  return s;
}

}  // namespace leakhound::goruntime
