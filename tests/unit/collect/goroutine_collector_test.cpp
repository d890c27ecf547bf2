// The goroutine capability through the daemon's sequence (report, report,
// trim, stop) without root: the runtime's allgs laid out in this process's
// own memory, read as a target's would be, and a fake clock.
#include "collect/goroutines/goroutine_collector.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "fake_target.h"

namespace leakhound::collect {
namespace {

using namespace testing;

// runtime.allgs and runtime.allglen, and the g structs they point to.
struct FakeAllgs {
  const goruntime::GLayout& l;
  uint64_t header[3] = {};  // slice: ptr, len, cap
  uint64_t allglen = 0;
  std::vector<std::vector<uint8_t>> gs;  // each g's buffer stays where it is
  std::vector<uint64_t> ptrs;
  std::vector<uint64_t> stack = std::vector<uint64_t>(1024);  // 8 KiB of zeros, shared

  explicit FakeAllgs(const goruntime::GLayout& layout) : l(layout) {}
  uint8_t reason(const std::string& name) const {
    auto it = std::find(l.wait_reasons.begin(), l.wait_reasons.end(), name);
    EXPECT_NE(it, l.wait_reasons.end()) << name;
    return static_cast<uint8_t>(it - l.wait_reasons.begin());
  }
  // A goroutine blocked in `wait` since wait_since_ns; returns its index.
  size_t add(uint64_t goid, uint64_t gopc, uint64_t startpc, const std::string& wait,
             int64_t wait_since_ns) {
    std::vector<uint8_t> g(std::max(l.g_size, l.read_size()));
    auto put = [&](uint32_t off, auto v) { std::memcpy(g.data() + off, &v, sizeof v); };
    put(l.atomicstatus, static_cast<uint32_t>(goruntime::GStatus::Waiting));
    put(l.goid, goid);
    put(l.waitreason, reason(wait));
    put(l.waitsince, wait_since_ns);
    put(l.gopc, gopc);
    put(l.startpc, startpc);
    const auto lo = reinterpret_cast<uint64_t>(stack.data());
    put(l.stack_lo, lo);
    put(l.stack_hi, lo + 8 * stack.size());
    put(l.sched_sp, lo + 8 * stack.size() - 64);
    if (l.parent_goid >= 0) put(static_cast<uint32_t>(l.parent_goid), uint64_t{1});
    gs.push_back(std::move(g));
    ptrs.push_back(reinterpret_cast<uint64_t>(gs.back().data()));
    return gs.size() - 1;
  }
  void exit(size_t i) {
    const auto dead = static_cast<uint32_t>(goruntime::GStatus::Dead);
    std::memcpy(gs[i].data() + l.atomicstatus, &dead, sizeof dead);
  }
  void publish() {
    header[0] = reinterpret_cast<uint64_t>(ptrs.data());
    header[1] = header[2] = allglen = ptrs.size();
  }
};

const report::GoroutineFinding* site(const report::Report& r, const std::string& entry) {
  for (const auto& f : r.goroutines)
    if (f.entry.function == entry) return &f;
  return nullptr;
}

TEST(GoroutineCollector, ReportsJudgeSitesTrimCutsStopEnds) {
  auto t = go_target_over_self("goleak-go1.27-default");
  ASSERT_TRUE(t);
  ASSERT_TRUE(t->g_layout) << t->g_layout_error;
  FakeAllgs allgs(t->g_layout->layout);
  t->syms.allgs = reinterpret_cast<uint64_t>(&allgs.header);
  t->syms.allglen = reinterpret_cast<uint64_t>(&allgs.allglen);
  auto mem = target::ProcessMemory::open(getpid(), false);
  ASSERT_TRUE(mem) << mem.error().message;

  FakeClock clock;
  // Each leakChan call leaves a goroutine waiting forever; main keeps three
  // churn workers, one replaced every second.
  const uint64_t leak_gopc = return_pc_in(*t, "main.leakChan");
  const uint64_t leak_fn = entry_of(*t, "main.leakChan.func1");
  const uint64_t churn_gopc = return_pc_in(*t, "main.main");
  const uint64_t churn_fn = entry_of(*t, "main.churn");
  uint64_t goid = 10;
  std::vector<size_t> workers;
  for (int i = 0; i < 3; i++)
    workers.push_back(allgs.add(goid++, churn_gopc, churn_fn, "chan receive", clock.now));
  allgs.publish();

  GoroutineOptions opts;
  report::Report r0;
  auto opened = GoroutineCollector::start(*t, *mem, opts, r0, clock.fn());
  ASSERT_TRUE(opened) << opened.error().message;
  std::unique_ptr<GoroutineCollector> c = std::move(*opened);
  auto tick = [&](int polls) {
    for (int i = 0; i < polls; i++) {
      clock.advance_s(1);
      for (int j = 0; j < 2; j++) allgs.add(goid++, leak_gopc, leak_fn, "chan receive", clock.now);
      allgs.exit(workers.front());
      workers.erase(workers.begin());
      workers.push_back(allgs.add(goid++, churn_gopc, churn_fn, "chan receive", clock.now));
      allgs.publish();
      ASSERT_TRUE(c->poll());
    }
  };

  tick(10);
  report::Report r1;
  c->contribute(r1);
  const auto* leak1 = site(r1, "main.leakChan.func1");
  ASSERT_NE(leak1, nullptr);
  EXPECT_EQ(leak1->created_at.function, "main.leakChan");
  EXPECT_EQ(leak1->trend.verdict, detect::Verdict::Leak) << leak1->trend.reason;
  EXPECT_NEAR(leak1->trend.slope_per_s, 2, 0.1);
  EXPECT_EQ(leak1->count, 20u);
  EXPECT_EQ(leak1->wait_reason, "chan receive");
  // The start, each poll, and the report's own read.
  ASSERT_EQ(leak1->series.size(), 12u);
  EXPECT_DOUBLE_EQ(leak1->series.front().value, 0);
  const auto* churn1 = site(r1, "main.churn");
  ASSERT_NE(churn1, nullptr);
  EXPECT_EQ(churn1->trend.verdict, detect::Verdict::Stable) << churn1->trend.reason;
  EXPECT_EQ(churn1->count, 3u);
  EXPECT_EQ(r1.goroutines_user, 23u);

  tick(4);
  report::Report r2;
  c->contribute(r2);
  const auto* leak2 = site(r2, "main.leakChan.func1");
  ASSERT_NE(leak2, nullptr);
  EXPECT_EQ(leak2->count, 28u);
  EXPECT_EQ(leak2->series.size(), 17u) << "a report keeps every point held";
  EXPECT_EQ(leak2->max_count, 28u);
  // The oldest leaked goroutine has waited since the first poll.
  EXPECT_DOUBLE_EQ(leak2->longest_wait_s, 13);

  // The rolling window: 5 s before the newest point.
  c->trim(5);
  report::Report r3;
  c->contribute(r3);
  const auto* leak3 = site(r3, "main.leakChan.func1");
  ASSERT_NE(leak3, nullptr);
  EXPECT_DOUBLE_EQ(leak3->series.front().t_s, 9);
  EXPECT_DOUBLE_EQ(leak3->series.front().value, 18);
  EXPECT_DOUBLE_EQ(leak3->series.back().t_s, 14);

  tick(3);
  report::Report r4;
  c->stop(r4);
  const auto* leak4 = site(r4, "main.leakChan.func1");
  ASSERT_NE(leak4, nullptr);
  EXPECT_EQ(leak4->count, 34u);
  EXPECT_EQ(leak4->trend.verdict, detect::Verdict::Leak) << leak4->trend.reason;
  EXPECT_DOUBLE_EQ(leak4->series.front().t_s, 9);
  const auto* churn4 = site(r4, "main.churn");
  ASSERT_NE(churn4, nullptr);
  EXPECT_EQ(churn4->trend.verdict, detect::Verdict::Stable);
}

}  // namespace
}  // namespace leakhound::collect
