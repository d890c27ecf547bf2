#include "detect/warmup.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace leakhound::detect {
namespace {

constexpr size_t kMinPoints = 4;
constexpr int kGrid = 48;              // lifetimes tried, log-spaced
constexpr double kMinLifetime = 0.05;  // s: shorter than any GC cycle
// require_short_lifetimes: half the objects kept reads as a leak whatever the
// others do; a lifetime of a quarter of the window has filled 98% of its
// warm-up by the window's end.
constexpr double kMostlyKept = 0.5;
constexpr double kLongLife = 0.25;
// analyze_fitted, tuned on sparse_power_test: a tenth of the window let 5 s
// churn in 60 s windows through in 5-10% of them, a twentieth 1.5 s churn
// in 30 s in 2-3%; a margin of 0.3 added false leaks on 15 s windows.
constexpr double kShortLife = 1.0 / 30;
constexpr double kAr1Margin = 0.2;

// F_T at each point: births between two points taken as spread evenly over
// the interval (each contributes (1 - e^(-x)) / x of itself on average at its
// end, x = interval / T).
std::vector<double> fill(const std::vector<Point>& a, double T) {
  std::vector<double> f(a.size());
  double prev_t = 0, prev_a = 0, acc = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    const double dt = std::max(0.0, a[k].t_s - prev_t);
    const double births = std::max(0.0, a[k].value - prev_a);
    const double x = dt / T;
    const double decay = std::exp(-x);
    const double spread = x > 1e-9 ? (1 - decay) / x : 1;
    acc = acc * decay + births * spread;
    f[k] = acc;
    prev_t = a[k].t_s;
    prev_a = std::max(prev_a, a[k].value);
  }
  return f;
}

// Least squares of L on phi A + psi F with phi, psi >= 0 and phi + psi <= 1
// (phi + psi = 1 unless `free_rest`); returns {phi, psi, rss}.
struct Shares {
  double phi = 0, psi = 0, rss = std::numeric_limits<double>::infinity();
};

Shares fit_shares(const std::vector<Point>& inuse, const std::vector<Point>& allocated,
                  const std::vector<double>& f, bool allow_kept, bool free_rest) {
  auto rss = [&](double phi, double psi) {
    double r = 0;
    for (size_t k = 0; k < f.size(); ++k) {
      const double e = inuse[k].value - (phi * allocated[k].value + psi * f[k]);
      r += e * e;
    }
    return r;
  };
  Shares best;
  auto consider = [&](double phi, double psi) {
    if (phi < 0 || psi < 0 || phi + psi > 1 + 1e-12 || (!allow_kept && phi > 0)) return;
    const double r = rss(phi, psi);
    if (r < best.rss) best = {phi, psi, r};
  };
  // psi = 1 - phi: L - F = phi (A - F).
  double num = 0, den = 0;
  for (size_t k = 0; k < f.size(); ++k) {
    const double x = allocated[k].value - f[k], y = inuse[k].value - f[k];
    num += x * y;
    den += x * x;
  }
  const double phi1 = !allow_kept ? 0.0 : den > 0 ? std::clamp(num / den, 0.0, 1.0) : 1.0;
  consider(phi1, 1 - phi1);
  if (!free_rest) return best;
  double aa = 0, af = 0, ff = 0, la = 0, lf = 0;
  for (size_t k = 0; k < f.size(); ++k) {
    const double a = allocated[k].value, l = inuse[k].value;
    aa += a * a;
    af += a * f[k];
    ff += f[k] * f[k];
    la += l * a;
    lf += l * f[k];
  }
  // Inside, then on the edges phi = 0 and psi = 0.
  if (const double det = aa * ff - af * af; det > 0)
    consider((la * ff - lf * af) / det, (lf * aa - la * af) / det);
  if (ff > 0) consider(0, std::clamp(lf / ff, 0.0, 1.0));
  if (aa > 0) consider(std::clamp(la / aa, 0.0, 1.0), 0);
  consider(0, 0);
  return best;
}

}  // namespace

WarmupFit fit_warmup(const std::vector<Point>& inuse, const std::vector<Point>& allocated,
                     bool allow_kept, bool instant_deaths) {
  WarmupFit out;
  if (inuse.size() != allocated.size() || inuse.size() < kMinPoints) return out;
  const double window = allocated.back().t_s;
  const double total = allocated.back().value;
  if (!(window > 0) || !(total > 0) || !std::isfinite(total)) return out;
  const double max_T = std::max(window, kMinLifetime * 2);
  double best_rss = std::numeric_limits<double>::infinity();
  for (int i = 0; i < kGrid; ++i) {
    const double T = kMinLifetime * std::pow(max_T / kMinLifetime, i / double(kGrid - 1));
    const std::vector<double> f = fill(allocated, T);
    const Shares sh = fit_shares(inuse, allocated, f, allow_kept, instant_deaths);
    // Ties (a stack that keeps all it allocates fits phi = 1 at every T):
    // the first, shortest lifetime, whose correction is the smallest.
    if (sh.rss < best_rss * (1 - 1e-12)) {
      best_rss = sh.rss;
      out.kept_fraction = sh.phi;
      out.died_at_once = std::max(0.0, 1 - sh.phi - sh.psi);
      out.lifetime_s = T;
    }
  }
  out.alloc_rate = total / window;
  out.applied = std::isfinite(best_rss);
  return out;
}

std::vector<Point> warmup_corrected(const std::vector<Point>& inuse, const WarmupFit& fit) {
  std::vector<Point> out = inuse;
  if (!fit.applied || fit.living_fraction() <= 0 || !(fit.lifetime_s > 0)) return out;
  const double scale = fit.living_fraction() * fit.alloc_rate * fit.lifetime_s;
  for (Point& p : out) p.value += scale * std::exp(-std::max(0.0, p.t_s) / fit.lifetime_s);
  return out;
}

Trend analyze_fitted(const std::vector<Point>& corrected, const WarmupFit& fit, double window_s,
                     const TrendConfig& cfg) {
  Trend t = analyze(corrected, cfg);
  if (t.drift_z == 0 || !fit.applied || fit.living_fraction() <= 0 ||
      !(fit.lifetime_s > 0 && fit.lifetime_s <= window_s * kShortLife) || corrected.size() < 2)
    return t;
  const double tau =
      (corrected.back().t_s - corrected.front().t_s) / static_cast<double>(corrected.size() - 1);
  if (!(tau > 0) || t.ar1 > std::exp(-tau / fit.lifetime_s) + kAr1Margin) return t;
  TrendConfig short_memory = cfg;
  short_memory.random_walk_ar1 = std::numeric_limits<double>::infinity();
  return analyze(corrected, short_memory);
}

const char* const kWarmupAmbiguousReason =
    "its objects live long against the window: a leak cannot be told from its warm-up";

bool warmup_ambiguous(const WarmupFit& fit, double window_s) {
  if (!fit.applied) return false;
  // Of what does not die at once (all of it without `instant_deaths`).
  const double lasting = fit.kept_fraction + fit.living_fraction();
  return lasting > 0 && fit.kept_fraction < kMostlyKept * lasting &&
         fit.lifetime_s > window_s * kLongLife;
}

void require_short_lifetimes(Trend& t, const WarmupFit& fit, double window_s) {
  if (t.verdict != Verdict::Leak || !warmup_ambiguous(fit, window_s)) return;
  t.verdict = Verdict::Growing;
  t.reason = kWarmupAmbiguousReason;
}

WarmupVerdict analyze_warmup(const std::vector<Point>& inuse, const std::vector<Point>& allocated,
                             double window_s, const TrendConfig& cfg, bool instant_deaths) {
  WarmupVerdict v;
  v.fit = fit_warmup(inuse, allocated, true, instant_deaths);
  v.corrected = warmup_corrected(inuse, v.fit);
  v.trend = analyze_fitted(v.corrected, v.fit, window_s, cfg);
  require_short_lifetimes(v.trend, v.fit, window_s);
  return v;
}

}  // namespace leakhound::detect
