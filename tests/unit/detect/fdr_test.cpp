// Benjamini-Hochberg over many verdicts: the cutoff against hand-computed
// values, and the share of false leaks among many null series.
#include "detect/fdr.h"

#include <gtest/gtest.h>

#include <random>

namespace leakhound::detect {
namespace {

TEST(Fdr, CutoffByHand) {
  // m = 10, q = 0.05: k/m q = 0.005, 0.01, 0.015, ...; p_(3) = 0.012 <= 0.015
  // is the largest that passes (p_(4) = 0.03 > 0.02).
  const std::vector<double> p = {0.5, 0.001, 0.03, 0.008, 0.012, 0.9, 0.2, 0.6, 0.04, 0.7};
  EXPECT_DOUBLE_EQ(bh_cutoff(p, 0.05), 0.012);
  EXPECT_DOUBLE_EQ(bh_cutoff(std::vector<double>{0.2, 0.3}, 0.05), 0.0);
  EXPECT_DOUBLE_EQ(bh_cutoff(std::vector<double>{}, 0.05), 0.0);
  // Non-finite p-values count as 1, never as a discovery.
  EXPECT_DOUBLE_EQ(bh_cutoff(std::vector<double>{NAN, 0.001}, 0.05), 0.001);
}

TEST(Fdr, DemotesLeaksAboveTheCutoffAndKeepsAlphaAsCeiling) {
  std::vector<Trend> t(4);
  t[0].verdict = Verdict::Leak, t[0].p_value = 1e-6;
  t[1].verdict = Verdict::Leak, t[1].p_value = 0.002;
  t[2].verdict = Verdict::Growing, t[2].p_value = 0.05;
  t[3].verdict = Verdict::Stable, t[3].p_value = 0.9;
  std::vector<Trend*> all = {&t[0], &t[1], &t[2], &t[3]};
  // Sorted: 1e-6 <= 0.0125, 0.002 <= 0.025: both pass; cutoff 0.002.
  FdrResult r = control_false_leaks(all, 0.003, {0.05});
  EXPECT_EQ(r.judged, 4u);
  EXPECT_DOUBLE_EQ(r.threshold, 0.002);
  EXPECT_EQ(r.leaks, 2u);
  EXPECT_DOUBLE_EQ(r.false_leaks_bound(), 0.1);
  EXPECT_DOUBLE_EQ(r.false_leaks_if_none(), 0.008);
  // 10,000 more series with p = 0.5: the cutoff drops to what 1e-6 passes alone.
  std::vector<Trend> nulls(10000);
  for (auto& n : nulls) n.p_value = 0.5;
  for (auto& n : nulls) all.push_back(&n);
  r = control_false_leaks(all, 0.003, {0.05});
  EXPECT_DOUBLE_EQ(r.threshold, 1e-6);
  EXPECT_EQ(r.leaks, 1u);
  EXPECT_EQ(t[1].verdict, Verdict::Growing);
  EXPECT_EQ(t[0].verdict, Verdict::Leak);
}

// 5,000 null series with uniform p-values and "leak" wherever p <= alpha (a
// detector that trusts its per-series alpha: ~15 false leaks), plus 20 real
// leaks with tiny p-values. BH must bring the share of false leaks among
// those reported (the false-discovery rate) to q = 5% on average.
TEST(Fdr, FalseLeaksAmongManyNullSeries) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  size_t true_total = 0;
  double fdr_sum = 0;
  constexpr int kRuns = 100;
  for (int run = 0; run < kRuns; ++run) {
    std::vector<Trend> t(5020);
    for (size_t i = 0; i < t.size(); ++i) {
      t[i].p_value = i < 20 ? 1e-7 * u(rng) : u(rng);
      t[i].verdict = t[i].p_value <= 0.003 ? Verdict::Leak : Verdict::Stable;
    }
    size_t naive_false = 0;
    for (size_t i = 20; i < t.size(); ++i) naive_false += t[i].verdict == Verdict::Leak;
    EXPECT_GT(naive_false, 5u);
    std::vector<Trend*> all;
    for (auto& x : t) all.push_back(&x);
    control_false_leaks(all, 0.003, {0.05});
    size_t false_leaks = 0, leaks = 0;
    for (size_t i = 0; i < t.size(); ++i) {
      leaks += t[i].verdict == Verdict::Leak;
      false_leaks += i >= 20 && t[i].verdict == Verdict::Leak;
    }
    true_total += leaks - false_leaks;
    fdr_sum += static_cast<double>(false_leaks) / static_cast<double>(leaks);
  }
  EXPECT_EQ(true_total, 20u * kRuns);
  // Theory: q * m0 / m = 0.0498; 100 runs put the mean within ~0.01 of it.
  EXPECT_LE(fdr_sum / kRuns, 0.07);
}

}  // namespace
}  // namespace leakhound::detect
