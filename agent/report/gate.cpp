#include "report/gate.h"

namespace leakhound::report {
namespace {

bool at_least(detect::Verdict v, FailLevel level) {
  if (v == detect::Verdict::Leak) return level != FailLevel::Proven;
  return v == detect::Verdict::Growing && level == FailLevel::Growing;
}

}  // namespace

Result<FailLevel> parse_fail_level(std::string_view s) {
  for (FailLevel l : {FailLevel::Proven, FailLevel::Leak, FailLevel::Growing})
    if (to_string(l) == s) return l;
  return make_error("--fail-on {}: expected proven, leak or growing", s);
}

std::string_view to_string(FailLevel l) {
  switch (l) {
    case FailLevel::Proven:
      return "proven";
    case FailLevel::Leak:
      return "leak";
    case FailLevel::Growing:
      return "growing";
  }
  return "?";
}

bool reaches(const Report& r, FailLevel level) {
  for (const GoroutineFinding& f : r.goroutines) {
    if (f.system) continue;
    if (f.evidence == Evidence::GcProof || at_least(f.trend.verdict, level)) return true;
  }
  if (level == FailLevel::Proven) return false;
  for (const HeapFinding& f : r.heap)
    if (at_least(f.trend.verdict, level)) return true;
  for (const NativeFinding& f : r.native)
    if (at_least(f.trend.verdict, level)) return true;
  for (const ProcessFinding& f : r.process)
    if (at_least(f.trend.verdict, level)) return true;
  return false;
}

}  // namespace leakhound::report
