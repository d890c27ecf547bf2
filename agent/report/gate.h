// `attach --fail-on LEVEL`: whether a report holds a finding at or above a
// level, for scripts and CI gates. A proven goroutine leak (the runtime's GC
// found it) is never a statistical accident, so a gate on `proven` does not
// flake.
#pragma once

#include <string_view>

#include "report/model.h"
#include "util/result.h"

namespace leakhound::report {

// attach's exit code when a finding at or above --fail-on was found (0: the
// report is out and nothing reached the level; 1: an error; 2: bad usage).
inline constexpr int kExitFindings = 3;

enum class FailLevel {
  Proven,   // a goroutine leak proven by the runtime's GC
  Leak,     // any leak: proven, or a trend (heap, native, goroutines, /proc series)
  Growing,  // any leak or growing finding
};

// "proven", "leak", "growing".
Result<FailLevel> parse_fail_level(std::string_view s);
std::string_view to_string(FailLevel l);

// Whether r holds a finding at or above `level`; the runtime's own
// goroutines never count.
bool reaches(const Report& r, FailLevel level);

}  // namespace leakhound::report
