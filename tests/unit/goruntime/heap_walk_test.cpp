// The retention walk's pieces: the heap layout from every release's DWARF
// equals the generated table; runtime.mheap_ recovered from the code equals
// .symtab's and resolves on stripped builds; and the walk itself over a fake
// heap (spans, a profile special, heap bits, an allocation header, a global
// with its pointer mask) finds the one path there is, names it, confirms it.
#include "goruntime/heap_walk.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "binary/pclntab.h"
#include "fake_heap.h"
#include "goruntime/heap_layout.h"
#include "goruntime/heap_spans.h"
#include "goruntime/runtime_symbols.h"
#include "target/memory.h"
#include "util/clock.h"

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

#define SAME(f) EXPECT_EQ(a.f, b.f) << #f
void expect_same(const HeapLayout& a, const HeapLayout& b) {
  SAME(mheap_allspans);
  SAME(mheap_arenas);
  SAME(span_start);
  SAME(span_npages);
  SAME(span_nelems);
  SAME(span_nelems_size);
  SAME(span_spanclass);
  SAME(span_state);
  SAME(span_elemsize);
  SAME(span_specials);
  SAME(span_large_type);
  SAME(special_next);
  SAME(special_offset);
  SAME(special_offset_size);
  SAME(special_kind);
  SAME(specialprofile_bucket);
  SAME(type_size);
  SAME(type_ptrbytes);
  SAME(type_tflag);
  SAME(type_kind);
  SAME(type_gcdata);
  SAME(type_str);
  SAME(md_data);
  SAME(md_edata);
  SAME(md_bss);
  SAME(md_ebss);
  SAME(md_types);
  SAME(md_etypes);
  SAME(md_gcdatamask);
  SAME(md_gcbssmask);
  SAME(inline_mark_bits);
}
#undef SAME

TEST(HeapLayout, DwarfMatchesTheTableAndTheCodeFindsMheap) {
  for (int minor = 22; minor <= 27; minor++) {
    for (const char* variant : {"default", "pie", "cgo"}) {
      SCOPED_TRACE(fmt::format("go1.{}-{}", minor, variant));
      auto b = load(minor, variant);
      if (!b) continue;
      auto dwarf = binary::DwarfTypes::open(b->elf.path());
      ASSERT_TRUE(dwarf) << dwarf.error().message;
      auto from_dwarf = heap_layout_from_dwarf(*dwarf, minor);
      ASSERT_TRUE(from_dwarf) << from_dwarf.error().message;
      expect_same(*from_dwarf, *heap_layout(version(minor)));
      const auto arenas = static_cast<uint32_t>(from_dwarf->mheap_arenas);
      auto sym = resolve_mheap(b->elf, b->pclntab, arenas);
      ASSERT_TRUE(sym) << sym.error().message;
      EXPECT_EQ(*sym, b->elf.symbol("runtime.mheap_")->value);
      ResolveOptions code_only;
      code_only.ignore_symtab = true;
      auto code = resolve_mheap(b->elf, b->pclntab, arenas, code_only);
      ASSERT_TRUE(code) << code.error().message;
      EXPECT_EQ(*code, *sym);
    }
  }
}

TEST(HeapLayout, StrippedBuildsUseTheTableAndTheCode) {
  for (int minor = 22; minor <= 27; minor++) {
    SCOPED_TRACE(fmt::format("go1.{}-strip", minor));
    auto b = load(minor, "strip");
    if (!b) continue;
    std::string source;
    auto l = resolve_heap_layout(b->elf, version(minor), &source);
    ASSERT_TRUE(l) << l.error().message;
    EXPECT_EQ(source, "table");
    auto code = resolve_mheap(b->elf, b->pclntab, static_cast<uint32_t>(l->mheap_arenas));
    EXPECT_TRUE(code) << code.error().message;
  }
}

using testing::FakeHeap;

TEST(HeapWalk, FindsNamesAndConfirmsThePathOnAFakeHeap) {
  for (int minor : {22, 27}) {
    SCOPED_TRACE(minor);
    auto l = heap_layout(version(minor));
    ASSERT_TRUE(l);
    FakeHeap h(*l);
    auto spans = HeapSpans::read(h.mem, *l, FakeHeap::kMheap);
    ASSERT_TRUE(spans) << spans.error().message;
    ASSERT_EQ(spans->spans().size(), 2u);
    auto sampled = spans->sampled_objects(h.mem, *l);
    ASSERT_TRUE(sampled) << sampled.error().message;
    ASSERT_EQ(sampled->size(), 1u);
    EXPECT_EQ(sampled->at(FakeHeap::kObjB), FakeHeap::kBucket);
    auto roots = read_walk_roots(h.mem, *l, FakeHeap::kModuledata);
    ASSERT_TRUE(roots) << roots.error().message;
    HeapWalker w(h.mem, *l, *spans, *roots, {});
    auto res = w.walk({FakeHeap::kObjB});
    EXPECT_TRUE(res.complete);
    ASSERT_EQ(res.paths.size(), 1u);
    const RetentionPath& p = res.paths.at(FakeHeap::kObjB);
    ASSERT_EQ(p.steps.size(), 2u);
    EXPECT_EQ(p.steps[0].slot, FakeHeap::kData);
    EXPECT_EQ(p.steps[0].addr, FakeHeap::kHeapA);
    EXPECT_EQ(p.steps[0].type, "");
    EXPECT_EQ(p.steps[1].slot, FakeHeap::kHeapA + 8);
    EXPECT_EQ(p.steps[1].addr, FakeHeap::kObjB);
    EXPECT_EQ(p.steps[1].type, "main.Session");
    EXPECT_TRUE(p.confirmed);
  }
}

TEST(HeapWalk, AnUnreachableObjectHasNoPathAndTheBudgetStops) {
  auto l = heap_layout(version(27));
  ASSERT_TRUE(l);
  FakeHeap h(*l, 0b00);  // the global is not a pointer
  auto spans = HeapSpans::read(h.mem, *l, FakeHeap::kMheap);
  ASSERT_TRUE(spans);
  auto roots = read_walk_roots(h.mem, *l, FakeHeap::kModuledata);
  ASSERT_TRUE(roots);
  auto res = HeapWalker(h.mem, *l, *spans, *roots, {}).walk({FakeHeap::kObjB});
  EXPECT_TRUE(res.paths.empty());
  EXPECT_TRUE(res.complete);  // nothing reachable: the heap was exhausted
  WalkBudget tiny;
  tiny.max_bytes = 1;
  FakeHeap h2(*l);
  auto spans2 = HeapSpans::read(h2.mem, *l, FakeHeap::kMheap);
  auto roots2 = read_walk_roots(h2.mem, *l, FakeHeap::kModuledata);
  ASSERT_TRUE(spans2 && roots2);
  auto res2 = HeapWalker(h2.mem, *l, *spans2, *roots2, tiny).walk({FakeHeap::kObjB});
  EXPECT_FALSE(res2.complete);
  EXPECT_EQ(res2.stopped, "byte budget");
}

// A goroutine stack is a root, scanned conservatively: with the global not
// a pointer, the object is reached from the stack word that points into A0
// (interior), and no other word of the stack (small integers, a pointer past
// the span's objects) makes an edge. Globals come first: with the global a
// pointer again, the path starts there (and the stack is not even read).
TEST(HeapWalk, AGoroutineStackIsAConservativeRoot) {
  auto l = heap_layout(version(27));
  ASSERT_TRUE(l);
  for (uint8_t mask : {0b00, 0b01}) {
    SCOPED_TRACE(mask);
    FakeHeap h(*l, mask);
    constexpr uint64_t kStack = 0xc000100000;
    std::vector<uint8_t> stack(64);
    const uint64_t words[8] = {7, 0, FakeHeap::kHeapA + 8100, 1, FakeHeap::kHeapA + 9, 0, 3, 0};
    std::memcpy(stack.data(), words, sizeof words);
    h.mem.map(kStack, stack);
    auto spans = HeapSpans::read(h.mem, *l, FakeHeap::kMheap);
    auto roots = read_walk_roots(h.mem, *l, FakeHeap::kModuledata);
    ASSERT_TRUE(spans && roots);
    roots->stacks.push_back({kStack + 8, kStack + 64});  // from the saved SP
    auto res = HeapWalker(h.mem, *l, *spans, *roots, {}).walk({FakeHeap::kObjB});
    // Stacks are roots only once what the globals reach is walked.
    EXPECT_EQ(res.stack_bytes, mask ? 0u : 56u);
    ASSERT_EQ(res.paths.size(), 1u);
    const RetentionPath& p = res.paths.at(FakeHeap::kObjB);
    ASSERT_EQ(p.steps.size(), 2u);
    EXPECT_EQ(p.steps[0].slot, mask ? FakeHeap::kData : kStack + 32);
    EXPECT_EQ(p.steps[0].addr, FakeHeap::kHeapA);
    EXPECT_TRUE(p.confirmed);
    // Reached: A0 and B1 only (the word past span A's objects is no edge).
    EXPECT_EQ(res.objects, 2u);
  }
}

// A finalizer is a root as markrootSpans makes it: its fn word, and what
// the finalized object (A0) points to (B1), but not the object itself.
TEST(HeapWalk, AFinalizerIsARootButNotItsObject) {
  for (int minor : {22, 27}) {
    SCOPED_TRACE(minor);
    auto l = heap_layout(version(minor));
    ASSERT_TRUE(l);
    constexpr uint64_t kFin = 0x61000, kA3 = FakeHeap::kHeapA + 48;
    FakeHeap h(*l, 0b00, kFin);
    h.finalizer_on_a0(kFin, kA3);  // its closure: A3
    auto spans = HeapSpans::read(h.mem, *l, FakeHeap::kMheap);
    ASSERT_TRUE(spans);
    std::vector<SpecialRoot> specials;
    auto sampled = spans->sampled_objects(h.mem, *l, {}, &specials);
    ASSERT_TRUE(sampled);
    EXPECT_EQ(sampled->size(), 1u);
    ASSERT_EQ(specials.size(), 1u);
    EXPECT_EQ(specials[0].kind, SpecialRoot::Kind::Finalizer);
    EXPECT_EQ(specials[0].object, FakeHeap::kHeapA);
    const uint64_t fn_slot = kFin + static_cast<uint64_t>(l->specialprofile_bucket);
    ASSERT_EQ(specials[0].words.size(), 1u);
    EXPECT_EQ(specials[0].words[0], (std::pair<uint64_t, uint64_t>{fn_slot, kA3}));
    auto roots = read_walk_roots(h.mem, *l, FakeHeap::kModuledata);
    ASSERT_TRUE(roots);
    roots->specials = specials;
    auto res = HeapWalker(h.mem, *l, *spans, *roots, {}).walk({FakeHeap::kObjB, kA3});
    EXPECT_EQ(res.objects, 2u);  // A3 and B1, not A0
    ASSERT_EQ(res.paths.size(), 2u);
    const RetentionPath& b = res.paths.at(FakeHeap::kObjB);
    ASSERT_EQ(b.steps.size(), 1u);
    EXPECT_EQ(b.steps[0].slot, FakeHeap::kHeapA + 8);  // A0's word: the root
    EXPECT_TRUE(b.confirmed);
    const RetentionPath& a3 = res.paths.at(kA3);
    ASSERT_EQ(a3.steps.size(), 1u);
    EXPECT_EQ(a3.steps[0].slot, fn_slot);
    EXPECT_TRUE(a3.confirmed);
  }
}

// The program runs on during the walk. A memory whose global moves to
// another object once the walk has read it: to A1 that holds B1 too (a
// slice's grown array), the re-read follows it and the path is confirmed as
// it stands now (through A1); to A2 that does not, the path is unconfirmed.
class MovingMemory : public target::MemoryReader {
 public:
  MovingMemory(const target::MemoryReader& base, uint64_t slot, uint64_t moved)
      : base_(base), slot_(slot), moved_(moved) {}
  Result<void> read(uint64_t addr, void* dst, size_t len) const override {
    // The walk reads the data section whole; the re-read, word by word.
    if (addr == slot_ && len == 8) {
      std::memcpy(dst, &moved_, 8);
      return {};
    }
    return base_.read(addr, dst, len);
  }

 private:
  const target::MemoryReader& base_;
  uint64_t slot_, moved_;
};

TEST(HeapWalk, TheReReadFollowsAMovedSlotOrSaysUnconfirmed) {
  auto l = heap_layout(version(27));
  ASSERT_TRUE(l);
  // A1's word 1 (span word 3) points into B1 as A0's does.
  constexpr uint64_t kA1 = FakeHeap::kHeapA + 16, kA2 = FakeHeap::kHeapA + 32;
  FakeHeap h(*l, 0b01, 0, {{3, FakeHeap::kObjB + 16}});
  for (uint64_t moved : {kA1, kA2}) {
    SCOPED_TRACE(moved);
    MovingMemory mem(h.mem, FakeHeap::kData, moved);
    auto spans = HeapSpans::read(mem, *l, FakeHeap::kMheap);
    auto roots = read_walk_roots(mem, *l, FakeHeap::kModuledata);
    ASSERT_TRUE(spans && roots);
    auto res = HeapWalker(mem, *l, *spans, *roots, {}).walk({FakeHeap::kObjB});
    const RetentionPath& p = res.paths.at(FakeHeap::kObjB);
    ASSERT_EQ(p.steps.size(), 2u);
    EXPECT_EQ(p.confirmed, moved == kA1);
    EXPECT_EQ(res.followed, moved == kA1 ? 1u : 0u);
    if (moved == kA1) {
      EXPECT_EQ(p.steps[0].addr, kA1);
      EXPECT_EQ(p.steps[1].slot, kA1 + 8);
    }
  }
}

// A slice grown after the walk read it: the global now points at an object
// in a span that was free when the walk read the span list (here span C,
// after A and B). The re-read reads the list afresh (WalkRoots::mheap) and
// follows the slot into it; without mheap it cannot, and says unconfirmed.
class GrownMemory : public target::MemoryReader {
 public:
  GrownMemory(const target::MemoryReader& base, uint64_t allspans_hdr, uint64_t allspans2,
              uint64_t slot, uint64_t moved)
      : base_(base), hdr_(allspans_hdr), all2_(allspans2), slot_(slot), moved_(moved) {}
  Result<void> read(uint64_t addr, void* dst, size_t len) const override {
    if (addr == hdr_ && len == 16 && hdr_reads_++ > 0) {
      const uint64_t hdr[2] = {all2_, 3};  // the list read afresh has span C too
      std::memcpy(dst, hdr, 16);
      return {};
    }
    if (addr == slot_ && len == 8) {  // the re-read, word by word
      std::memcpy(dst, &moved_, 8);
      return {};
    }
    return base_.read(addr, dst, len);
  }

 private:
  const target::MemoryReader& base_;
  uint64_t hdr_, all2_, slot_, moved_;
  mutable int hdr_reads_ = 0;
};

TEST(HeapWalk, TheReReadFollowsASlotIntoASpanAllocatedSinceTheWalk) {
  auto l = heap_layout(version(27));
  ASSERT_TRUE(l);
  constexpr uint64_t kSpanC = 0x50400, kHeapC = 0xc000004000, kAllspans2 = 0x41000;
  for (bool with_mheap : {true, false}) {
    SCOPED_TRACE(with_mheap);
    FakeHeap h(*l);
    // Span C: a copy of span A's mspan at heap C, whose object 0's word 1
    // points into B1 as A0's does.
    std::vector<uint8_t> span(static_cast<size_t>(l->span_large_type + 8));
    ASSERT_TRUE(h.mem.read(FakeHeap::kSpanA, span.data(), span.size()));
    std::memcpy(&span[static_cast<size_t>(l->span_start)], &kHeapC, 8);
    h.mem.map(kSpanC, span);
    std::vector<uint8_t> c(8192);
    const uint64_t to_b = FakeHeap::kObjB + 8;
    std::memcpy(&c[8], &to_b, 8);
    c[8192 - 128 - (l->inline_mark_bits ? l->inline_mark_bits : 0)] = 0b10;
    h.mem.map(kHeapC, c);
    std::vector<uint8_t> all(24);
    const uint64_t list[3] = {FakeHeap::kSpanA, FakeHeap::kSpanB, kSpanC};
    std::memcpy(all.data(), list, 24);
    h.mem.map(kAllspans2, all);
    GrownMemory mem(h.mem, FakeHeap::kMheap + static_cast<uint64_t>(l->mheap_allspans), kAllspans2,
                    FakeHeap::kData, kHeapC + 4);
    auto spans = HeapSpans::read(mem, *l, FakeHeap::kMheap);
    auto roots = read_walk_roots(mem, *l, FakeHeap::kModuledata);
    ASSERT_TRUE(spans && roots);
    ASSERT_EQ(spans->spans().size(), 2u);
    if (with_mheap) roots->mheap = FakeHeap::kMheap;
    auto res = HeapWalker(mem, *l, *spans, *roots, {}).walk({FakeHeap::kObjB});
    const RetentionPath& p = res.paths.at(FakeHeap::kObjB);
    ASSERT_EQ(p.steps.size(), 2u);
    EXPECT_EQ(p.confirmed, with_mheap);
    if (with_mheap) {
      EXPECT_EQ(res.followed, 1u);
      EXPECT_EQ(p.steps[0].addr, kHeapC);
      EXPECT_EQ(p.steps[1].slot, kHeapC + 8);
    }
  }
}

// A map growing while the walk reads it: its entry has left the old bucket
// that the walk read and is in a new one the walk had not reached. Here the
// global reads as A2 (holding nothing) the first time the data section is
// read, as A0 (holding B1) after: the first walk exhausts the heap without
// B1, the second reaches it, and the path is the one that stands now.
class FlippingMemory : public target::MemoryReader {
 public:
  FlippingMemory(const target::MemoryReader& base, uint64_t data, uint64_t first)
      : base_(base), data_(data), first_(first) {}
  Result<void> read(uint64_t addr, void* dst, size_t len) const override {
    if (auto r = base_.read(addr, dst, len); !r) return r;
    if (addr == data_ && len == 16 && reads_++ == 0) std::memcpy(dst, &first_, 8);
    return {};
  }

 private:
  const target::MemoryReader& base_;
  uint64_t data_, first_;
  mutable int reads_ = 0;
};

TEST(HeapWalk, ASecondWalkReachesWhatTheFirstMissedAsThePointersMoved) {
  auto l = heap_layout(version(27));
  ASSERT_TRUE(l);
  FakeHeap h(*l);
  FlippingMemory mem(h.mem, FakeHeap::kData, FakeHeap::kHeapA + 32);
  auto spans = HeapSpans::read(mem, *l, FakeHeap::kMheap);
  auto roots = read_walk_roots(mem, *l, FakeHeap::kModuledata);
  ASSERT_TRUE(spans && roots);
  auto res = HeapWalker(mem, *l, *spans, *roots, {}).walk({FakeHeap::kObjB});
  EXPECT_TRUE(res.complete);
  EXPECT_EQ(res.second_pass, 1u);
  EXPECT_EQ(res.objects, 1u);  // the first walk's: A2 alone
  ASSERT_EQ(res.paths.size(), 1u);
  const RetentionPath& p = res.paths.at(FakeHeap::kObjB);
  ASSERT_EQ(p.steps.size(), 2u);
  EXPECT_EQ(p.steps[0].addr, FakeHeap::kHeapA);
  EXPECT_TRUE(p.confirmed);
  // Nothing moved: the object is simply unreachable, and a second walk
  // (run, as the first ended without it) finds nothing either.
  FakeHeap h2(*l, 0b00);
  auto spans2 = HeapSpans::read(h2.mem, *l, FakeHeap::kMheap);
  auto roots2 = read_walk_roots(h2.mem, *l, FakeHeap::kModuledata);
  ASSERT_TRUE(spans2 && roots2);
  auto res2 = HeapWalker(h2.mem, *l, *spans2, *roots2, {}).walk({FakeHeap::kObjB});
  EXPECT_TRUE(res2.paths.empty());
  EXPECT_EQ(res2.second_pass, 0u);
}

// --retainers-cpu: a walk paced to a share of a core sleeps between its
// batches so that its CPU time stays within that share of its wall time (a
// lower bound on the wall time, which sleeping guarantees); unpaced, it
// never sleeps. A chain of 400 objects, each reached from the one before,
// is 400 batches of one.
TEST(HeapWalk, APacedWalkKeepsItsCpuWithinItsShare) {
  auto l = heap_layout(version(27));
  ASSERT_TRUE(l);
  constexpr uint64_t kChain = 400;
  std::vector<std::pair<uint64_t, uint64_t>> words;
  for (uint64_t k = 0; k < kChain; k++) words.emplace_back(2 * k, FakeHeap::kHeapA + 16 * (k + 1));
  for (double share : {1.0, 0.05}) {
    SCOPED_TRACE(share);
    FakeHeap h(*l, 0b01, 0, words);
    auto spans = HeapSpans::read(h.mem, *l, FakeHeap::kMheap);
    auto roots = read_walk_roots(h.mem, *l, FakeHeap::kModuledata);
    ASSERT_TRUE(spans && roots);
    WalkBudget b;
    b.cpu_share = share;
    const int64_t cpu0 = thread_cpu_ns();
    auto res = HeapWalker(h.mem, *l, *spans, *roots, b).walk({});
    const double cpu = static_cast<double>(thread_cpu_ns() - cpu0) / 1e9;
    EXPECT_TRUE(res.complete);
    EXPECT_EQ(res.objects, kChain + 2);  // the chain, its end, and object B
    if (share == 1.0) {
      EXPECT_EQ(res.paused_seconds, 0);
    } else {
      EXPECT_GT(res.paused_seconds, 0);
      EXPECT_LE(res.paused_seconds, res.seconds);
      // Within the share but for the last batch's CPU (under 1 ms owed is
      // not slept) and the roots read before the first batch.
      EXPECT_LE(cpu, share * res.seconds + 0.002) << cpu << " s of CPU in " << res.seconds;
    }
  }
}

}  // namespace
}  // namespace leakhound::goruntime
