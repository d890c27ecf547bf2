// Trend verdicts on a time series (post-GC heap in-use bytes per stack, live
// goroutines per creation site, ...). Statistics, not a threshold on one delta:
// Mann-Kendall test for monotonic trend + Theil-Sen slope.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace leakhound::detect {

struct Point {
  double t_s = 0;    // seconds since the collection window started
  double value = 0;  // bytes, objects, goroutines, ...
};

enum class Verdict { Stable, Growing, Leak };
std::string_view to_string(Verdict v);  // "stable", "growing", "leak"

struct TrendConfig {
  size_t min_points = 6;        // fewer points: never "leak"
  double alpha = 0.01;          // significance for "leak" (one-sided MK p-value)
  double growing_alpha = 0.10;  // significance for "growing"
  double min_slope = 0;         // value units per second; below it: "stable"
  double min_relative_growth = 0.05;  // growth over the window / final value
};

struct Trend {
  Verdict verdict = Verdict::Stable;
  double slope_per_s = 0;  // Theil-Sen slope, value units per second
  double mk_s = 0;         // Mann-Kendall S statistic
  double mk_z = 0;         // normal approximation with tie correction
  double p_value = 1;      // one-sided, for an increasing trend
  double confidence = 0;   // 1 - p_value
  size_t n = 0;
};

Trend analyze(const std::vector<Point>& series, const TrendConfig& cfg);

}  // namespace leakhound::detect
