// The statistics behind trend verdicts, kept apart from the verdict logic so
// that tests can check each against hand-computed values.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "detect/trend.h"

namespace leakhound::detect {

struct MannKendall {
  double s = 0;        // sum over i<j of sign(x_j - x_i)
  double var_s = 0;    // n(n-1)(2n+5)/18 minus the tie correction
  double z = 0;        // (S -+ 1) / sqrt(var_s), continuity-corrected
  double p_value = 1;  // one-sided, for an increasing trend
  size_t n = 0;
};

// O(n log n): counts concordant pairs with a merge sort instead of comparing
// all n^2/2 pairs, so series of thousands of GC cycles stay cheap.
MannKendall mann_kendall(std::span<const double> values);

// The finite points, in time order (stable for equal times).
std::vector<Point> sorted_by_time(std::span<const Point> points);

// Upper tail of the standard normal distribution, P(Z > z).
double normal_sf(double z);

// Median of the slopes (x_j - x_i) / (t_j - t_i) over all pairs with t_i != t_j.
// Enumerates the pairs up to `exact_limit` points; above it finds the same
// order statistic by bisecting on the slope while counting pairs below it in
// O(n log n), so memory stays O(n) (5000 points would be 12.5 M slopes).
// Returns 0 when fewer than two distinct times exist.
double theil_sen_slope(std::span<const Point> points, size_t exact_limit = 400);

// Median of x_i - slope * t_i: the intercept that goes with a Theil-Sen slope.
double theil_sen_intercept(std::span<const Point> points, double slope);

// Median; 0 for an empty input. Takes a copy because it reorders.
double median(std::vector<double> v);

// Lag-1 autocorrelation of a series in index order; 0 when it has no variance.
double lag1_autocorrelation(std::span<const double> v);

// Scale of the values, robust to a few outliers: 1.4826 * MAD, falling back to
// the mean absolute deviation when more than half the values are equal.
double robust_sd(std::span<const double> v);

}  // namespace leakhound::detect
