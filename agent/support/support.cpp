#include "support/support.h"

#include <fmt/format.h>

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

}  // namespace leakhound::support
