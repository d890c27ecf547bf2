// GoroutineReader against fake target memory: the allgs walk, state names,
// frame-pointer unwinding, and hostile memory (garbage headers, torn lengths,
// frame-pointer loops).
#include "goruntime/goroutines.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <optional>

using namespace leakhound;
using namespace leakhound::goruntime;

namespace {

constexpr uint64_t kAllgs = 0x1000, kAllglen = 0x1100, kPtrs = 0x2000;
constexpr uint64_t kGBase = 0x10000, kGStride = 0x400;
constexpr uint64_t kStackLo = 0x100000, kStackSize = 0x2000;

GLayout layout_121() {
  GLayout l;
  l.go_minor = 21;
  l.g_size = 424;
  l.stack_lo = 0;
  l.stack_hi = 8;
  l.sched_sp = 56;
  l.sched_pc = 64;
  l.sched_bp = 104;
  l.syscallsp = 112;
  l.syscallpc = 120;
  l.atomicstatus = 144;
  l.goid = 152;
  l.waitsince = 168;
  l.waitreason = 176;
  l.parent_goid = 272;
  l.gopc = 280;
  l.startpc = 296;
  l.wait_reasons = {"",
                    "GC assist marking",
                    "IO wait",
                    "chan receive (nil chan)",
                    "chan send (nil chan)",
                    "dumping heap",
                    "garbage collection",
                    "garbage collection scan",
                    "panicwait",
                    "select",
                    "select (no cases)",
                    "GC assist wait",
                    "GC sweep wait",
                    "GC scavenge wait",
                    "chan receive"};
  return l;
}

struct FakeG {
  uint64_t goid;
  uint32_t status;
  uint8_t reason = 0;
  uint64_t pc = 0, sp = 0, bp = 0;
  uint64_t gopc = 0x401000, startpc = 0x402000;
};

class Fixture : public ::testing::Test {
 protected:
  GLayout l = layout_121();
  target::FakeMemory mem;
  std::vector<uint64_t> ptrs;

  void add(const FakeG& f) {
    uint64_t i = ptrs.size();
    uint64_t addr = kGBase + i * kGStride;
    std::vector<uint8_t> g(l.g_size);
    auto put = [&](uint32_t off, auto v) { std::memcpy(g.data() + off, &v, sizeof v); };
    uint64_t lo = kStackLo + i * kStackSize;
    put(l.stack_lo, lo);
    put(l.stack_hi, lo + kStackSize);
    put(l.atomicstatus, f.status);
    put(l.goid, f.goid);
    put(l.waitreason, f.reason);
    put(l.sched_pc, f.pc);
    put(l.sched_sp, f.sp);
    put(l.sched_bp, f.bp);
    put(l.syscallpc, f.pc + 1);
    put(l.syscallsp, f.sp);
    put(l.gopc, f.gopc);
    put(l.startpc, f.startpc);
    mem.map(addr, std::move(g));
    ptrs.push_back(addr);
  }
  void publish(uint64_t len, uint64_t allglen) {
    std::vector<uint8_t> hdr(24);
    uint64_t v[3] = {kPtrs, len, std::max(len, uint64_t(ptrs.size()))};
    std::memcpy(hdr.data(), v, 24);
    mem.map(kAllgs, hdr);
    std::vector<uint8_t> n(8);
    std::memcpy(n.data(), &allglen, 8);
    mem.map(kAllglen, n);
    std::vector<uint8_t> p(ptrs.size() * 8);
    std::memcpy(p.data(), ptrs.data(), p.size());
    mem.map(kPtrs, p);
  }
  GoroutineReader reader() { return GoroutineReader(mem, l, kAllgs, kAllglen); }
};

TEST_F(Fixture, ReadsLiveGoroutinesAndSkipsDead) {
  add({1, 4, 14});             // waiting: chan receive
  add({2, 6});                 // dead
  add({3, 2});                 // running
  add({4, 4 | kGScanBit, 9});  // waiting (being scanned): select
  add({5, 3});                 // syscall
  publish(5, 5);
  auto s = reader().read();
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->allglen, 5u);
  EXPECT_EQ(s->rejected, 0u);
  ASSERT_EQ(s->live.size(), 4u);
  auto r = reader();
  EXPECT_EQ(s->live[0].goid, 1u);
  EXPECT_EQ(r.state(s->live[0]), "chan receive");
  EXPECT_EQ(r.state(s->live[1]), "running");
  EXPECT_EQ(r.state(s->live[2]), "select");
  EXPECT_EQ(r.state(s->live[3]), "syscall");
  EXPECT_EQ(s->live[0].gopc, 0x401000u);
  EXPECT_EQ(s->live[0].startpc, 0x402000u);
}

TEST_F(Fixture, UnknownWaitReasonIsJustWaiting) {
  add({1, 4, 200});
  publish(1, 1);
  auto s = reader().read();
  ASSERT_TRUE(s);
  ASSERT_EQ(s->live.size(), 1u);
  EXPECT_EQ(reader().state(s->live[0]), "waiting");
}

TEST_F(Fixture, TornAllglenUsesTheSmallerLength) {
  add({1, 4});
  add({2, 4});
  publish(2, 1000);  // allglen from a newer, reallocated slice
  auto s = reader().read();
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->allglen, 2u);
  EXPECT_EQ(s->live.size(), 2u);
}

TEST_F(Fixture, GarbageIsCountedNotFollowed) {
  add({1, 4});
  ptrs.push_back(0);               // nil entry
  ptrs.push_back(0xdead0003);      // misaligned
  ptrs.push_back(0x7f0000000000);  // unmapped
  add({9, 77});                    // status that does not exist
  publish(5, 5);
  auto s = reader().read();
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->live.size(), 1u);
  EXPECT_EQ(s->rejected, 4u);
}

TEST_F(Fixture, HugeLengthIsAnError) {
  add({1, 4});
  std::vector<uint8_t> hdr(24);
  uint64_t v[3] = {kPtrs, uint64_t(1) << 40, uint64_t(1) << 40};
  std::memcpy(hdr.data(), v, 24);
  mem.map(kAllgs, hdr);
  auto s = GoroutineReader(mem, l, kAllgs, 0).read();
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("limit"), std::string::npos);
}

TEST_F(Fixture, LenAboveCapIsAnError) {
  std::vector<uint8_t> hdr(24);
  uint64_t v[3] = {kPtrs, 10, 5};
  std::memcpy(hdr.data(), v, 24);
  mem.map(kAllgs, hdr);
  EXPECT_FALSE(GoroutineReader(mem, l, kAllgs, 0).read());
}

// A parked goroutine's stack: gopark's frame (locals, then the frame record
// linking to chanrecv's frame), then chanrecv's and main.f's frame records.
TEST_F(Fixture, UnwindsAParkedStack) {
  uint64_t lo = kStackLo, hi = kStackLo + kStackSize;
  uint64_t sp = hi - 0x200;
  uint64_t gopark_rec = sp + 0x20;   // {chanrecv bp, return into chanrecv}
  uint64_t chanrecv_bp = sp + 0x80;  // {main.f bp, return into main.f}
  uint64_t f_bp = sp + 0x100;        // {0, return into goexit}
  std::vector<uint8_t> stack(kStackSize);
  auto put = [&](uint64_t addr, uint64_t v) { std::memcpy(stack.data() + (addr - lo), &v, 8); };
  put(sp + 8, chanrecv_bp + 8);  // a local that is not a frame record
  put(gopark_rec, chanrecv_bp);
  put(gopark_rec + 8, 0x4100);
  put(chanrecv_bp, f_bp);
  put(chanrecv_bp + 8, 0x4200);
  put(f_bp, 0);
  put(f_bp + 8, 0x4300);
  mem.map(lo, stack);
  add({1, 4, 14, 0x4000, sp, chanrecv_bp});
  publish(1, 1);
  auto s = reader().read();
  ASSERT_TRUE(s);
  ASSERT_EQ(s->live.size(), 1u);
  EXPECT_EQ(reader().unwind(s->live[0]), (std::vector<uint64_t>{0x4000, 0x4100, 0x4200, 0x4300}));
  // Each frame ends where its caller's starts, past the frame record it
  // found the caller by; the outermost at the stack's top.
  std::vector<uint64_t> tops;
  reader().unwind(s->live[0], &tops);
  EXPECT_EQ(tops, (std::vector<uint64_t>{gopark_rec + 16, chanrecv_bp + 16, f_bp + 16, hi}));
}

// arm64: mcall saves gopark's SP and FP, its frame record {chanrecv's FP,
// return into chanrecv} one word below SP; each frame's LR at 0(SP). Without
// the frame sizes the walk follows the frame records from there; with them
// (arm64_stacks_test checks real binaries) it goes from SP by each frame's
// size, as the runtime does, and needs no frame pointer.
TEST_F(Fixture, UnwindsAnArm64Stack) {
  uint64_t lo = kStackLo, hi = kStackLo + kStackSize;
  uint64_t sp = hi - 0x200;                            // gopark: frame 0x60
  uint64_t chanrecv_sp = sp + 0x60, f_sp = sp + 0xe0;  // chanrecv: 0x80, main.f: 0x40
  std::vector<uint8_t> stack(kStackSize);
  auto put = [&](uint64_t addr, uint64_t v) { std::memcpy(stack.data() + (addr - lo), &v, 8); };
  put(sp - 8, chanrecv_sp - 8);  // gopark's frame record at its FP = SP-8
  put(sp, 0x4100);               // gopark's saved LR: into chanrecv
  put(chanrecv_sp - 8, f_sp - 8);
  put(chanrecv_sp, 0x4200);
  put(f_sp - 8, 0);
  put(f_sp, 0x4300);  // into goexit
  mem.map(lo, stack);
  add({1, 4, 14, 0x4000, sp, sp - 8});
  publish(1, 1);
  auto s = reader().read();
  ASSERT_TRUE(s);
  ASSERT_EQ(s->live.size(), 1u);
  const std::vector<uint64_t> want{0x4000, 0x4100, 0x4200, 0x4300};
  StackArch fp_only{true, {}};
  EXPECT_EQ(GoroutineReader(mem, l, kAllgs, kAllglen, {}, fp_only).unwind(s->live[0]), want);
  // amd64's walk never goes below SP.
  EXPECT_EQ(reader().unwind(s->live[0]), (std::vector<uint64_t>{0x4000}));

  std::map<uint64_t, binary::FrameSize> sizes{
      {0x4000, {0x60}}, {0x4100, {0x80}}, {0x4200, {0x40}}, {0x4300, {0, true}}};
  StackArch by_sp{true, [&](uint64_t pc) -> std::optional<binary::FrameSize> {
                    auto it = sizes.find(pc);
                    if (it == sizes.end()) return std::nullopt;
                    return it->second;
                  }};
  Goroutine g = s->live[0];
  g.bp = 0;  // not needed
  std::vector<uint64_t> tops;
  EXPECT_EQ(GoroutineReader(mem, l, kAllgs, kAllglen, {}, by_sp).unwind(g, &tops), want);
  EXPECT_EQ(tops, (std::vector<uint64_t>{chanrecv_sp, f_sp, f_sp + 0x40, hi}));
  // A frame that would end above the stack, or an unknown return PC, ends the walk.
  sizes[0x4100] = {0x2000};
  EXPECT_EQ(GoroutineReader(mem, l, kAllgs, kAllglen, {}, by_sp).unwind(g),
            (std::vector<uint64_t>{0x4000, 0x4100}));
  sizes[0x4100] = {0x80};
  sizes.erase(0x4200);
  EXPECT_EQ(GoroutineReader(mem, l, kAllgs, kAllglen, {}, by_sp).unwind(g),
            (std::vector<uint64_t>{0x4000, 0x4100}));
  // An unknown first PC: the frame-pointer walk.
  sizes.erase(0x4000);
  g.bp = sp - 8;
  EXPECT_EQ(GoroutineReader(mem, l, kAllgs, kAllglen, {}, by_sp).unwind(g), want);
}

TEST_F(Fixture, UnwindStopsOnFramePointerLoopsAndDepth) {
  uint64_t lo = kStackLo, hi = kStackLo + kStackSize;
  uint64_t bp = hi - 0x100;
  std::vector<uint8_t> stack(kStackSize);
  auto put = [&](uint64_t addr, uint64_t v) { std::memcpy(stack.data() + (addr - lo), &v, 8); };
  put(bp, bp);  // points at itself
  put(bp + 8, 0x5000);
  mem.map(lo, stack);
  add({1, 3, 0, 0x4000, bp - 0x40, bp});  // syscall: consistent pc/bp pair
  publish(1, 1);
  auto s = reader().read();
  ASSERT_TRUE(s);
  auto pcs = reader().unwind(s->live[0]);
  EXPECT_EQ(pcs, (std::vector<uint64_t>{0x4001, 0x5000}));  // syscallpc, then one frame

  // A long valid chain is cut at max_depth.
  const uint64_t dlo = 0x800000, dhi = dlo + kStackSize;
  std::vector<uint8_t> deep(kStackSize);
  for (uint64_t a = dlo + 0x100; a + 0x20 < dhi; a += 0x10) {
    uint64_t rec[2] = {a + 0x10, 0x6000};
    std::memcpy(deep.data() + (a - dlo), rec, 16);
  }
  mem.map(dlo, deep);
  Goroutine g = s->live[0];
  g.stack_lo = dlo;
  g.stack_hi = dhi;
  g.bp = dlo + 0x100;
  g.sp = dlo + 0x80;
  AllgLimits lim;
  lim.max_depth = 10;
  EXPECT_EQ(GoroutineReader(mem, l, kAllgs, kAllglen, lim).unwind(g).size(), 10u);
}

// Stack bounds and frame pointers near 2^64 (found by fuzz_runtime_memory: a
// frame pointer of 2^64-16 passed a window check whose sum wrapped to 0).
TEST_F(Fixture, UnwindSurvivesAddressesThatWrap) {
  add({1, 4, 0, 0x4000, kStackLo + 0x100, kStackLo + 0x200});
  publish(1, 1);
  auto s = reader().read();
  ASSERT_TRUE(s);
  const uint64_t top = ~uint64_t{0};
  for (uint64_t lo : {uint64_t{0}, top - 0x1000, top - 15}) {
    for (uint64_t bp : {top - 15, top - 7, top - 1}) {
      Goroutine g = s->live[0];
      g.stack_lo = lo;
      g.stack_hi = top;
      g.sp = bp - 4;
      g.bp = bp;
      EXPECT_EQ(reader().unwind(g), (std::vector<uint64_t>{0x4000})) << lo << " " << bp;
      g.sp = top - 3;  // the mcall scan's first aligned slot wraps past 2^64
      EXPECT_EQ(reader().unwind(g), (std::vector<uint64_t>{0x4000})) << lo << " " << bp;
    }
  }
}

TEST_F(Fixture, RunningGoroutineHasNoStack) {
  add({1, 2, 0, 0x4000, kStackLo + 0x100, kStackLo + 0x200});
  publish(1, 1);
  auto s = reader().read();
  ASSERT_TRUE(s);
  EXPECT_TRUE(reader().unwind(s->live[0]).empty());
}

TEST(SystemEntry, FollowsTheRuntimeRule) {
  EXPECT_TRUE(is_system_entry("runtime.gcBgMarkWorker"));
  EXPECT_TRUE(is_system_entry("runtime.forcegchelper"));
  EXPECT_FALSE(is_system_entry("runtime.main"));
  EXPECT_FALSE(is_system_entry("runtime.corostart"));
  EXPECT_FALSE(is_system_entry("main.worker"));
  EXPECT_FALSE(is_system_entry("net/http.(*conn).serve"));
}

}  // namespace
