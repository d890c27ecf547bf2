// Go version and module information from the .go.buildinfo section.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "binary/elf_file.h"
#include "util/result.h"

namespace leakhound::binary {

struct GoVersion {
  int major = 0, minor = 0, patch = 0;  // go1.26.8 -> 1, 26, 8
  std::string raw;                      // "go1.26.8", "go1.27rc1", "devel ..."
  bool operator<(const GoVersion& o) const;
  bool at_least(int maj, int min) const { return major > maj || (major == maj && minor >= min); }
};
Result<GoVersion> parse_go_version(const std::string& s);

struct BuildInfo {
  GoVersion go_version;
  std::string path;         // main package path ("path" line)
  std::string module_path;  // main module ("mod" line), may be empty
  std::string module_version;
  std::vector<std::pair<std::string, std::string>> settings;  // "build k=v" lines
};

// "not a Go program: no .go.buildinfo section" when absent.
Result<BuildInfo> read_buildinfo(const ElfFile& elf);

}  // namespace leakhound::binary
