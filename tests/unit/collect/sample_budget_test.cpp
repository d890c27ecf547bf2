#include "collect/heap/sample_budget.h"

#include <gtest/gtest.h>

#include <cmath>

#include "collect/heap/heap_collector.h"

namespace leakhound::collect {
namespace {

TEST(SampleBudget, RateKeepsSamplesWithinTheBudget) {
  SampleBudget b;  // 1,000 samples/s
  for (double alloc : {1e3, 1e6, 1e7, 2.3e8, 4e9, 1e11}) {
    const int64_t r = budget_rate(alloc, b);
    EXPECT_GE(r, b.min_rate);
    EXPECT_LE(r, b.max_rate);
    EXPECT_EQ(r % 1024, 0) << r << " is not a whole KiB";
    if (r > b.min_rate && r < b.max_rate) {
      EXPECT_LE(alloc / static_cast<double>(r), b.samples_per_s) << alloc;
      EXPECT_GT(alloc / static_cast<double>(r - 1024), b.samples_per_s)
          << "not the finest " << alloc;
    }
  }
  EXPECT_EQ(budget_rate(1e7, b), 10240);     // 10 MB/s: ~977 samples/s
  EXPECT_EQ(budget_rate(2.3e8, b), 230400);  // 230 MB/s: ~998 samples/s
  EXPECT_EQ(budget_rate(4e9, b), 4000768);   // 4 GB/s: ~1,000 samples/s
  EXPECT_EQ(budget_rate(0, b), b.min_rate);  // idle: finest
  EXPECT_EQ(budget_rate(NAN, b), b.min_rate);
  EXPECT_EQ(budget_rate(1e15, b), b.max_rate);
}

TEST(SampleBudget, CostAtTheBudgetIsHalfAPercent) {
  SampleBudget b;
  for (double alloc : {1e7, 2.3e8, 4e9})
    EXPECT_LE(sampling_cost(alloc, budget_rate(alloc, b)), 0.005);
  EXPECT_NEAR(sampling_cost(4e9, 512 * 1024), 0.038, 0.001);  // the runtime's default at 4 GB/s
}

TEST(SampleBudget, RetunesOnlyOnLargeChanges) {
  SampleBudget b;
  EXPECT_FALSE(should_retune(65536, 131072, b));
  EXPECT_FALSE(should_retune(65536, 32768, b));
  EXPECT_TRUE(should_retune(65536, 262144, b));
  EXPECT_TRUE(should_retune(524288, 16384, b));
  EXPECT_FALSE(should_retune(0, 16384, b));
}

// One epoch: the same as pprof's unsampling of the whole count.
TEST(SampleBudget, OneEpochMatchesUnsample) {
  std::vector<RateEpoch> e{{0, 524288}};
  auto u = unsample_range(0, 100, 1024, {}, e);
  Unsampled want = unsample(100, 100 * 1024, 524288);
  EXPECT_DOUBLE_EQ(u.objects, want.objects);
  EXPECT_DOUBLE_EQ(u.bytes, want.bytes);
}

// A stack leaking 1 MiB/s in 32 KiB objects, 10 s at 512 KiB then 10 s at
// 64 KiB: each epoch's samples stand for 10 MiB, whatever the rate.
TEST(SampleBudget, EachSampleKeepsItsRate) {
  const double size = 32768;
  auto expected = [&](int64_t rate) {  // samples taken in 10 MiB at that rate
    return 10.0 * (1 << 20) / size * (1 - std::exp(-size / static_cast<double>(rate)));
  };
  const uint64_t n0 = static_cast<uint64_t>(std::round(expected(524288)));
  const uint64_t n1 = static_cast<uint64_t>(std::round(expected(65536)));
  std::vector<RateEpoch> e{{0, 524288}, {10, 65536}};
  std::vector<uint64_t> marks{n0};
  auto all = unsample_range(0, n0 + n1, size, marks, e);
  EXPECT_NEAR(all.bytes, 20.0 * (1 << 20), 0.02 * 20 * (1 << 20));
  // The same count unsampled at the final rate alone is far off: what
  // tracking the rate per sample is for.
  auto naive = unsample(static_cast<double>(n0 + n1), static_cast<double>(n0 + n1) * size, 65536);
  EXPECT_LT(naive.bytes, 0.8 * all.bytes);
  // Ranges split at the mark: the first epoch's objects alone, the second's alone.
  EXPECT_NEAR(unsample_range(0, n0, size, marks, e).bytes, 10.0 * (1 << 20), 0.05 * 10 * (1 << 20));
  EXPECT_NEAR(unsample_range(n0, n0 + n1, size, marks, e).bytes, 10.0 * (1 << 20),
              0.02 * 10 * (1 << 20));
  EXPECT_EQ(unsample_range(5, 5, size, marks, e).objects, 0);
}

// A bucket first seen after a switch has zero marks for the epochs before it:
// all its objects are at the later rate.
TEST(SampleBudget, BucketBornAfterASwitch) {
  std::vector<RateEpoch> e{{0, 524288}, {1, 65536}, {12, 262144}};
  auto u = unsample_range(0, 10, 4096, {0, 0}, e);
  auto want = unsample(10, 10 * 4096, 262144);
  EXPECT_DOUBLE_EQ(u.bytes, want.bytes);
  auto mid = unsample_range(0, 10, 4096, {0, 4}, e);
  auto want_mid = unsample(4, 4 * 4096, 65536);
  auto want_late = unsample(6, 6 * 4096, 262144);
  EXPECT_DOUBLE_EQ(mid.bytes, want_mid.bytes + want_late.bytes);
}

}  // namespace
}  // namespace leakhound::collect
