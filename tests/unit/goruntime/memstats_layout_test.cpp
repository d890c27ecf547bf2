// Where runtime.memstats and runtime.gcController are and how they are laid
// out, on the heapleak targets of every Go toolchain 1.18-1.27: the binary's
// own DWARF gives exactly the generated table's layout; the addresses
// recovered from the code are .symtab's; stripped builds resolve too. And the
// reader over fake memory: the three heap-stat deltas summed, GOMEMLIMIT's goal.
#include "goruntime/memstats_layout.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>

#include "binary/pclntab.h"
#include "goruntime/memstats.h"
#include "goruntime/profile_layout.h"
#include "target/memory.h"

namespace leakhound::goruntime {
namespace {

std::string targets_dir() {
  if (const char* d = std::getenv("LEAKHOUND_TARGETS_DIR"); d && *d) return d;
  return LEAKHOUND_SOURCE_DIR "/build/targets";
}

binary::GoVersion version(int minor) {
  binary::GoVersion v;
  v.raw = fmt::format("go1.{}.1", minor);
  v.major = 1;
  v.minor = minor;
  v.patch = 1;
  return v;
}

void expect_same(const MemStatsLayout& a, const MemStatsLayout& b) {
  EXPECT_EQ(a.heap_stats, b.heap_stats);
  EXPECT_EQ(a.stacks_sys, b.stacks_sys);
  EXPECT_EQ(a.mspan_sys, b.mspan_sys);
  EXPECT_EQ(a.mcache_sys, b.mcache_sys);
  EXPECT_EQ(a.buckhash_sys, b.buckhash_sys);
  EXPECT_EQ(a.gc_misc_sys, b.gc_misc_sys);
  EXPECT_EQ(a.other_sys, b.other_sys);
  EXPECT_EQ(a.numgc, b.numgc);
  EXPECT_EQ(a.gc_cpu_fraction, b.gc_cpu_fraction);
  EXPECT_EQ(a.delta_size, b.delta_size);
  EXPECT_EQ(a.committed, b.committed);
  EXPECT_EQ(a.in_heap, b.in_heap);
  EXPECT_EQ(a.in_stacks, b.in_stacks);
  EXPECT_EQ(a.in_work_bufs, b.in_work_bufs);
  EXPECT_EQ(a.in_ptr_scalar_bits, b.in_ptr_scalar_bits);
  EXPECT_EQ(a.gc_percent, b.gc_percent);
  EXPECT_EQ(a.memory_limit, b.memory_limit);
  EXPECT_EQ(a.heap_minimum, b.heap_minimum);
  EXPECT_EQ(a.heap_goal, b.heap_goal);
  EXPECT_EQ(a.heap_live, b.heap_live);
  EXPECT_EQ(a.heap_marked, b.heap_marked);
  EXPECT_EQ(a.mapped_ready, b.mapped_ready);
  EXPECT_EQ(a.heap_free, b.heap_free);
  EXPECT_EQ(a.total_alloc, b.total_alloc);
  EXPECT_EQ(a.total_free, b.total_free);
  EXPECT_EQ(a.runway, b.runway);
}

TEST(MemStatsLayout, TableCoversEveryRelease) {
  EXPECT_FALSE(memstats_layout(version(17)));
  for (int minor = kMinGoMinor; minor <= kMaxGoMinor; minor++) {
    auto l = memstats_layout(version(minor));
    ASSERT_TRUE(l) << l.error().message;
    EXPECT_EQ(l->go_minor, minor);
    // What exists when (mstats.go, mgcpacer.go at each release tag).
    EXPECT_EQ(l->memory_limit == kAbsent, minor < 19) << minor;  // GOMEMLIMIT: 1.19
    EXPECT_EQ(l->mapped_ready == kAbsent, minor < 19) << minor;
    EXPECT_EQ(l->in_ptr_scalar_bits == kAbsent, minor >= 25) << minor;
  }
  auto newer = memstats_layout(version(kMaxGoMinor + 3));
  ASSERT_TRUE(newer);
  EXPECT_EQ(newer->go_minor, kMaxGoMinor);
}

struct Bin {
  binary::ElfFile elf;
  binary::Pclntab pclntab;
};

std::optional<Bin> load(int minor, const char* variant) {
  const std::string p = fmt::format("{}/heapleak-go1.{}-{}", targets_dir(), minor, variant);
  if (!std::filesystem::exists(p)) {
    ADD_FAILURE() << p << " is missing: run scripts/build-targets.sh";
    return std::nullopt;
  }
  auto elf = binary::ElfFile::open(p);
  if (!elf) {
    ADD_FAILURE() << p << ": " << elf.error().message;
    return std::nullopt;
  }
  auto pcln = binary::Pclntab::load(*elf);
  if (!pcln) {
    ADD_FAILURE() << p << ": " << pcln.error().message;
    return std::nullopt;
  }
  return Bin{std::move(*elf), std::move(*pcln)};
}

TEST(MemStatsLayout, DwarfMatchesTheTableAndTheCodeMatchesSymtab) {
  for (int minor = kMinGoMinor; minor <= kMaxGoMinor; minor++) {
    for (const char* variant : {"default", "pie", "cgo", "arm64"}) {
      SCOPED_TRACE(fmt::format("go1.{}-{}", minor, variant));
      auto b = load(minor, variant);
      if (!b) continue;
      auto dwarf = binary::DwarfTypes::open(b->elf.path());
      ASSERT_TRUE(dwarf) << dwarf.error().message;
      auto from_dwarf = memstats_layout_from_dwarf(*dwarf, minor);
      ASSERT_TRUE(from_dwarf) << from_dwarf.error().message;
      expect_same(*from_dwarf, *memstats_layout(version(minor)));
      auto sym = resolve_memstats_symbols(b->elf, b->pclntab, *from_dwarf);
      ASSERT_TRUE(sym) << sym.error().message;
      EXPECT_TRUE(sym->from_symtab);
      auto code = resolve_memstats_symbols(b->elf, b->pclntab, *from_dwarf, true);
      EXPECT_TRUE(code) << code.error().message;
      if (!code) continue;
      EXPECT_FALSE(code->from_symtab);
      EXPECT_EQ(code->memstats, sym->memstats) << "memstats";
      EXPECT_EQ(code->gc_controller, sym->gc_controller) << "gcController";
    }
  }
}

TEST(MemStatsLayout, StrippedBuildsUseTheTableAndTheCode) {
  for (int minor = kMinGoMinor; minor <= kMaxGoMinor; minor++) {
    for (const char* variant : {"strip", "arm64-strip"}) {
      SCOPED_TRACE(fmt::format("go1.{}-{}", minor, variant));
      auto b = load(minor, variant);
      if (!b) continue;
      std::string source;
      auto l = resolve_memstats_layout(b->elf, version(minor), &source);
      ASSERT_TRUE(l) << l.error().message;
      EXPECT_EQ(source, "table");
      auto code = resolve_memstats_symbols(b->elf, b->pclntab, *l);
      EXPECT_TRUE(code) << code.error().message;
      if (!code) continue;
      EXPECT_FALSE(code->from_symtab);
      EXPECT_NE(code->memstats, code->gc_controller);
    }
  }
}

// A fake target: memstats and gcController of Go 1.21 at two addresses.
struct FakeRuntime {
  MemStatsLayout l = *memstats_layout(version(21));
  std::vector<uint8_t> ms = std::vector<uint8_t>(l.heap_stats + 3 * l.delta_size + 8192);
  std::vector<uint8_t> gc = std::vector<uint8_t>(1024);
  template <typename T>
  static void put(std::vector<uint8_t>& b, int64_t off, T v) {
    std::memcpy(b.data() + off, &v, sizeof v);
  }
  void delta(int i, uint32_t field, int64_t v) {
    put(ms, l.heap_stats + i * l.delta_size + field, v);
  }
  target::FakeMemory mem() const {
    target::FakeMemory m;
    m.map(0x10000, ms);
    m.map(0x80000, gc);
    return m;
  }
};

TEST(MemStats, SumsTheThreeDeltasAndReadsTheController) {
  FakeRuntime f;
  // The runtime's rotation leaves the value spread over the three deltas.
  f.delta(0, f.l.in_heap, 60 << 20);
  f.delta(1, f.l.in_heap, 4 << 20);
  f.delta(2, f.l.in_heap, -(2 << 20));
  f.delta(0, f.l.in_stacks, 1 << 20);
  f.delta(1, f.l.in_stacks, 1 << 20);
  f.delta(0, f.l.in_work_bufs, 512 << 10);
  f.delta(0, f.l.in_ptr_scalar_bits, 0);
  f.delta(0, f.l.committed, 80 << 20);
  FakeRuntime::put(f.ms, f.l.mspan_sys, uint64_t{1} << 20);
  FakeRuntime::put(f.ms, f.l.other_sys, uint64_t{2} << 20);
  FakeRuntime::put(f.ms, f.l.numgc, uint32_t{42});
  FakeRuntime::put(f.ms, f.l.gc_cpu_fraction, 0.25);
  FakeRuntime::put(f.gc, f.l.gc_percent, int32_t{100});
  FakeRuntime::put(f.gc, f.l.memory_limit, std::numeric_limits<int64_t>::max());
  FakeRuntime::put(f.gc, f.l.heap_goal, uint64_t{60} << 20);
  FakeRuntime::put(f.gc, f.l.heap_live, uint64_t{45} << 20);
  FakeRuntime::put(f.gc, f.l.heap_marked, uint64_t{30} << 20);
  auto mem = f.mem();
  auto s = read_memstats(mem, f.l, 0x10000, 0x80000);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->heap_inuse, uint64_t{62} << 20);
  EXPECT_EQ(s->stack_inuse, uint64_t{2} << 20);
  // committed - inHeap - inStacks - inWorkBufs (metrics.go's heap/free).
  EXPECT_EQ(s->heap_free, (uint64_t{80} << 20) - (62 << 20) - (2 << 20) - (512 << 10));
  EXPECT_EQ(s->metadata, (uint64_t{3} << 20) + (512 << 10));
  EXPECT_EQ(s->numgc, 42u);
  EXPECT_DOUBLE_EQ(s->gc_cpu_fraction, 0.25);
  EXPECT_EQ(s->gc_percent, 100);
  EXPECT_EQ(s->heap_goal, uint64_t{60} << 20);  // no limit: GOGC's goal
  EXPECT_EQ(s->heap_marked, uint64_t{30} << 20);
}

TEST(MemStats, TheMemoryLimitLowersTheGoal) {
  FakeRuntime f;
  FakeRuntime::put(f.gc, f.l.gc_percent, int32_t{100});
  FakeRuntime::put(f.gc, f.l.memory_limit, int64_t{100} << 20);
  FakeRuntime::put(f.gc, f.l.heap_goal, uint64_t{120} << 20);  // GOGC would allow 120 MiB
  FakeRuntime::put(f.gc, f.l.heap_marked, uint64_t{60} << 20);
  FakeRuntime::put(f.gc, f.l.mapped_ready, uint64_t{90} << 20);
  FakeRuntime::put(f.gc, f.l.heap_free, uint64_t{10} << 20);
  FakeRuntime::put(f.gc, f.l.total_alloc, uint64_t{1000} << 20);
  FakeRuntime::put(f.gc, f.l.total_free, uint64_t{930} << 20);  // 70 MiB in objects
  FakeRuntime::put(f.gc, f.l.runway, uint64_t{3} << 20);
  auto mem = f.mem();
  auto s = read_memstats(mem, f.l, 0x10000, 0x80000);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->runway, uint64_t{3} << 20);
  // non-heap = 90 - 10 - 70 = 10 MiB; goal = 100 - 10 = 90 MiB, less 3% (2.7 MiB).
  const uint64_t goal = (uint64_t{90} << 20) - (uint64_t{90} << 20) / 100 * 3;
  EXPECT_EQ(s->heap_goal, goal);
  EXPECT_EQ(s->gogc_goal, uint64_t{120} << 20);
  EXPECT_EQ(*s->memory_limit, int64_t{100} << 20);
  // 1.19-1.20: a fixed 1 MiB headroom.
  EXPECT_EQ(memory_limit_heap_goal(20, int64_t{100} << 20, 90 << 20, 10 << 20, 70 << 20, 0),
            (uint64_t{89} << 20));
  // Nothing left for the heap: the goal is the live heap.
  EXPECT_EQ(memory_limit_heap_goal(21, int64_t{10} << 20, 90 << 20, 10 << 20, 70 << 20, 5 << 20),
            uint64_t{5} << 20);
}

TEST(MemStats, ImplausibleReadsAreErrors) {
  FakeRuntime f;
  FakeRuntime::put(f.gc, f.l.gc_percent, int32_t{-7});
  auto mem = f.mem();
  EXPECT_FALSE(read_memstats(mem, f.l, 0x10000, 0x80000));
  EXPECT_FALSE(read_memstats(mem, f.l, 0x20000000, 0x80000));  // unmapped
}

}  // namespace
}  // namespace leakhound::goruntime
