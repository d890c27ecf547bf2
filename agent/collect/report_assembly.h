// The one place where a report's findings are put in order and bounded,
// after every capability has contributed: the contract's order
// (report::sort_findings), then at most max_findings heap and native
// findings each, where only stable findings are ever dropped.
#pragma once

#include <cstddef>

#include "report/model.h"

namespace leakhound::collect {

struct AssemblyOptions {
  // Per kind (heap, native); goroutine sites are all kept. Findings judged leak or growing
  // are all kept, even past it: a report must never hide one.
  size_t max_findings = 200;
};

void assemble(report::Report& r, const AssemblyOptions& opts);

}  // namespace leakhound::collect
