#include "detect/trend.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "detect/stats.h"

namespace leakhound::detect {
namespace {

// Ratios are reported in JSON; keep them finite even for a noiseless series.
constexpr double kRatioCap = 1e12;

double capped_ratio(double num, double den) {
  if (den <= 0 || !std::isfinite(num)) return 0;
  return std::clamp(num / den, -kRatioCap, kRatioCap);
}

// Finite points in time order; points sharing a timestamp are one observation
// (their mean), so every pair has a slope and the series has no zero gaps.
std::vector<Point> clean(const std::vector<Point>& series) {
  const std::vector<Point> p = sorted_by_time(series);
  std::vector<Point> out;
  out.reserve(p.size());
  for (size_t i = 0; i < p.size();) {
    size_t j = i;
    double sum = 0;
    while (j < p.size() && p[j].t_s == p[i].t_s) sum += p[j++].value;
    out.push_back({p[i].t_s, sum / static_cast<double>(j - i)});
    i = j;
  }
  return out;
}

struct TestResult {
  MannKendall mk;
  double ar1 = 0;
  double p_value = 1;
  double drift_z = 0;
  std::string_view name;
};

// Drift test for a random walk observed with level noise: a slowly turning
// over live set seen through the sampler, or a leak's own counting process
// plus short-lived objects. Increments of such a series are MA(1): the walk
// adds q per step to their variance; level noise adds 2 s2 to the variance
// and -s2 to the lag-1 covariance. So q = var + 2 cov (the increments'
// long-run variance, as in a Newey-West t-test with one lag) and s2 = -cov.
// The statistic compares the means of the first and last quarter,
// D = mean(last) - mean(first), whose variance under "no drift" is
// q * (steps between the quarters + m/6 for averaging a walk over a block)
// + 2 s2 / m. The increments telescope, so a sawtooth's fills and flushes
// cancel. More covariance lags caught short-lived churn better but let more
// driftless walks through (tuned on the trend_test.cpp generators).
double drift_z(const std::vector<Point>& p) {
  const size_t n = p.size();
  const size_t m = std::max<size_t>(2, n / 4);
  // In time, not in points: heap series are timed at GC cycles, which a
  // growing heap spaces out, so a steady leak's increments grow with their
  // intervals. Each increment is centred on the drift over its own interval
  // and scaled to the mean interval tau; equally spaced points give exactly
  // the plain increments.
  const double span = p.back().t_s - p.front().t_s;
  const double tau = span / static_cast<double>(n - 1);
  const bool timed = tau > 0;
  const double drift_per_s = timed ? (p.back().value - p.front().value) / span : 0;
  std::vector<double> d(n - 1);
  double mean = 0;
  for (size_t i = 1; i < n; ++i) {
    const double dv = p[i].value - p[i - 1].value;
    const double dt = p[i].t_s - p[i - 1].t_s;
    d[i - 1] = timed && dt > 0 ? (dv - drift_per_s * dt) / std::sqrt(dt / tau) : dv;
    mean += d[i - 1];
  }
  mean /= static_cast<double>(d.size());
  double g0 = 0, g1 = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    g0 += (d[i] - mean) * (d[i] - mean);
    if (i > 0) g1 += (d[i] - mean) * (d[i - 1] - mean);
  }
  g0 /= static_cast<double>(d.size());
  g1 /= static_cast<double>(d.size());
  const double q = std::max(g0 + 2 * g1, 0.0);
  const double s2 = std::clamp(-g1, 0.0, g0 / 2);
  double first = 0, last = 0, first_t = 0, last_t = 0;
  for (size_t i = 0; i < m; ++i) {
    first += p[i].value;
    last += p[n - m + i].value;
    first_t += p[i].t_s;
    last_t += p[n - m + i].t_s;
  }
  const double md = static_cast<double>(m);
  const double diff = (last - first) / md;
  // Steps of tau between the quarters' mean times: n - m when equally spaced.
  const double steps = timed ? (last_t - first_t) / md / tau : static_cast<double>(n - m);
  const double var = q * (steps + md / 6) + 2 * s2 / md;
  if (!(var > 0)) return diff > 0 ? 1e6 : (diff < 0 ? -1e6 : 0);
  return diff / std::sqrt(var);
}

TestResult test_for_rise(const std::vector<Point>& p, const std::vector<double>& x,
                         const std::vector<double>& resid, double slope, const TrendConfig& cfg) {
  TestResult r;
  r.mk = mann_kendall(x);
  r.p_value = r.mk.p_value;
  r.name = "mann-kendall";
  const double n = static_cast<double>(x.size());
  const double r1 = lag1_autocorrelation(resid);
  // 1.645 / sqrt(n): the one-sided 5% bound of a lag-1 autocorrelation of
  // independent noise; below it, pre-whitening would only cost power.
  if (!cfg.prewhiten || n < 8 || r1 <= 1.645 / std::sqrt(n)) return r;
  // Lag-1 autocorrelation of detrended residuals is biased low by about
  // (2 + 8 phi) / n (2/n for white noise, ~10/n for a random walk: the
  // Dickey-Fuller bias with a fitted trend); undo it where n allows.
  r.ar1 = n >= 16 ? std::clamp((n * r1 + 2) / (n - 8), 0.0, 1.0) : r1;
  // Trend-free pre-whitening (Yue et al. 2002): whiten the residuals around
  // the Theil-Sen line, then add the line back. Whitening the raw series
  // instead would difference a steady leak (its lag-1 autocorrelation is ~1)
  // into noise and hide exactly the trend being tested.
  std::vector<double> y(x.size() - 1);
  for (size_t i = 1; i < x.size(); ++i)
    y[i - 1] = resid[i] - r.ar1 * resid[i - 1] + slope * p[i].t_s;
  r.mk = mann_kendall(y);
  r.p_value = r.mk.p_value;
  r.name = "mann-kendall, pre-whitened";
  if (r.ar1 >= cfg.random_walk_ar1) {
    r.drift_z = drift_z(p);
    r.p_value = std::max(r.p_value, normal_sf(r.drift_z));
    r.name = "mann-kendall, pre-whitened, and random-walk drift";
  }
  return r;
}

}  // namespace

size_t points_for_leak(const TrendConfig& cfg) {
  for (size_t n = std::max<size_t>(cfg.min_points, 3); n < 1000; ++n) {
    // S and its variance for n distinct, strictly increasing points.
    const double nn = static_cast<double>(n);
    const double s = nn * (nn - 1) / 2;
    const double var = nn * (nn - 1) * (2 * nn + 5) / 18;
    if (normal_sf((s - 1) / std::sqrt(var)) <= cfg.alpha) return n;
  }
  return 1000;
}

std::string_view to_string(Verdict v) {
  switch (v) {
    case Verdict::Leak:
      return "leak";
    case Verdict::Growing:
      return "growing";
    case Verdict::Stable:
      break;
  }
  return "stable";
}

// Why each condition is there (each one alone lets some non-leak through):
//
// - Significance (p_value): is there a monotonic rise at all? Mann-Kendall is
//   rank-based, so one huge GC outlier neither creates nor hides a trend. But
//   it assumes independent points, and heap series are not: a live set that
//   turns over slowly (objects living for many GC cycles), seen through the
//   runtime's Poisson sampler, wanders like a random walk, and plain MK calls
//   a random walk "significant" far more often than alpha. So the lag-1
//   autocorrelation of the residuals around the Theil-Sen line is estimated
//   (bias-corrected) and, when significantly positive, removed first
//   (x_i - r * x_{i-1}, pre-whitening). Near a random walk (r >= 0.6) that
//   does not suffice, and the random-walk drift test (drift_z) must agree as
//   well. A leak with independent noise has r near 0 and keeps MK's full
//   power; a sampled leak (a counting process: a random walk with drift) is
//   caught by the drift test. Short series (below ~30 points) cannot tell a
//   wandering series from a trend; they lean on the other conditions.
// - Signal-to-noise: growth over the window / robust scatter around the fit.
//   The MK p-value of any structured series keeps shrinking with more points;
//   a cache filling and flushing (sawtooth) has a positive S from the pairs
//   inside each tooth, so a long sawtooth ends up "significant". Its
//   Theil-Sen growth over the window stays small next to the tooth height,
//   whatever the length, while a leak's growth dominates its scatter.
// - Halves: a warm-up that rises then plateaus, or a single step, is
//   significant over the whole window but flat in (at least) one half. A leak
//   keeps growing throughout, so both halves must keep a share of the
//   full-window slope. "growing" asks it of the second half only, which lets a
//   leak that began mid-window show up without calling a finished warm-up one.
// - Relative growth: with thousands of points even a 0.1% drift is
//   significant; below a few percent of the final size it is not worth a
//   report line.
// The TrendConfig defaults were tuned on trend_test.cpp's generators (leaks
// with noise, sampled leaks, plateaus, steps, sawtooth, bursts, jitter,
// sampled random walks), which pin the detection and false-positive rates.
Trend analyze(const std::vector<Point>& series, const TrendConfig& cfg) {
  Trend tr;
  const std::vector<Point> p = clean(series);
  tr.n = p.size();
  if (tr.n < 3) {
    tr.reason = "fewer than three points";
    return tr;
  }
  std::vector<double> x(tr.n);
  double scale = 0;
  for (size_t i = 0; i < tr.n; ++i) {
    x[i] = p[i].value;
    scale = std::max(scale, std::fabs(x[i]));
  }
  const double span_s = p.back().t_s - p.front().t_s;

  tr.slope_per_s = theil_sen_slope(p);
  const double intercept = theil_sen_intercept(p, tr.slope_per_s);
  std::vector<double> resid(tr.n);
  for (size_t i = 0; i < tr.n; ++i) resid[i] = x[i] - (intercept + tr.slope_per_s * p[i].t_s);
  // A noiseless line has zero scatter; a floor tied to the data's magnitude
  // keeps the ratio finite.
  const double noise = std::max(robust_sd(resid), 1e-9 * scale);
  const double rise = tr.slope_per_s * span_s;
  tr.signal_to_noise = capped_ratio(rise, noise);
  tr.relative_growth = capped_ratio(rise, std::max(std::fabs(x.back()), 1e-9 * scale));

  const size_t half = tr.n / 2;
  const std::span<const Point> all(p);
  tr.first_half_slope_per_s = theil_sen_slope(all.first(tr.n - half));
  tr.second_half_slope_per_s = theil_sen_slope(all.subspan(half));

  const TestResult test = test_for_rise(p, x, resid, tr.slope_per_s, cfg);
  tr.mk_s = test.mk.s;
  tr.mk_var = test.mk.var_s;
  tr.mk_z = test.mk.z;
  tr.ar1 = test.ar1;
  tr.test = test.name;
  tr.drift_z = test.drift_z;
  tr.p_value = test.p_value;
  tr.confidence = 1 - tr.p_value;

  const double slope = tr.slope_per_s;
  const bool rising = slope > 0 && slope > cfg.min_slope;
  const bool second_ok = tr.second_half_slope_per_s > 0 &&
                         tr.second_half_slope_per_s >= cfg.min_half_slope_ratio * slope;
  const bool first_ok = tr.first_half_slope_per_s > 0 &&
                        tr.first_half_slope_per_s >= cfg.min_half_slope_ratio * slope;
  const bool big_enough = tr.relative_growth >= cfg.min_relative_growth;

  if (!rising) {
    tr.reason = "no upward slope";
  } else if (tr.p_value > cfg.growing_alpha) {
    tr.reason = "rise not significant";
  } else if (!big_enough) {
    tr.reason = "growth below the relative floor";
  } else if (tr.signal_to_noise < cfg.growing_min_signal_to_noise) {
    tr.reason = "growth small next to the scatter";
  } else if (!second_ok) {
    tr.reason = "flat in the second half of the window";
  } else {
    tr.verdict = Verdict::Growing;
    if (tr.n < cfg.min_points) {
      tr.reason = "too few points for a leak";
    } else if (tr.p_value > cfg.alpha) {
      tr.reason = "rise not significant enough for a leak";
    } else if (tr.signal_to_noise < cfg.min_signal_to_noise) {
      tr.reason = "growth not clear of the scatter";
    } else if (!first_ok) {
      tr.reason = "flat in the first half of the window";
    } else {
      tr.verdict = Verdict::Leak;
      tr.reason = "";
    }
  }
  return tr;
}

void require_retention(Trend& t, double allocated_in_window, double window_s, double min_fraction) {
  if (t.verdict == Verdict::Stable || allocated_in_window <= 0 || window_s <= 0) return;
  t.retained_fraction = std::max(0.0, t.slope_per_s * window_s / allocated_in_window);
  if (t.retained_fraction < min_fraction) {
    t.verdict = Verdict::Stable;
    t.reason = "growth is a tiny share of what the stack allocates: churn, not retention";
  }
}

}  // namespace leakhound::detect

namespace leakhound::detect {

void require_min_growth(Trend& t, double window_s, double min_growth) {
  if (t.verdict == Verdict::Stable || window_s <= 0) return;
  if (t.slope_per_s * window_s < min_growth) {
    t.verdict = Verdict::Stable;
    t.reason = "grew by less than the minimum over the window";
  }
}

void trim_series(std::vector<Point>& series, double cutoff) {
  series.erase(series.begin(), std::find_if(series.begin(), series.end(),
                                            [&](const Point& p) { return p.t_s >= cutoff; }));
}

}  // namespace leakhound::detect
