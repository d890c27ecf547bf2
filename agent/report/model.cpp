#include "report/model.h"

#include <algorithm>
#include <cmath>

namespace leakhound::report {
namespace {

int rank(detect::Verdict v) {
  switch (v) {
    case detect::Verdict::Leak:
      return 2;
    case detect::Verdict::Growing:
      return 1;
    case detect::Verdict::Stable:
      break;
  }
  return 0;
}

// A NaN slope would break the strict weak ordering std::stable_sort needs.
double growth(const HeapFinding& f) {
  return std::isnan(f.trend.slope_per_s) ? -HUGE_VAL : f.trend.slope_per_s;
}

}  // namespace

bool finding_before(const HeapFinding& a, const HeapFinding& b) {
  if (rank(a.trend.verdict) != rank(b.trend.verdict)) {
    return rank(a.trend.verdict) > rank(b.trend.verdict);
  }
  if (growth(a) != growth(b)) return growth(a) > growth(b);
  return a.inuse_bytes > b.inuse_bytes;
}

void sort_findings(Report& r) {
  // Stable, so equal findings keep the collector's order from run to run.
  std::stable_sort(r.heap.begin(), r.heap.end(), finding_before);
}

}  // namespace leakhound::report
