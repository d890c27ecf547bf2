#include "detect/fdr.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace leakhound::detect {

double FdrResult::false_leaks_bound() const { return q * static_cast<double>(leaks); }

double bh_cutoff(std::span<const double> p_values, double q) {
  std::vector<double> p;
  p.reserve(p_values.size());
  for (double v : p_values) p.push_back(std::isfinite(v) ? std::clamp(v, 0.0, 1.0) : 1.0);
  std::sort(p.begin(), p.end());
  const double m = static_cast<double>(p.size());
  double cutoff = 0;
  for (size_t k = 0; k < p.size(); ++k)
    if (p[k] <= static_cast<double>(k + 1) * q / m) cutoff = p[k];
  return cutoff;
}

FdrResult control_false_leaks(std::span<Trend* const> trends, double alpha, const FdrConfig& cfg) {
  FdrResult r;
  r.judged = trends.size();
  r.q = cfg.q;
  std::vector<double> p;
  p.reserve(trends.size());
  for (const Trend* t : trends) p.push_back(t->p_value);
  r.threshold = std::min(alpha, bh_cutoff(p, cfg.q));
  for (Trend* t : trends) {
    if (t->verdict != Verdict::Leak) continue;
    if (t->p_value > r.threshold) {
      t->verdict = Verdict::Growing;
      t->reason = "rise not significant once false discoveries across all series are controlled";
    } else {
      ++r.leaks;
    }
  }
  return r;
}

}  // namespace leakhound::detect
