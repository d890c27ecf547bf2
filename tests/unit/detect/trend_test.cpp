// Trend statistics against hand-computed values, and verdicts on synthetic
// heap series whose shapes the detector must tell apart. Rates are measured
// over fixed seeds, so each run is deterministic.
#include "detect/trend.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>

#include "detect/stats.h"

namespace leakhound::detect {
namespace {

std::vector<Point> evenly(std::vector<double> values, double gap = 1) {
  std::vector<Point> p;
  for (size_t i = 0; i < values.size(); ++i) p.push_back({gap * static_cast<double>(i), values[i]});
  return p;
}

// ---- Mann-Kendall by hand ------------------------------------------------

TEST(MannKendall, StrictlyIncreasing) {
  // [1,2,3,4,5]: all 10 pairs increase, S = 10.
  // Var = n(n-1)(2n+5)/18 = 5*4*15/18 = 16.667.
  // Z = (S - 1)/sqrt(Var) = 9/4.0825 = 2.2045; p = 1 - Phi(2.2045) = 0.01374.
  const std::vector<double> v{1, 2, 3, 4, 5};
  const MannKendall mk = mann_kendall(v);
  EXPECT_EQ(mk.s, 10);
  EXPECT_NEAR(mk.var_s, 300.0 / 18, 1e-12);
  EXPECT_NEAR(mk.z, 2.2045, 1e-4);
  EXPECT_NEAR(mk.p_value, 0.01374, 1e-5);
}

// Six strictly rising points cannot pass alpha 0.003 (p 0.0043), seven can.
TEST(PointsForLeak, TheFewestOnWhichALeakIsReachable) {
  TrendConfig cfg;
  EXPECT_EQ(points_for_leak(cfg), 7u);
  for (size_t n : {6u, 7u}) {
    std::vector<double> v;
    for (size_t i = 0; i < n; ++i) v.push_back(static_cast<double>(i + 1) * 1e6);
    EXPECT_EQ(analyze(evenly(v), cfg).verdict == Verdict::Leak, n == 7) << n << " points";
  }
  cfg.alpha = 0.01;
  EXPECT_EQ(points_for_leak(cfg), 6u);  // min_points
  cfg.min_points = 10;
  EXPECT_EQ(points_for_leak(cfg), 10u);
}

TEST(MannKendall, StrictlyDecreasing) {
  // S = -10; Z = (S + 1)/4.0825 = -2.2045; p = Phi(2.2045) = 0.98626.
  const std::vector<double> v{5, 4, 3, 2, 1};
  const MannKendall mk = mann_kendall(v);
  EXPECT_EQ(mk.s, -10);
  EXPECT_NEAR(mk.z, -2.2045, 1e-4);
  EXPECT_NEAR(mk.p_value, 0.98626, 1e-5);
}

TEST(MannKendall, TiesReduceVariance) {
  // [1,2,2,3]: pairs (1,2)+ (1,2)+ (1,3)+ (2,2)0 (2,3)+ (2,3)+, S = 5.
  // One tie group of t=2: Var = (4*3*13 - 2*1*9)/18 = (156 - 18)/18 = 7.6667.
  // Z = (5 - 1)/sqrt(7.6667) = 1.4446.
  const std::vector<double> v{1, 2, 2, 3};
  const MannKendall mk = mann_kendall(v);
  EXPECT_EQ(mk.s, 5);
  EXPECT_NEAR(mk.var_s, 138.0 / 18, 1e-12);
  EXPECT_NEAR(mk.z, 4 / std::sqrt(138.0 / 18), 1e-12);
  EXPECT_NEAR(mk.z, 1.4446, 1e-4);
}

TEST(MannKendall, MixedWithTies) {
  // [3,1,4,1,5]: increasing pairs (3,4)(3,5)(1,4)(1,5)(4,5)(1,5) = 6,
  // decreasing (3,1)(3,1)(4,1) = 3, tied (1,1): S = 3.
  // Var = (5*4*15 - 2*1*9)/18 = 282/18 = 15.667; Z = 2/3.9581 = 0.50529.
  const std::vector<double> v{3, 1, 4, 1, 5};
  const MannKendall mk = mann_kendall(v);
  EXPECT_EQ(mk.s, 3);
  EXPECT_NEAR(mk.var_s, 282.0 / 18, 1e-12);
  EXPECT_NEAR(mk.z, 0.50529, 1e-5);
}

TEST(MannKendall, AllEqualHasNoEvidence) {
  const std::vector<double> v{7, 7, 7, 7};
  const MannKendall mk = mann_kendall(v);
  EXPECT_EQ(mk.s, 0);
  EXPECT_EQ(mk.var_s, 0);  // 4*3*13 - 4*3*13
  EXPECT_EQ(mk.p_value, 1);
}

TEST(MannKendall, MergeSortCountMatchesBruteForce) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> val(0, 20);  // many ties
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<double> v(1 + trial * 7);
    for (double& x : v) x = val(rng);
    double s = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      for (size_t j = i + 1; j < v.size(); ++j) s += (v[j] > v[i]) - (v[j] < v[i]);
    }
    EXPECT_EQ(mann_kendall(v).s, s) << "n=" << v.size();
  }
}

// ---- Theil-Sen by hand -------------------------------------------------------

TEST(TheilSen, SmallSeriesByHand) {
  // (0,1) (1,3) (2,2) (3,5): pairwise slopes 2, 0.5, 4/3, -1, 1, 3;
  // sorted -1, 0.5, 1, 1.333, 2, 3: median = (1 + 4/3)/2 = 7/6.
  const std::vector<Point> p{{0, 1}, {1, 3}, {2, 2}, {3, 5}};
  EXPECT_NEAR(theil_sen_slope(p), 7.0 / 6, 1e-12);
  // Intercept: median of x - 7/6 t = {1, 1.833, -0.333, 1.5} -> (1 + 1.5)/2.
  EXPECT_NEAR(theil_sen_intercept(p, 7.0 / 6), 1.25, 1e-12);
}

TEST(TheilSen, IrregularSpacing) {
  // (0,0) (1,2) (3,3): slopes 2/1, 3/3, 1/2 -> median 1.
  const std::vector<Point> p{{0, 0}, {1, 2}, {3, 3}};
  EXPECT_DOUBLE_EQ(theil_sen_slope(p), 1);
}

TEST(TheilSen, RobustToOneOutlier) {
  std::vector<Point> p = evenly({0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  p[9].value = 1000;
  EXPECT_NEAR(theil_sen_slope(p), 1, 1e-12);
}

TEST(TheilSen, BisectionMatchesEnumeration) {
  std::mt19937 rng(11);
  std::normal_distribution<double> noise(0, 50);
  std::exponential_distribution<double> gap(2);
  for (size_t n : {37u, 400u, 1001u}) {
    std::vector<Point> p;
    double t = 0;
    for (size_t i = 0; i < n; ++i) {
      p.push_back({t, 3 * t + noise(rng)});
      t += gap(rng);
    }
    p.push_back(p.back());  // an equal-time pair, which has no slope
    const double exact = theil_sen_slope(p, std::numeric_limits<size_t>::max());
    const double bisected = theil_sen_slope(p, 0);
    EXPECT_NEAR(bisected, exact, 1e-9 * std::fabs(exact)) << "n=" << n;
  }
}

TEST(Stats, MedianAndScale) {
  EXPECT_EQ(median({}), 0);
  EXPECT_EQ(median({3, 1, 2}), 2);
  EXPECT_EQ(median({4, 1, 3, 2}), 2.5);
  // MAD of {1,2,3,4,100} around 3 is median{2,1,0,1,97} = 1.
  const std::vector<double> v{1, 2, 3, 4, 100};
  EXPECT_NEAR(robust_sd(v), 1.4826, 1e-12);
  const std::vector<double> alt{1, -1, 1, -1, 1, -1};
  EXPECT_LT(lag1_autocorrelation(alt), -0.8);
}

// ---- analyze: edge cases ---------------------------------------------------

TEST(Analyze, EmptyOneAndTwoPointsAreStable) {
  const TrendConfig cfg;
  EXPECT_EQ(analyze({}, cfg).verdict, Verdict::Stable);
  EXPECT_EQ(analyze({}, cfg).n, 0u);
  EXPECT_EQ(analyze({{0, 5}}, cfg).verdict, Verdict::Stable);
  EXPECT_EQ(analyze({{0, 5}, {1, 500}}, cfg).verdict, Verdict::Stable);
}

TEST(Analyze, ConstantSeriesIsStable) {
  const Trend tr = analyze(evenly(std::vector<double>(50, 4096)), TrendConfig{});
  EXPECT_EQ(tr.verdict, Verdict::Stable);
  EXPECT_EQ(tr.slope_per_s, 0);
  EXPECT_EQ(tr.p_value, 1);
  EXPECT_EQ(tr.relative_growth, 0);
}

TEST(Analyze, PerfectLineIsALeakWithFiniteNumbers) {
  // No noise: S = 10 as above, slope exactly 1, scatter 0 (ratio capped).
  const Trend tr = analyze(evenly({10, 11, 12, 13, 14, 15, 16, 17}), TrendConfig{});
  EXPECT_EQ(tr.verdict, Verdict::Leak);
  EXPECT_EQ(tr.mk_s, 28);
  EXPECT_DOUBLE_EQ(tr.slope_per_s, 1);
  EXPECT_NEAR(tr.relative_growth, 7.0 / 17, 1e-12);
  EXPECT_TRUE(std::isfinite(tr.signal_to_noise));
  EXPECT_EQ(tr.reason, "");
}

TEST(Analyze, FivePointsAreTooFewForALeak) {
  const Trend tr = analyze(evenly({1, 2, 3, 4, 5}), TrendConfig{});
  EXPECT_EQ(tr.mk_s, 10);
  EXPECT_NEAR(tr.p_value, 0.01374, 1e-5);
  EXPECT_NE(tr.verdict, Verdict::Leak);
}

TEST(Analyze, IgnoresNonFiniteAndMergesEqualTimes) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<Point> p = evenly({1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  p.push_back({nan, 1});
  p.push_back({3, nan});
  p.push_back({4, inf});
  p.push_back({9, 10});  // same time as (9, 10): merged to one point
  const Trend tr = analyze(p, TrendConfig{});
  EXPECT_EQ(tr.n, 10u);
  EXPECT_EQ(tr.verdict, Verdict::Leak);
  for (double v : {tr.slope_per_s, tr.mk_z, tr.p_value, tr.signal_to_noise, tr.relative_growth}) {
    EXPECT_TRUE(std::isfinite(v));
  }
  EXPECT_EQ(analyze({{nan, nan}, {inf, 1}}, TrendConfig{}).n, 0u);
}

TEST(Analyze, UnsortedInputIsSortedByTime) {
  std::vector<Point> p = evenly({1, 2, 3, 4, 5, 6, 7, 8});
  std::reverse(p.begin(), p.end());
  EXPECT_EQ(analyze(p, TrendConfig{}).mk_s, 28);
}

// A daemon's 10-minute window at a fast interval: judged like a short one.
// (Its speed, 34 ms at -O2 here, is not asserted: machines are noisy.)
TEST(Analyze, LongSeries) {
  std::mt19937 rng(3);
  std::normal_distribution<double> noise(0, 10);
  std::vector<Point> p;
  for (int i = 0; i < 5000; ++i) p.push_back({i * 0.5, 1000 + 0.1 * i + noise(rng)});
  const Trend tr = analyze(p, TrendConfig{});
  EXPECT_EQ(tr.verdict, Verdict::Leak);
  EXPECT_NEAR(tr.slope_per_s, 0.2, 0.01);
}

TEST(Analyze, VerdictNames) {
  EXPECT_EQ(to_string(Verdict::Leak), "leak");
  EXPECT_EQ(to_string(Verdict::Growing), "growing");
  EXPECT_EQ(to_string(Verdict::Stable), "stable");
}

}  // namespace
}  // namespace leakhound::detect
