#include "detect/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace leakhound::detect {
namespace {

// Number of pairs i < j with v[i] < v[j] (strictly), by merge sort: when an
// element of the right half is emitted, every left element emitted before it
// is strictly smaller (equal ones are emitted after it).
uint64_t count_increasing_pairs(std::vector<double> v) {
  const size_t n = v.size();
  std::vector<double> buf(n);
  uint64_t count = 0;
  for (size_t width = 1; width < n; width *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * width) {
      const size_t mid = std::min(lo + width, n);
      const size_t hi = std::min(lo + 2 * width, n);
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        if (v[i] < v[j]) {
          buf[k++] = v[i++];
        } else {
          count += i - lo;
          buf[k++] = v[j++];
        }
      }
      while (i < mid) buf[k++] = v[i++];
      while (j < hi) {
        count += mid - lo;
        buf[k++] = v[j++];
      }
    }
    v.swap(buf);
  }
  return count;
}

double exact_median_slope(const std::vector<Point>& p) {
  std::vector<double> slopes;
  slopes.reserve(p.size() * (p.size() - 1) / 2);
  for (size_t i = 0; i < p.size(); ++i) {
    for (size_t j = i + 1; j < p.size(); ++j) {
      const double dt = p[j].t_s - p[i].t_s;
      if (dt > 0) slopes.push_back((p[j].value - p[i].value) / dt);
    }
  }
  return median(std::move(slopes));
}

// The k-th smallest pairwise slope (1-based) of time-sorted points. For pairs
// i < j with t_i < t_j, slope_ij <= s exactly when y_j <= y_i with
// y = x - s * t, so counting slopes at or below s is counting non-increasing
// pairs of y. Equal-time pairs have no slope; their contribution to that count
// does not depend on s and is subtracted once.
double kth_slope_by_bisection(const std::vector<Point>& p, uint64_t k, uint64_t same_time_le,
                              uint64_t all_pairs, double bound) {
  auto count_le = [&](double s) {
    std::vector<double> y(p.size());
    for (size_t i = 0; i < p.size(); ++i) y[i] = p[i].value - s * p[i].t_s;
    return all_pairs - count_increasing_pairs(std::move(y)) - same_time_le;
  };
  double lo = -bound, hi = bound;  // count_le(lo) < k <= count_le(hi)
  // Stop at 1e-12 relative to the answer, or far below the data's own scale
  // when the answer is near zero.
  const double floor = 1e-15 * bound;
  for (int iter = 0; iter < 300; ++iter) {
    const double mid = lo + (hi - lo) / 2;
    if (mid <= lo || mid >= hi) break;
    if (hi - lo <= std::max(1e-12 * std::max(std::fabs(lo), std::fabs(hi)), floor)) break;
    if (count_le(mid) >= k) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return hi;
}

}  // namespace

std::vector<Point> sorted_by_time(std::span<const Point> points) {
  std::vector<Point> p;
  p.reserve(points.size());
  for (const Point& q : points) {
    if (std::isfinite(q.t_s) && std::isfinite(q.value)) p.push_back(q);
  }
  std::stable_sort(p.begin(), p.end(),
                   [](const Point& a, const Point& b) { return a.t_s < b.t_s; });
  return p;
}

double normal_sf(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

MannKendall mann_kendall(std::span<const double> values) {
  std::vector<double> v;
  v.reserve(values.size());
  for (double x : values) {
    if (std::isfinite(x)) v.push_back(x);
  }
  MannKendall mk;
  mk.n = v.size();
  if (mk.n < 2) return mk;
  const double n = static_cast<double>(mk.n);

  const uint64_t increasing = count_increasing_pairs(v);
  std::sort(v.begin(), v.end());
  uint64_t tied_pairs = 0;
  double tie_term = 0;  // sum over groups of equal values of t(t-1)(2t+5)
  for (size_t i = 0; i < v.size();) {
    size_t j = i;
    while (j < v.size() && v[j] == v[i]) ++j;
    const double t = static_cast<double>(j - i);
    tied_pairs += (j - i) * (j - i - 1) / 2;
    tie_term += t * (t - 1) * (2 * t + 5);
    i = j;
  }
  const uint64_t all_pairs = mk.n * (mk.n - 1) / 2;
  const uint64_t decreasing = all_pairs - tied_pairs - increasing;
  mk.s = static_cast<double>(increasing) - static_cast<double>(decreasing);
  mk.var_s = (n * (n - 1) * (2 * n + 5) - tie_term) / 18.0;
  if (mk.var_s <= 0) return mk;  // every value equal: no evidence either way
  const double sd = std::sqrt(mk.var_s);
  if (mk.s > 0) {
    mk.z = (mk.s - 1) / sd;
  } else if (mk.s < 0) {
    mk.z = (mk.s + 1) / sd;
  }
  mk.p_value = normal_sf(mk.z);
  return mk;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + mid, v.end());
  const double upper = v[mid];
  if (v.size() % 2 == 1) return upper;
  const double lower = *std::max_element(v.begin(), v.begin() + mid);
  return lower + (upper - lower) / 2;
}

double theil_sen_slope(std::span<const Point> points, size_t exact_limit) {
  const std::vector<Point> p = sorted_by_time(points);
  if (p.size() < 2 || !(p.back().t_s > p.front().t_s)) return 0;
  if (p.size() <= exact_limit) return exact_median_slope(p);

  // Pairs at equal times: how many there are, and how many have x_j <= x_i
  // (they would be counted as "slope <= s" for every s).
  uint64_t same_time_pairs = 0, same_time_le = 0;
  double min_dt = std::numeric_limits<double>::infinity();
  double x_min = p[0].value, x_max = p[0].value;
  for (size_t i = 0; i < p.size();) {
    size_t j = i;
    while (j < p.size() && p[j].t_s == p[i].t_s) ++j;
    for (size_t a = i; a < j; ++a) {
      for (size_t b = a + 1; b < j; ++b) same_time_le += p[b].value <= p[a].value;
    }
    same_time_pairs += (j - i) * (j - i - 1) / 2;
    if (j < p.size()) min_dt = std::min(min_dt, p[j].t_s - p[i].t_s);
    i = j;
  }
  for (const Point& q : p) {
    x_min = std::min(x_min, q.value);
    x_max = std::max(x_max, q.value);
  }
  if (x_max == x_min) return 0;
  const uint64_t all_pairs = p.size() * (p.size() - 1) / 2;
  const uint64_t m = all_pairs - same_time_pairs;  // pairs that have a slope
  // No pairwise slope is steeper than the whole range over the smallest gap.
  const double bound = (x_max - x_min) / min_dt * (1 + 1e-9);
  const uint64_t k = (m + 1) / 2;
  const double kth = kth_slope_by_bisection(p, k, same_time_le, all_pairs, bound);
  if (m % 2 == 1) return kth;
  const double next = kth_slope_by_bisection(p, k + 1, same_time_le, all_pairs, bound);
  return kth + (next - kth) / 2;
}

double theil_sen_intercept(std::span<const Point> points, double slope) {
  std::vector<double> r;
  r.reserve(points.size());
  for (const Point& q : points) {
    if (std::isfinite(q.t_s) && std::isfinite(q.value)) r.push_back(q.value - slope * q.t_s);
  }
  return median(std::move(r));
}

double lag1_autocorrelation(std::span<const double> v) {
  if (v.size() < 3) return 0;
  double mean = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    den += (v[i] - mean) * (v[i] - mean);
    if (i > 0) num += (v[i] - mean) * (v[i - 1] - mean);
  }
  return den > 0 ? num / den : 0;
}

double robust_sd(std::span<const double> v) {
  if (v.empty()) return 0;
  const double m = median(std::vector<double>(v.begin(), v.end()));
  std::vector<double> dev(v.size());
  double mean_abs = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    dev[i] = std::fabs(v[i] - m);
    mean_abs += dev[i];
  }
  const double mad = median(std::move(dev));
  if (mad > 0) return 1.4826 * mad;
  // sqrt(pi/2) turns a mean absolute deviation into a normal sd.
  return 1.2533 * mean_abs / static_cast<double>(v.size());
}

}  // namespace leakhound::detect
