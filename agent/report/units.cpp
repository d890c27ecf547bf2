#include "report/units.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace leakhound::report {
namespace {

constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

// Magnitude scaled into [1, 1024) and its unit index. The unit is chosen
// after rounding to one decimal, so 1048575 bytes reads "1.0 MiB", not
// "1024.0 KiB".
std::pair<double, size_t> scale(double bytes) {
  double v = std::fabs(bytes);
  size_t u = 0;
  while (u + 1 < std::size(kUnits) && std::round(v * 10) / 10 >= 1024) {
    v /= 1024;
    ++u;
  }
  return {v, u};
}

}  // namespace

std::string human_bytes(double bytes) {
  if (!std::isfinite(bytes)) return "? B";
  const auto [v, u] = scale(bytes);
  const char* sign = bytes < 0 ? "-" : "";
  if (u == 0) return fmt::format("{}{:.0f} B", sign, v);
  return fmt::format("{}{:.1f} {}", sign, v, kUnits[u]);
}

std::string human_bytes_compact(double bytes) {
  std::string s = human_bytes(bytes);
  const size_t dot = s.find(".0 ");
  if (dot != std::string::npos) s.erase(dot, 2);
  return s;
}

std::string human_rate(double bytes_per_s) {
  if (!std::isfinite(bytes_per_s)) return "? B/s";
  // "-0 B/s" would look like a shrink; rates that round to zero get "+".
  const std::string magnitude = human_bytes(std::fabs(bytes_per_s));
  const bool negative = bytes_per_s < 0 && magnitude != "0 B";
  return fmt::format("{}{}/s", negative ? "-" : "+", magnitude);
}

std::string group_thousands(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string percent(double fraction) {
  if (!std::isfinite(fraction)) return "?%";
  const double tenths = std::floor(std::clamp(fraction, 0.0, 1.0) * 1000 + 1e-9);
  return fmt::format("{:.1f}%", tenths / 10);
}

std::string human_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  if (seconds < 1) return fmt::format("{:.0f} ms", seconds * 1000);
  if (seconds < 120) return fmt::format("{:.1f} s", seconds);
  if (seconds < 7200) return fmt::format("{:.1f} min", seconds / 60);
  return fmt::format("{:.1f} h", seconds / 3600);
}

std::string human_eta(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<uint64_t>(std::llround(seconds));
  const uint64_t d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60, sec = s % 60;
  if (d > 0) return fmt::format("{}d{}h", d, h);
  if (h > 0) return fmt::format("{}h{:02}m", h, m);
  if (m > 0) return fmt::format("{}m{:02}s", m, sec);
  return fmt::format("{}s", sec);
}

}  // namespace leakhound::report
