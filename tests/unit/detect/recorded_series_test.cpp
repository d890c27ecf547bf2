// Series recorded from real targets (tests/targets/go/heapleak through
// leakhound attach), kept as regression cases for the detector.
#include <gtest/gtest.h>

#include "detect/trend.h"

namespace leakhound::detect {
namespace {

std::vector<Point> to_points(const std::vector<std::pair<double, double>>& raw) {
  std::vector<Point> p;
  for (auto [t, v] : raw) p.push_back({t, v});
  return p;
}

// Go 1.26, 1 MiB/s leak in 32 KiB objects at MemProfileRate 64 KiB, 0.5 s
// polls: a near-perfect line whose residual autocorrelation is ~1. Whitening
// the raw series (instead of its residuals) differenced the trend away and
// called this "stable".
TEST(Recorded, SteadyLeakWithCorrelatedResiduals) {
  auto s = to_points({{0.0, 166559},    {0.5, 666237},    {1.0, 1332474},   {1.5, 1748873},
                      {2.0, 2581670},   {2.5, 2914788},   {3.0, 3497746},   {3.5, 4330543},
                      {4.0, 4663661},   {4.5, 5413179},   {5.0, 5912857},   {5.5, 6329255},
                      {6.0, 6995492},   {6.5, 7661730},   {7.0, 8161408},   {7.5, 8661086},
                      {8.0, 9410603},   {8.5, 10160120},  {9.0, 10659798},  {9.5, 10992917},
                      {10.0, 11575875}, {10.5, 11908993}, {11.0, 12325392}, {11.5, 12658511},
                      {12.0, 13408028}, {12.5, 14074265}, {13.0, 14823782}, {13.5, 15823138},
                      {14.0, 16489376}, {14.5, 17155613}, {15.0, 17738571}});
  Trend t = analyze(s, TrendConfig{});
  EXPECT_EQ(t.verdict, Verdict::Leak) << t.reason;
  EXPECT_NEAR(t.slope_per_s, 1.15e6, 0.05e6);
  EXPECT_LT(t.p_value, 1e-6);
}

}  // namespace
}  // namespace leakhound::detect
