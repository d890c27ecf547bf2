// False-discovery control over many trend verdicts judged at once (thousands
// of heap stacks and their callers): Benjamini-Hochberg on the verdicts'
// p-values, so that the share of false leaks among those reported stays
// below q whatever the number of series, where a fixed per-series alpha would
// let m * alpha of them through.
#pragma once

#include <cstddef>
#include <span>

#include "detect/trend.h"

namespace leakhound::detect {

struct FdrConfig {
  double q = 0.05;  // expected share of false leaks among the leaks reported
};

struct FdrResult {
  size_t judged = 0;     // p-values the threshold was chosen over
  double q = 0;          // the target false-discovery rate
  double threshold = 0;  // p-value cutoff for "leak": min(alpha, BH cutoff)
  size_t leaks = 0;      // verdicts left "leak" after the cutoff
  // Expected false leaks the thresholds allow: q * leaks (BH's bound), and
  // judged * threshold if nothing leaked at all (the per-series bound).
  double false_leaks_bound() const;
  double false_leaks_if_none() const { return static_cast<double>(judged) * threshold; }
};

// The Benjamini-Hochberg cutoff: the largest p_(k) with p_(k) <= k q / m over
// the sorted p-values; 0 when no p-value passes.
double bh_cutoff(std::span<const double> p_values, double q);

// Chooses the cutoff over every trend and demotes the "leak" verdicts above it
// to "growing". `alpha` (TrendConfig::alpha) stays a ceiling: BH never lets a
// verdict through that the single-series test refused.
FdrResult control_false_leaks(std::span<Trend* const> trends, double alpha, const FdrConfig& cfg);

}  // namespace leakhound::detect
