#include "collect/report_assembly.h"

#include <algorithm>

namespace leakhound::collect {
namespace {

// Keeps every finding that is not stable, and the first stable ones (in the
// sorted order) up to max in all.
template <typename F>
void bound(std::vector<F>& v, size_t max) {
  if (v.size() <= max) return;
  auto stable = [](const F& f) { return f.trend.verdict == detect::Verdict::Stable; };
  const size_t judged = static_cast<size_t>(
      std::count_if(v.begin(), v.end(), [&](const F& f) { return !stable(f); }));
  size_t room = max > judged ? max - judged : 0;
  std::vector<F> kept;
  kept.reserve(std::min(v.size(), std::max(max, judged)));
  for (F& f : v) {
    if (stable(f)) {
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
