#include "support/support.h"

#include <fmt/format.h>

#include <charconv>

namespace leakhound::support {

std::string go_range() {
  return fmt::format("Go 1.{} to 1.{} (newer releases: best effort, with a warning)", kGoMinMinor,
                     kGoMaxMinor);
}

std::string version_text() {
  std::string s = fmt::format("leakhound {} ({})\n", kVersion, kBuild);
  s += fmt::format("supports:      {}\n", go_range());
  s += "toolchains:   ";
  for (const char* t : kGoToolchains) s += fmt::format(" {}", t);
  s += "\n";
  for (const Arch& a : kArches) {
    s += fmt::format("{:<14} {}\n", fmt::format("{}:", a.go_name), a.tested);
  }
  s += "what was run where:\n" + runs_table();
  return s;
}

std::string runs_table() {
  std::string s = "| where | arch | Go | what ran and passed |\n| --- | --- | --- | --- |\n";
  for (const RunWhere& r : kRuns)
    s += fmt::format("| {} | {} | {} | {} |\n", r.where, r.arch, r.go, r.what);
  return s;
}

namespace {

// "1.N" or "1.N.P" at the start of s: N, and s advanced past it; -1 if none.
int minor_at(std::string_view& s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  if (!s.starts_with("1.")) return -1;
  s.remove_prefix(2);
  int m = -1;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), m);
  if (ec != std::errc()) return -1;
  s.remove_prefix(static_cast<size_t>(end - s.data()));
  while (!s.empty() && (s.front() == '.' || (s.front() >= '0' && s.front() <= '9')))
    s.remove_prefix(1);  // the patch release
  return m;
}

}  // namespace

bool covers(std::string_view go, int go_minor) {
  while (!go.empty()) {
    const size_t comma = go.find(',');
    std::string_view item = go.substr(0, comma);
    go = comma == std::string_view::npos ? std::string_view() : go.substr(comma + 1);
    const int lo = minor_at(item);
    int hi = lo;
    if (item.starts_with("-")) {
      item.remove_prefix(1);
      hi = minor_at(item);
    }
    if (lo >= 0 && hi >= lo && go_minor >= lo && go_minor <= hi) return true;
  }
  return false;
}

std::vector<const RunWhere*> runs_for(std::string_view arch, int go_minor) {
  std::vector<const RunWhere*> out;
  for (const RunWhere& r : kRuns)
    if (arch == r.arch && covers(r.go, go_minor)) out.push_back(&r);
  return out;
}

}  // namespace leakhound::support
