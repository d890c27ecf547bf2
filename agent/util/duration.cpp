#include "util/duration.h"

#include <cmath>
#include <cstdlib>

namespace leakhound {

Result<double> parse_duration(const std::string& s) {
  auto bad = [&] { return make_error("invalid duration '{}': use e.g. 30s, 500ms, 2m or 1h", s); };
  if (s.empty()) return bad();
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || !std::isfinite(v) || v <= 0) return bad();
  std::string unit(end);
  double mult;
  if (unit.empty() || unit == "s")
    mult = 1;
  else if (unit == "ms")
    mult = 1e-3;
  else if (unit == "m")
    mult = 60;
  else if (unit == "h")
    mult = 3600;
  else
    return bad();
  return v * mult;
}

}  // namespace leakhound
