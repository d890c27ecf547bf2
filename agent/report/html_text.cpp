#include "report/html_text.h"

#include <fmt/format.h>

#include <cmath>

#include "report/units.h"

namespace leakhound::report {

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          out += "\xEF\xBF\xBD";
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string exact_number(double v) { return std::isfinite(v) ? fmt::format("{}", v) : "0"; }

std::string exact_number(uint64_t v) { return fmt::format("{}", v); }

std::string human_value(double v, Unit u) {
  if (!std::isfinite(v)) return "?";
  if (u == Unit::Bytes) return human_bytes(v);
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::string s = group_thousands(static_cast<uint64_t>(std::fabs(v)));
    return v < 0 ? "-" + s : s;
  }
  return fmt::format("{:.3g}", v);
}

std::string human_growth(double per_s, Unit u) {
  if (u == Unit::Bytes) return human_rate(per_s);
  return fmt::format("{:+.3g}/s", std::isfinite(per_s) ? per_s : 0);
}

}  // namespace leakhound::report
