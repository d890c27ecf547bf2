#include "report/model.h"

#include <algorithm>
#include <cmath>

namespace leakhound::report {

std::vector<const HeapFinding*> heap_stacks(const std::vector<HeapFinding>& findings) {
  std::vector<const HeapFinding*> out;
  for (const HeapFinding& f : findings) {
    if (f.children.empty()) {
      out.push_back(&f);
      continue;
    }
    for (const HeapFinding& c : f.children) out.push_back(&c);
  }
  return out;
}
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
double growth(const detect::Trend& t) {
  return std::isnan(t.slope_per_s) ? -HUGE_VAL : t.slope_per_s;
}

}  // namespace

bool finding_before(const HeapFinding& a, const HeapFinding& b) {
  if (rank(a.trend.verdict) != rank(b.trend.verdict)) {
    return rank(a.trend.verdict) > rank(b.trend.verdict);
  }
  if (growth(a.trend) != growth(b.trend)) return growth(a.trend) > growth(b.trend);
  return a.inuse_bytes > b.inuse_bytes;
}

std::string_view to_string(Evidence e) {
  switch (e) {
    case Evidence::GcProof:
      return "gc_proof";
    case Evidence::Stuck:
      return "stuck";
    case Evidence::Trend:
      break;
  }
  return "trend";
}

bool finding_before(const GoroutineFinding& a, const GoroutineFinding& b) {
  if (a.system != b.system) return b.system;
  // Proofs first; a stuck site is a leak and ranks as one.
  const bool ap = a.evidence == Evidence::GcProof, bp = b.evidence == Evidence::GcProof;
  if (ap != bp) return ap;
  if (a.gc_leaked != b.gc_leaked) return a.gc_leaked > b.gc_leaked;
  if (rank(a.trend.verdict) != rank(b.trend.verdict)) {
    return rank(a.trend.verdict) > rank(b.trend.verdict);
  }
  if (growth(a.trend) != growth(b.trend)) return growth(a.trend) > growth(b.trend);
  return a.count > b.count;
}

void sort_findings(Report& r) {
  // Stable, so equal findings keep the collector's order from run to run.
  std::stable_sort(r.heap.begin(), r.heap.end(),
                   [](const HeapFinding& a, const HeapFinding& b) { return finding_before(a, b); });
  std::stable_sort(
      r.goroutines.begin(), r.goroutines.end(),
      [](const GoroutineFinding& a, const GoroutineFinding& b) { return finding_before(a, b); });
  std::stable_sort(
      r.native.begin(), r.native.end(),
      [](const NativeFinding& a, const NativeFinding& b) { return finding_before(a, b); });
}

}  // namespace leakhound::report
