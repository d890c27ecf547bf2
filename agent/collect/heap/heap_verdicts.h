// Heap verdicts over every stack and every common caller of stacks at once:
// each stack's in-use series and the summed series of the stacks below each
// caller are judged by detect::analyze, false discoveries are controlled over
// all of them together (detect/fdr.h), and a caller whose stacks leak together
// becomes one finding with the stacks as its children.
#pragma once

#include <functional>
#include <limits>
#include <string_view>
#include <vector>

#include "detect/fdr.h"
#include "detect/trend.h"
#include "detect/warmup.h"
#include "report/model.h"

namespace leakhound::collect {

// One stack as the heap collector saw it. `finding` carries the symbolized
// stack, the full series and the window's figures; its trend is filled here.
struct StackSeries {
  report::HeapFinding finding;
  // Where its judged series starts (HeapCollector::judged_from): a stack
  // that turned over after a sampler we switched on is judged from then.
  double judged_from_s = 0;
  // Unsampled bytes allocated since the sampler was switched on at attach,
  // at the series' times: when given, the series is judged corrected for
  // its warm-up (detect/warmup.h) instead of from judged_from_s.
  std::vector<detect::Point> allocated;
  // With `allocated`: the points before this are left out (the sample
  // budget's calibration, HeapCollector::switch_rate).
  double warmup_from_s = -std::numeric_limits<double>::infinity();
};

struct VerdictOptions {
  detect::TrendConfig trend;
  detect::FdrConfig fdr;
  double min_retained_fraction = 0.01;  // detect::require_retention
  double window_s = 0;
  // Functions that may head a caller finding (not the runtime's own frames).
  std::function<bool(std::string_view)> may_be_caller;
  // The program's own functions (its main module): stacks that leak on their
  // own and reach the same innermost such function by the same path are one
  // finding there. Empty: the innermost function `may_be_caller` accepts.
  std::function<bool(std::string_view)> is_program;
};

struct HeapVerdicts {
  // Stacks not absorbed into a caller finding, and the caller findings; those
  // with nothing in use, nothing allocated and a stable verdict left out.
  std::vector<report::HeapFinding> findings;
  detect::FdrResult fdr;
  size_t stacks_judged = 0;
  size_t callers_judged = 0;
};

HeapVerdicts judge_heap(std::vector<StackSeries> stacks, const VerdictOptions& o);

}  // namespace leakhound::collect
