// The arithmetic of the RSS breakdown and of GOMEMLIMIT's forecast over
// synthetic readings (collect/runtime_memory/rss_breakdown.h).
#include "collect/runtime_memory/rss_breakdown.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace leakhound::collect {
namespace {

constexpr double kMiB = 1 << 20;

// A heap leak of `leak` bytes/s under GOGC=100: the live heap grows by it,
// the heap the runtime holds (in use + free) by twice it, the RSS with it
// plus `extra` bytes/s that nothing in the runtime accounts for.
std::vector<RuntimeMemReading> heap_leak(double leak, double extra, int n = 30) {
  std::vector<RuntimeMemReading> out;
  for (int i = 0; i < n; i++) {
    const double t = i * 0.5;
    RuntimeMemReading x;
    x.t_s = t;
    x.ms.heap_marked = static_cast<uint64_t>(20 * kMiB + leak * t);
    // Saw-tooth garbage between GCs on top of the trend: least squares sees through it.
    x.ms.heap_inuse = static_cast<uint64_t>(30 * kMiB + 2 * leak * t + (i % 4) * kMiB);
    x.ms.heap_free = static_cast<uint64_t>(10 * kMiB - (i % 4) * kMiB);
    x.ms.stack_inuse = 1 << 20;
    x.ms.metadata = 3 << 20;
    x.ms.heap_goal = static_cast<uint64_t>(2 * x.ms.heap_marked);
    x.ms.gc_percent = 100;
    // The GC's share of the CPU climbing 0.1 point a second, updated at every
    // other reading (mark termination) as the runtime does.
    x.ms.gc_cpu_fraction = 0.02 + 0.001 * (i - i % 2) * 0.5;
    x.rss = static_cast<uint64_t>(60 * kMiB + (2 * leak + extra) * t);
    out.push_back(x);
  }
  return out;
}

TEST(RssBreakdown, OlsSlopeOfASumIsTheSumOfSlopes) {
  std::vector<detect::Point> a, b, sum;
  for (int i = 0; i < 20; i++) {
    double t = i * 0.7;
    a.push_back({t, 3 * t + (i % 3)});
    b.push_back({t, -t * t * 0.1 + 5});
    sum.push_back({t, a.back().value + b.back().value});
  }
  EXPECT_NEAR(ols_slope(sum), ols_slope(a) + ols_slope(b), 1e-9);
  EXPECT_EQ(ols_slope({{1, 5}}), 0);
  EXPECT_EQ(ols_slope({{1, 5}, {1, 7}}), 0);  // no time passed
}

TEST(RssBreakdown, HeapLeakIsLiveHeapPlusItsHeadroom) {
  report::Report r;
  report::HeapFinding leak, churn;
  leak.trend.slope_per_s = 1 * kMiB;
  leak.stack = {{"main.leak", "leak.go", 12, 0, ""}};
  churn.trend.slope_per_s = 0.01 * kMiB;
  churn.stack = {{"main.churn", "churn.go", 7, 0, ""}};
  r.heap = {churn, leak};
  report::RssBreakdown b;
  reconcile_rss(heap_leak(1 * kMiB, 0), r, b);
  ASSERT_TRUE(b.read);
  EXPECT_NEAR(b.rss_per_s, 2 * kMiB, 1);
  EXPECT_NEAR(b.heap_live_per_s, 1 * kMiB, 1);
  EXPECT_NEAR(b.gc_headroom_per_s, 1 * kMiB, 1);
  EXPECT_NEAR(b.stacks_per_s, 0, 1e-6);
  EXPECT_NEAR(b.metadata_per_s, 0, 1e-6);
  EXPECT_NEAR(b.unexplained_per_s, 0, 2);
  EXPECT_NEAR(b.explained, 1, 1e-6);
  EXPECT_FALSE(b.native_tracked);
  ASSERT_FALSE(b.top_stack.empty());
  EXPECT_EQ(b.top_stack.front().function, "main.leak");
  EXPECT_NEAR(b.top_stack_share, 0.5, 1e-6);
  EXPECT_EQ(b.gogc, 100);
  EXPECT_EQ(b.gomemlimit, -1);
  EXPECT_NEAR(b.window_s, 14.5, 1e-9);
  // GCCPUFraction: each reading's value, and its trend.
  ASSERT_EQ(b.gc_cpu_series.size(), 30u);
  EXPECT_DOUBLE_EQ(b.gc_cpu_series[3].value, 0.021);
  EXPECT_DOUBLE_EQ(b.gc_cpu_fraction, b.gc_cpu_series.back().value);
  EXPECT_NEAR(b.gc_cpu_fraction_per_s, 0.001, 0.0001);
}

TEST(RssBreakdown, NativeGrowthIsCountedAndTheRestIsUnexplained) {
  report::Report r;
  r.native_stats.tracked = true;
  r.native_stats.outstanding_bytes = 8 << 20;
  // Two stacks whose outstanding bytes add up to 0.5 MiB/s; the second
  // appears mid-window (0 before it).
  report::NativeFinding n, m;
  for (int i = 0; i < 30; i++) n.series.push_back({i * 0.5, 0.25 * kMiB * i * 0.5});
  for (int i = 10; i < 30; i++) m.series.push_back({i * 0.5, 0.25 * kMiB * i * 0.5});
  n.trend.slope_per_s = 0.25 * kMiB;
  r.native = {n, m};
  report::RssBreakdown b;
  // RSS grows 1 MiB/s beyond the heap: native explains half of it.
  reconcile_rss(heap_leak(1 * kMiB, 1 * kMiB), r, b);
  EXPECT_NEAR(b.rss_per_s, 3 * kMiB, 2);
  const auto total = native_total(r.native);
  ASSERT_EQ(total.size(), 30u);
  EXPECT_DOUBLE_EQ(total[9].value, 0.25 * kMiB * 4.5);                   // m not yet there
  EXPECT_DOUBLE_EQ(total[10].value, 0.25 * kMiB * 5 + 0.25 * kMiB * 5);  // both
  // The slope of the sum, not the sum of the stacks' own slopes: m jumped in.
  EXPECT_GT(b.native_per_s, 0.5 * kMiB);
  EXPECT_NEAR(b.unexplained_per_s, b.rss_per_s - 2 * kMiB - b.native_per_s, 2);
  EXPECT_NEAR(b.explained, 1 - std::fabs(b.unexplained_per_s) / b.rss_per_s, 1e-6);
  EXPECT_EQ(b.native_bytes, uint64_t{8} << 20);
  // Over-explaining is an error as much as under-explaining.
  for (auto& p : r.native[0].series) p.value *= 5;  // 1.25 + 0.25 MiB/s
  reconcile_rss(heap_leak(1 * kMiB, 1 * kMiB), r, b);
  EXPECT_LT(b.unexplained_per_s, -0.5 * kMiB);
  EXPECT_NEAR(b.explained, 1 - std::fabs(b.unexplained_per_s) / b.rss_per_s, 1e-6);
}

TEST(RssBreakdown, WhatTheAllocatorKeepsBeyondOutstandingIsItsOwnPart) {
  report::Report r;
  r.native_stats.tracked = true;
  report::NativeFinding n;
  for (int i = 0; i < 30; i++) n.series.push_back({i * 0.5, 0.5 * kMiB * i * 0.5});
  r.native = {n};
  // The allocator's mappings grow 0.8 MiB/s for 0.5 MiB/s asked of it.
  for (int i = 0; i < 30; i++)
    r.native_stats.resident_series.push_back({i * 0.5, 4 * kMiB + 0.8 * kMiB * i * 0.5});
  r.native_stats.resident_bytes = 7 << 20;
  report::RssBreakdown b;
  reconcile_rss(heap_leak(1 * kMiB, 0.8 * kMiB), r, b);
  ASSERT_TRUE(b.native_resident);
  EXPECT_NEAR(b.native_per_s, 0.5 * kMiB, 2);
  EXPECT_NEAR(b.native_allocator_per_s, 0.3 * kMiB, 2);
  EXPECT_NEAR(b.unexplained_per_s, 0, 4);
  EXPECT_GT(b.explained, 0.999);
  EXPECT_EQ(b.native_resident_bytes, uint64_t{7} << 20);
  // Unmeasured: no allocator part, the growth stays unexplained.
  r.native_stats.resident_series.resize(1);
  reconcile_rss(heap_leak(1 * kMiB, 0.8 * kMiB), r, b);
  EXPECT_FALSE(b.native_resident);
  EXPECT_EQ(b.native_allocator_per_s, 0);
  EXPECT_NEAR(b.unexplained_per_s, 0.3 * kMiB, 4);
}

// Runtime metadata counts as the runtime maps it, resident only as touched:
// a step in it that the RSS does not show is not an over-explanation (a CI
// run: +30.7 KiB/s of metadata next to native parts that matched the RSS).
TEST(RssBreakdown, MetadataExplainsNoMoreThanTheRssLeavesForIt) {
  report::Report r;
  report::RssBreakdown b;
  auto rd = heap_leak(1 * kMiB, 0);
  for (size_t i = 0; i < rd.size(); ++i)
    rd[i].ms.metadata = static_cast<uint64_t>(3 * kMiB + (i >= 15 ? 0.4 * kMiB : 0));
  reconcile_rss(rd, r, b);
  EXPECT_GT(b.metadata_per_s, 0.02 * kMiB);  // reported as the runtime counts it
  EXPECT_NEAR(b.unexplained_per_s, 0, 2);
  EXPECT_NEAR(b.explained, 1, 1e-6);
  // Resident when the RSS grows with it: all of it explains.
  for (size_t i = 0; i < rd.size(); ++i)
    rd[i].rss += static_cast<uint64_t>(i >= 15 ? 0.4 * kMiB : 0);
  reconcile_rss(rd, r, b);
  EXPECT_NEAR(b.unexplained_per_s, 0, 2);
  // More RSS growth than all the parts: what is left is unexplained.
  for (size_t i = 0; i < rd.size(); ++i) rd[i].rss += static_cast<uint64_t>(0.5 * kMiB * rd[i].t_s);
  reconcile_rss(rd, r, b);
  EXPECT_NEAR(b.unexplained_per_s, 0.5 * kMiB, 2);
}

TEST(RssBreakdown, FlatOrTooFewReadings) {
  report::Report r;
  report::RssBreakdown b;
  reconcile_rss(heap_leak(0, 0, 1), r, b);
  EXPECT_FALSE(b.read);
  EXPECT_FALSE(b.why_not.empty());
  reconcile_rss(heap_leak(0, 0), r, b);
  EXPECT_TRUE(b.read);
  EXPECT_EQ(b.explained, 0);  // nothing grew: nothing to explain
  EXPECT_TRUE(b.top_stack.empty());
}

TEST(GoMemLimitForecast, TimesAtTheLiveHeapsSlope) {
  auto rd = heap_leak(1 * kMiB, 0);
  for (auto& x : rd) {
    x.ms.memory_limit = static_cast<int64_t>(100 * kMiB);
    x.ms.mapped_ready = static_cast<uint64_t>(x.ms.heap_marked + 15 * kMiB);
    x.ms.heap_alloc = x.ms.heap_marked;
    x.ms.heap_free = 5 << 20;
    x.ms.gogc_goal = x.ms.heap_goal;
  }
  report::GoMemLimitForecast f;
  forecast_gomemlimit(rd, 21, f);
  ASSERT_TRUE(f.limited);
  EXPECT_EQ(f.non_heap_bytes, uint64_t{10} << 20);
  // 100 - 10 MiB, less 3% of it (mgcpacer.go 1.21+).
  const double sat = 90 * kMiB - static_cast<double>((uint64_t{90} << 20) / 100 * 3);
  EXPECT_EQ(f.saturation_live_bytes, static_cast<uint64_t>(sat));
  EXPECT_EQ(f.bound_live_bytes, static_cast<uint64_t>(sat / 2));  // GOGC=100
  EXPECT_NEAR(f.live_per_s, kMiB, 1);
  const double live = static_cast<double>(rd.back().ms.heap_marked);
  EXPECT_NEAR(f.seconds_to_saturation, (sat - live) / kMiB, 1e-3);
  EXPECT_NEAR(f.seconds_to_bound, (sat / 2 - live) / kMiB, 1e-3);
  EXPECT_FALSE(f.bound_now);
  // No runway read: the spiral is saturation itself.
  EXPECT_EQ(f.runway_share, 0);
  EXPECT_EQ(f.spiral_live_bytes, f.saturation_live_bytes);
  EXPECT_EQ(f.seconds_to_spiral, f.seconds_to_saturation);

  // The pacer's runway, 5% of the live heap at every reading but one outlier
  // (the median ignores it): the spiral comes where live x 1.05 = saturation.
  for (size_t i = 0; i < rd.size(); i++)
    rd[i].ms.runway = i == 1 ? rd[i].ms.heap_marked : rd[i].ms.heap_marked / 20;
  forecast_gomemlimit(rd, 21, f);
  EXPECT_NEAR(f.runway_share, 0.05, 1e-3);
  EXPECT_EQ(f.runway_bytes, rd.back().ms.runway);
  EXPECT_NEAR(static_cast<double>(f.spiral_live_bytes), sat / 1.05, 1024);
  EXPECT_NEAR(f.seconds_to_spiral, (sat / 1.05 - live) / kMiB, 1e-3);
  EXPECT_LT(f.seconds_to_spiral, f.seconds_to_saturation);
  for (auto& x : rd) x.ms.runway = 0;

  // No limit (math.MaxInt64), or Go 1.18 (none read): no forecast.
  for (auto& x : rd) x.ms.memory_limit = std::numeric_limits<int64_t>::max();
  forecast_gomemlimit(rd, 21, f);
  EXPECT_FALSE(f.limited);
  for (auto& x : rd) x.ms.memory_limit.reset();
  forecast_gomemlimit(rd, 18, f);
  EXPECT_FALSE(f.limited);

  // A flat live heap: a limit, no time.
  auto flat = heap_leak(0, 0);
  for (auto& x : flat) {
    x.ms.memory_limit = static_cast<int64_t>(100 * kMiB);
    x.ms.mapped_ready = static_cast<uint64_t>(x.ms.heap_marked + 15 * kMiB);
    x.ms.heap_alloc = x.ms.heap_marked;
  }
  forecast_gomemlimit(flat, 21, f);
  EXPECT_TRUE(f.limited);
  EXPECT_EQ(f.seconds_to_saturation, -1);
}

}  // namespace
}  // namespace leakhound::collect
