// The warm-up fit on exact (noise-free) series: what the corrected series is
// for churn, a leak, and a leak inside churn, with allocation rates that move.
#include "detect/warmup.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace leakhound::detect {
namespace {

struct Series {
  std::vector<Point> inuse, allocated;
};

// Expected live bytes of a stack allocating `rate(t)` bytes/s from t = 0 (the
// sampler's start), a share `kept` of it for good and the rest with
// exponential lifetimes of mean `life`; points every 0.5 s to `window`.
// `at_once`: a further share freed straight away (never in the live set).
template <class Rate>
Series simulate(Rate rate, double kept, double life, double window, double at_once = 0) {
  Series s;
  const double dt = 0.001;
  double a = 0, churn = 0, keep = 0;
  double next = 0.5;
  for (double t = dt; t <= window + 1e-9; t += dt) {
    const double b = rate(t) * dt;
    a += b;
    keep += kept * b;
    churn = churn * std::exp(-dt / life) + (1 - kept - at_once) * b;
    if (t >= next - 1e-9) {
      s.inuse.push_back({t, keep + churn});
      s.allocated.push_back({t, a});
      next += 0.5;
    }
  }
  return s;
}

double rise(const std::vector<Point>& s) { return s.back().value - s.front().value; }

TEST(Warmup, ChurnIsFlatOnceCorrected) {
  for (double life : {0.5, 3.0, 10.0}) {
    const Series s = simulate([](double) { return 1e6; }, 0, life, 30);
    const WarmupFit fit = fit_warmup(s.inuse, s.allocated);
    ASSERT_TRUE(fit.applied);
    EXPECT_LT(fit.kept_fraction, 0.02) << life;
    EXPECT_NEAR(fit.lifetime_s, life, 0.15 * life) << life;
    const std::vector<Point> c = warmup_corrected(s.inuse, fit);
    // Observed: climbs from its first point by 1e6 * life * (e^(-0.5/life)
    // - e^(-30/life)); corrected: flat within 5% of the live set.
    const double climb = 1e6 * life * (std::exp(-0.5 / life) - std::exp(-30 / life));
    EXPECT_NEAR(rise(s.inuse), climb, 0.02 * climb) << life;
    EXPECT_LT(std::fabs(rise(c)), 0.05 * 1e6 * life) << life;
  }
}

// Exact counts (native blocks) with a share freed at once: half of what a
// stack allocates freed straight away, half living 13 s (a cache of blocks
// replaced at random), in a 12 s window. The one-population fit reads its
// nearly straight fill as a kept share with short lifetimes, a leak; with
// the share freed at once fitted, nothing is kept and what lives, lives
// long. A leak next to instant churn and a leak inside 1 s churn are still
// read as what they are.
TEST(Warmup, AShareFreedAtOnceIsFittedOnExactCounts) {
  const auto rate = [](double) { return 40e3; };
  const Series ring = simulate(rate, 0, 13, 12, 0.5);
  const WarmupFit one = fit_warmup(ring.inuse, ring.allocated);
  EXPECT_GT(one.kept_fraction, 0.2);  // the misreading
  const WarmupFit three = fit_warmup(ring.inuse, ring.allocated, true, true);
  EXPECT_LT(three.kept_fraction, 0.03);
  EXPECT_NEAR(three.died_at_once, 0.5, 0.1);
  EXPECT_GT(three.lifetime_s, 0.25 * 12);  // long against the window: require_short_lifetimes
  Trend t;
  t.verdict = Verdict::Leak;
  require_short_lifetimes(t, three, 12);
  EXPECT_EQ(t.verdict, Verdict::Growing);

  const Series leak = simulate(rate, 0.3, 1, 12, 0.7);
  const WarmupFit kept = fit_warmup(leak.inuse, leak.allocated, true, true);
  EXPECT_NEAR(kept.kept_fraction, 0.3, 0.01);
  EXPECT_NEAR(kept.died_at_once, 0.7, 0.02);
  t.verdict = Verdict::Leak;
  require_short_lifetimes(t, kept, 12);
  EXPECT_EQ(t.verdict, Verdict::Leak);

  const Series inside = simulate(rate, 0.0625, 1, 12);
  const WarmupFit churn = fit_warmup(inside.inuse, inside.allocated, true, true);
  EXPECT_NEAR(churn.kept_fraction, 0.0625, 0.005);
  EXPECT_LT(churn.died_at_once, 0.05);
  EXPECT_NEAR(churn.lifetime_s, 1, 0.15);
}

TEST(Warmup, KeptObjectsAreLeftAsTheyAre) {
  const Series s = simulate([](double) { return 64e3; }, 1, 1, 30);
  const WarmupFit fit = fit_warmup(s.inuse, s.allocated);
  EXPECT_NEAR(fit.kept_fraction, 1, 1e-6);
  const std::vector<Point> c = warmup_corrected(s.inuse, fit);
  for (size_t i = 0; i < c.size(); ++i) EXPECT_DOUBLE_EQ(c[i].value, s.inuse[i].value);
}

TEST(Warmup, ALeakInsideChurnKeepsItsSlope) {
  // 1 MiB/s, 6% kept (~64 KiB/s), the rest living 2 s.
  const Series s = simulate([](double) { return 1 << 20; }, 0.0625, 2, 30);
  const WarmupFit fit = fit_warmup(s.inuse, s.allocated);
  EXPECT_NEAR(fit.kept_fraction, 0.0625, 0.005);
  EXPECT_NEAR(fit.lifetime_s, 2, 0.3);
  const std::vector<Point> c = warmup_corrected(s.inuse, fit);
  const double slope =
      (c.back().value - c[c.size() / 2].value) / (c.back().t_s - c[c.size() / 2].t_s);
  EXPECT_NEAR(slope, 65536, 0.05 * 65536);
  // The first half too: the warm-up is gone, not only outgrown.
  const double first =
      (c[c.size() / 2].value - c.front().value) / (c[c.size() / 2].t_s - c.front().t_s);
  EXPECT_NEAR(first, 65536, 0.15 * 65536);
}

TEST(Warmup, AllocationRateThatMovesIsFollowed) {
  // Churn whose allocation rate doubles at 15 s: its live set doubles too,
  // which is not a leak and should not be corrected away or added to.
  const Series s = simulate([](double t) { return t < 15 ? 5e5 : 1e6; }, 0, 1, 30);
  const WarmupFit fit = fit_warmup(s.inuse, s.allocated);
  EXPECT_LT(fit.kept_fraction, 0.02);
  EXPECT_NEAR(fit.lifetime_s, 1, 0.15);
}

TEST(Warmup, LongLifetimesStopAtGrowing) {
  Trend t;
  t.verdict = Verdict::Leak;
  WarmupFit fit;
  fit.applied = true;
  fit.kept_fraction = 0.1;
  fit.lifetime_s = 12;
  require_short_lifetimes(t, fit, 30);
  EXPECT_EQ(t.verdict, Verdict::Growing);
  EXPECT_FALSE(t.reason.empty());
  t.verdict = Verdict::Leak;
  fit.kept_fraction = 0.9;  // mostly kept: a leak whatever the rest does
  require_short_lifetimes(t, fit, 30);
  EXPECT_EQ(t.verdict, Verdict::Leak);
  fit.kept_fraction = 0.1;
  fit.lifetime_s = 2;  // short against the window
  require_short_lifetimes(t, fit, 30);
  EXPECT_EQ(t.verdict, Verdict::Leak);
}

TEST(Warmup, TooLittleToFit) {
  EXPECT_FALSE(fit_warmup({}, {}).applied);
  std::vector<Point> a = {{1, 0}, {2, 0}, {3, 0}, {4, 0}};
  EXPECT_FALSE(fit_warmup(a, a).applied);  // nothing allocated
  std::vector<Point> b = {{1, 1}, {2, 2}};
  EXPECT_FALSE(fit_warmup(b, b).applied);
}

}  // namespace
}  // namespace leakhound::detect
