#include "collect/report_assembly.h"

#include <algorithm>

namespace leakhound::collect {
namespace {

// Keeps every finding that is not stable, and the first stable ones (in the
// sorted order) up to max in all.
template <typename F>
void bound(std::vector<F>& v, size_t max) {
  if (v.size() <= max) return;
  const size_t judged = report::tally_verdicts(v).flagged();
  size_t room = max > judged ? max - judged : 0;
  std::vector<F> kept;
  kept.reserve(std::min(v.size(), std::max(max, judged)));
  for (F& f : v) {
    if (f.trend.verdict == detect::Verdict::Stable) {
      if (room == 0) continue;
      room--;
    }
    kept.push_back(std::move(f));
  }
  v = std::move(kept);
}

}  // namespace

void assemble(report::Report& r, const AssemblyOptions& opts) {
  report::sort_findings(r);
  bound(r.heap, opts.max_findings);
  bound(r.native, opts.max_findings);
}

}  // namespace leakhound::collect
