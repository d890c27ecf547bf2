// The native capability over fake probe tables and a fake clock, without
// root: the daemon's sequence (report, report, trim, stop) keeps the probes
// until stop, judges every report on the points held, and stop detaches once.
#include "collect/native/native_collector.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <random>

#include "collect/report_assembly.h"
#include "util/clock.h"

namespace leakhound::collect {
namespace {

// Functions of this test binary: the fake stacks' frames, so that the real
// symbolizer (this process's own mappings) names them.
extern "C" [[gnu::noinline]] void lh_fake_leaky_alloc() { asm volatile("" ::: "memory"); }
extern "C" [[gnu::noinline]] void lh_fake_churn_alloc() { asm volatile("" ::: "memory"); }

uint64_t pc_in(void (*fn)()) { return reinterpret_cast<uint64_t>(fn) + 1; }

class FakeTables final : public probes::NativeTables {
 public:
  std::map<uint64_t, probes::OutstandingAlloc> outstanding;  // by address
  std::map<uint64_t, std::vector<uint64_t>> c_stacks;
  std::vector<uint64_t> counts = std::vector<uint64_t>(LH_NATIVE_COUNTER_MAX, 0);
  std::map<uint64_t, lh_native_stack_total> totals;  // by C stack
  bool totals_readable = true;
  int* detached;

  explicit FakeTables(int* detached_count) : detached(detached_count) {}
  Result<std::vector<probes::OutstandingAlloc>> read_outstanding(uint32_t) const override {
    std::vector<probes::OutstandingAlloc> v;
    for (const auto& [addr, a] : outstanding) v.push_back(a);
    return v;
  }
  Result<std::vector<probes::StackTotal>> read_totals(uint32_t) const override {
    if (!totals_readable) return make_error("per-stack totals: not in this test");
    std::vector<probes::StackTotal> v;
    for (const auto& [stack, t] : totals) v.push_back({stack, 0, t});
    return v;
  }
  std::vector<uint64_t> c_stack(uint64_t key) const override {
    auto it = c_stacks.find(key);
    return it == c_stacks.end() ? std::vector<uint64_t>{} : it->second;
  }
  std::vector<uint64_t> go_stack(uint64_t) const override { return {}; }
  std::vector<uint64_t> counters() const override { return counts; }
  void detach() override { ++*detached; }
  ~FakeTables() override { ++*detached; }  // the probes go with their tables

  void alloc(uint64_t addr, uint64_t size, uint64_t stack, int64_t ts) {
    probes::OutstandingAlloc a;
    a.addr = addr;
    a.a.size = size;
    a.a.c_stack = stack;
    a.a.ts_ns = static_cast<uint64_t>(ts);
    outstanding[addr] = a;
    counts[LH_NATIVE_ALLOCS]++;
    counts[LH_NATIVE_CALLS] += 2;
    totals[stack].allocs++;
    totals[stack].bytes += size;
  }
  void free(uint64_t addr) {
    if (outstanding.erase(addr)) counts[LH_NATIVE_FREES]++;
    counts[LH_NATIVE_CALLS]++;
  }
};

constexpr uint64_t kLeak = 0x1111, kChurn = 0x2222;
constexpr int64_t kSecond = 1'000'000'000;

const report::NativeFinding* with_frame(const report::Report& r, const std::string& fn) {
  for (const auto& f : r.native)
    for (const Frame& fr : f.stack)
      if (fr.function == fn) return &f;
  return nullptr;
}

// A native collector over fake tables that name the two fake stacks, with a
// clock the test moves.
struct Rig {
  target::Process proc;
  int detached = 0;
  int64_t now = 100 * kSecond;
  FakeTables* tables = nullptr;
  std::unique_ptr<NativeCollector> c;
};

std::unique_ptr<Rig> rig() {
  auto proc = target::Process::open(getpid());
  if (!proc) {
    ADD_FAILURE() << proc.error().message;
    return nullptr;
  }
  auto r = std::make_unique<Rig>(Rig{std::move(*proc)});
  auto owned = std::make_unique<FakeTables>(&r->detached);
  r->tables = owned.get();
  r->tables->c_stacks[kLeak] = {pc_in(lh_fake_leaky_alloc)};
  r->tables->c_stacks[kChurn] = {pc_in(lh_fake_churn_alloc)};
  NativeOptions opts;
  opts.mode = NativeOptions::Mode::On;
  r->c = NativeCollector::over(r->proc, nullptr, opts, std::move(owned),
                               [now = &r->now] { return *now; });
  return r;
}

TEST(NativeCollector, ReportsKeepProbesTrimCutsStopDetachesOnce) {
  const auto rg = rig();
  ASSERT_TRUE(rg);
  FakeTables& tables = *rg->tables;
  int64_t& now = rg->now;
  const int& detached = rg->detached;
  auto& c = rg->c;

  uint64_t next_addr = 0x10000;
  auto tick = [&](int polls) {
    for (int i = 0; i < polls; i++) {
      now += kSecond;
      // The leak keeps one 8 KiB block a second; the churn holds four
      // blocks, replaced every second.
      tables.alloc(next_addr++, 8192, kLeak, now);
      for (auto it = tables.outstanding.begin(); it != tables.outstanding.end();)
        it = it->second.a.c_stack == kChurn ? tables.outstanding.erase(it) : std::next(it);
      for (int j = 0; j < 4; j++) tables.alloc(next_addr++, 512, kChurn, now);
      ASSERT_TRUE(c->poll());
    }
  };

  tick(10);
  report::Report r1;
  c->contribute(r1);
  const auto* leak1 = with_frame(r1, "lh_fake_leaky_alloc");
  ASSERT_NE(leak1, nullptr);
  EXPECT_EQ(leak1->trend.verdict, detect::Verdict::Leak);
  EXPECT_EQ(leak1->inuse_bytes, 10u * 8192);
  EXPECT_EQ(leak1->series.size(), 10u);
  const auto* churn1 = with_frame(r1, "lh_fake_churn_alloc");
  ASSERT_NE(churn1, nullptr);
  EXPECT_EQ(churn1->trend.verdict, detect::Verdict::Stable);
  EXPECT_TRUE(r1.native_stats.tracked);
  EXPECT_EQ(r1.native_stats.outstanding_bytes, 10u * 8192 + 4 * 512);
  EXPECT_EQ(detached, 0) << "a report must not take the probes off";

  const int64_t before_us = unix_us();
  tick(4);
  const int64_t after_us = unix_us();
  report::Report r2;
  c->contribute(r2);
  // The figures are the last poll's read, stamped on the wall clock (tests
  // compare them with a target's clocked counter).
  const auto& st = r2.native_stats;
  EXPECT_LE(st.attached_from_us, st.attached_to_us);
  EXPECT_LE(st.attached_to_us, before_us);
  EXPECT_LE(before_us, st.read_from_us);
  EXPECT_LE(st.read_from_us, st.read_to_us);
  EXPECT_LE(st.read_to_us, after_us);
  const auto* leak2 = with_frame(r2, "lh_fake_leaky_alloc");
  ASSERT_NE(leak2, nullptr);
  EXPECT_EQ(leak2->inuse_bytes, 14u * 8192);
  EXPECT_EQ(leak2->series.size(), 14u);
  // Totals are each report's own, not added up across reports.
  EXPECT_EQ(r2.native_stats.outstanding_bytes, 14u * 8192 + 4 * 512);
  EXPECT_EQ(r2.native_stats.allocs, 14u * 5);
  EXPECT_EQ(detached, 0);

  // The rolling window: 5 s before the newest point, and the series go on
  // from there when polls resume.
  c->trim(5);
  report::Report r3;
  c->contribute(r3);
  const auto* leak3 = with_frame(r3, "lh_fake_leaky_alloc");
  ASSERT_NE(leak3, nullptr);
  ASSERT_EQ(leak3->series.size(), 6u);
  EXPECT_DOUBLE_EQ(leak3->series.back().t_s - leak3->series.front().t_s, 5);
  EXPECT_DOUBLE_EQ(leak3->series.front().value, 9 * 8192);
  tick(3);
  report::Report r4;
  c->stop(r4);  // one poll more, then the probes come off
  const auto* leak4 = with_frame(r4, "lh_fake_leaky_alloc");
  ASSERT_NE(leak4, nullptr);
  EXPECT_EQ(leak4->series.size(), 10u);
  EXPECT_EQ(leak4->trend.verdict, detect::Verdict::Leak);
  EXPECT_EQ(leak4->inuse_bytes, 17u * 8192);
  EXPECT_EQ(detached, 1);
  // Stopped: nothing more is read or contributed.
  EXPECT_TRUE(c->poll());
  report::Report r5;
  c->contribute(r5);
  EXPECT_TRUE(r5.native.empty());
  EXPECT_EQ(detached, 1);
}

// Blocks allocated before the probes went in are never seen: a stack that
// keeps its blocks a while (a C library's cache of 256 blocks, each replaced
// when a random slot comes round, ~13 s on average; the cgoleak target's
// churn when its calls are slow, as under emulation) fills from zero through
// a 12 s window, rising like a leak. Its own allocations since attach (the
// probes' per-stack totals) show that it frees: fitted for that warm-up, it
// is not a leak, while the stack that keeps everything still is.
report::Report ring_window(bool totals) {
  const auto rg = rig();
  if (!rg) return {};
  FakeTables& tables = *rg->tables;
  int64_t& now = rg->now;
  auto& c = rg->c;
  tables.totals_readable = totals;
  EXPECT_TRUE(c->poll());
  std::mt19937 rng(7);
  std::vector<uint64_t> ring(256, 0);  // 0: a block from before attach
  uint64_t next_addr = 0x10000;
  for (int poll = 0; poll < 24; ++poll) {  // 12 s, a poll every 0.5 s
    now += kSecond / 2;
    for (int i = 0; i < 10; ++i) {  // 20 ring replacements a second
      uint64_t& slot = ring[rng() % ring.size()];
      if (slot) tables.free(slot);
      slot = next_addr++;
      tables.alloc(slot, 1024, kChurn, now);
      const uint64_t brief = next_addr++;  // and as many freed at once
      tables.alloc(brief, 1024, kChurn, now);
      tables.free(brief);
    }
    tables.alloc(next_addr++, 4096, kLeak, now);
    EXPECT_TRUE(c->poll());
  }
  report::Report r;
  c->stop(r);
  return r;
}

TEST(NativeCollector, ABlockCacheFillingAfterAttachIsNotALeak) {
  const report::Report fitted = ring_window(true), unfitted = ring_window(false);
  const auto* ring = with_frame(fitted, "lh_fake_churn_alloc");
  ASSERT_NE(ring, nullptr);
  // It filled: ~60% of the ring turned over in the window.
  EXPECT_GT(ring->inuse_bytes, 120u * 1024);
  EXPECT_NE(ring->trend.verdict, detect::Verdict::Leak) << ring->trend.reason;
  std::printf("ring: %s (%s)\n", std::string(detect::to_string(ring->trend.verdict)).c_str(),
              std::string(ring->trend.reason).c_str());
  const auto* leak = with_frame(fitted, "lh_fake_leaky_alloc");
  ASSERT_NE(leak, nullptr);
  EXPECT_EQ(leak->trend.verdict, detect::Verdict::Leak);
  // Without the totals (a stack that found their table full), its fill is
  // judged as it looks: the case the fit is for.
  const auto* blind = with_frame(unfitted, "lh_fake_churn_alloc");
  ASSERT_NE(blind, nullptr);
  EXPECT_EQ(blind->trend.verdict, detect::Verdict::Leak);
}

TEST(ReportAssembly, NeverDropsAJudgedFinding) {
  report::Report r;
  for (int i = 0; i < 300; i++) {
    report::HeapFinding f;
    f.inuse_bytes = 1000 + static_cast<uint64_t>(i);
    f.trend.verdict = i % 3 == 0 ? detect::Verdict::Leak : detect::Verdict::Stable;
    f.trend.slope_per_s = i % 3 == 0 ? 10 : 0;
    r.heap.push_back(f);
  }
  assemble(r, {.max_findings = 50});
  ASSERT_EQ(r.heap.size(), 100u) << "all 100 leaks, no room left for stable ones";
  for (const auto& f : r.heap) EXPECT_EQ(f.trend.verdict, detect::Verdict::Leak);

  report::Report few;
  for (int i = 0; i < 20; i++) {
    report::NativeFinding f;
    f.inuse_bytes = static_cast<uint64_t>(i);
    f.trend.verdict = i == 7 ? detect::Verdict::Growing : detect::Verdict::Stable;
    few.native.push_back(f);
  }
  assemble(few, {.max_findings = 5});
  ASSERT_EQ(few.native.size(), 5u);
  EXPECT_EQ(few.native[0].trend.verdict, detect::Verdict::Growing);
  // Then the largest stable ones, in the contract's order.
  EXPECT_EQ(few.native[1].inuse_bytes, 19u);
  EXPECT_EQ(few.native[4].inuse_bytes, 16u);
}

}  // namespace
}  // namespace leakhound::collect
