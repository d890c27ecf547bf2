#include "util/size.h"

#include <cmath>
#include <cstdlib>

namespace leakhound {

Result<uint64_t> parse_size(const std::string& s) {
  auto bad = [&] { return make_error("invalid size '{}': use e.g. 150Mi, 1Gi or 200M", s); };
  if (s.empty() || s[0] == '-') return bad();
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || !std::isfinite(v) || v < 0) return bad();
  std::string unit(end);
  if (unit.size() > 1 && unit.back() == 'B') unit.pop_back();  // "MiB", "MB"
  double mult;
  if (unit.empty() || unit == "B")
    mult = 1;
  else if (unit == "Ki")
    mult = 1024.0;
  else if (unit == "Mi")
    mult = 1024.0 * 1024;
  else if (unit == "Gi")
    mult = 1024.0 * 1024 * 1024;
  else if (unit == "k" || unit == "K")
    mult = 1e3;
  else if (unit == "M")
    mult = 1e6;
  else if (unit == "G")
    mult = 1e9;
  else
    return bad();
  const double bytes = v * mult;
  if (bytes >= 0x1p63) return bad();
  return static_cast<uint64_t>(std::llround(bytes));
}

}  // namespace leakhound
