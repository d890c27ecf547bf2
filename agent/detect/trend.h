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

// Expected samples a sampled leak needs to be called one in its window: a
// leak of objects smaller than the sampling rate brings (leak bytes / rate)
// samples, and on the sparse generators of
// tests/unit/detect/sparse_power_test.cpp detection depends on that count
// alone, whatever the rate and window: ~25% at 7.5, ~82% at 15, 100% at 30,
// and 96.5-98% at 20 (pinned at >= 90%). It was 25 while heap points were
// timed at the GC that published them, whose jitter cost power.
inline constexpr double kSamplesForLeak = 20;

// Defaults and the reasoning behind them: see trend.cpp (analyze) and
// tests/unit/detect/trend_shapes_test.cpp, which pins detection and
// false-positive rates on synthetic heap series.
struct TrendConfig {
  size_t min_points = 6;  // fewer points: never "leak"
  // Significance for "leak" (one-sided p-value). 0.003 rather than 0.01: with
  // the other conditions it keeps sampled random walks under 1% "leak"; a
  // steady leak over 30 points has p far below it.
  double alpha = 0.003;
  double growing_alpha = 0.10;        // significance for "growing"
  double min_slope = 0;               // value units per second; below it: "stable"
  double min_relative_growth = 0.05;  // growth over the window / final value
  // Growth over the window divided by the robust scatter around the Theil-Sen
  // line. Unlike the p-value it does not improve with more points, so a long
  // sawtooth or a wandering (autocorrelated) series cannot reach it.
  double min_signal_to_noise = 2.0;  // for "leak"
  // For "growing": 1.5, as sampling alone makes the teeth of a sampled
  // sawtooth differ enough to pass 1.0 in ~2% of windows (trend_shapes_test).
  double growing_min_signal_to_noise = 1.5;
  // Each half of the window must keep this share of the full-window slope
  // ("leak": both halves; "growing": the second half), so plateaus after a
  // warm-up and one-off steps do not count as leaks.
  double min_half_slope_ratio = 0.25;
  // Remove the lag-1 autocorrelation (estimated on the residuals around the
  // Theil-Sen line) before the MK test, whose p-value assumes independence.
  bool prewhiten = true;
  // From this (bias-corrected) lag-1 autocorrelation on, the series may be a
  // random walk: the drift test must agree too (see trend.cpp).
  double random_walk_ar1 = 0.6;
};

struct Trend {
  Verdict verdict = Verdict::Stable;
  double slope_per_s = 0;         // Theil-Sen slope, value units per second
  double mk_s = 0;                // Mann-Kendall S statistic
  double mk_z = 0;                // normal approximation with tie correction
  double p_value = 1;             // one-sided, for an increasing trend (the larger
                                  // of MK's and the drift test's when both ran)
  double confidence = 0;          // 1 - p_value
  size_t n = 0;                   // points used (finite, distinct times)
  double mk_var = 0;              // variance of S under no trend, tie-corrected
  double ar1 = 0;                 // lag-1 autocorrelation removed before the MK test (0: none)
  double relative_growth = 0;     // slope * window / |last value|
  double retained_fraction = -1;  // growth / allocated in the window (-1: not applied)
  double signal_to_noise = 0;     // slope * window / robust scatter around the fit
  double first_half_slope_per_s = 0;
  double second_half_slope_per_s = 0;
  double drift_z = 0;       // z of the random-walk drift test (0: not run)
  std::string_view test;    // which significance test produced p_value
  std::string_view reason;  // why the verdict is not one step higher ("" for leak)
};

Trend analyze(const std::vector<Point>& series, const TrendConfig& cfg);

// The fewest points on which a leak verdict is reachable at all: at least
// cfg.min_points, and enough that a strictly rising series passes the
// Mann-Kendall test at cfg.alpha (7 at the defaults: 6 rising points give p
// 0.0043). A judged span shorter than this cannot be called a leak, whatever
// it shows.
size_t points_for_leak(const TrendConfig& cfg);

// For heap series: a stack that keeps what it allocates grows by a fair share
// of its allocations; a stack that churns (allocates much, frees it all) only
// looks like it grows when the window happens to start and end at different
// points of its GC cycles, by a tiny share of its allocations, which shrinks as
// the window gets longer. Below min_fraction the verdict drops to stable.
void require_retention(Trend& t, double allocated_in_window, double window_s, double min_fraction);

// For exact counts (goroutines, fds, threads): growth over the window below
// min_growth (in the series' units) is too little to call, however regular.
void require_min_growth(Trend& t, double window_s, double min_growth);

// Drops the points before `cutoff` (seconds): the rolling window of every
// capability's series.
void trim_series(std::vector<Point>& series, double cutoff);

}  // namespace leakhound::detect
