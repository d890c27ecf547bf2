// Which processes the daemon wants: executable path regexes, Kubernetes
// namespaces and container IDs (--include-*/--exclude-* options).
#pragma once

#include <regex>
#include <string>
#include <vector>

#include "util/result.h"

namespace leakhound::daemon {

struct Filters {
  std::vector<std::string> include_exe, exclude_exe;  // regexes on the executable's path
  std::vector<std::string> include_namespace, exclude_namespace;  // Kubernetes namespaces
  std::vector<std::string> include_container;                     // container ID prefixes
};

// The ELF section that marks a leakhound executable (agent/cli/agent_marker.cpp).
inline constexpr const char* kAgentSection = ".leakhound.agent";

// Compiled filters, separate for tests.
class Filter {
 public:
  static Result<Filter> compile(const Filters& f);
  // Whether a process with this executable path is wanted, before its pod is known.
  bool exe_wanted(const std::string& exe_path) const;
  // Whether an --include-exe names it: only such non-Go processes get native
  // tracking (the daemon watches Go processes; a trap on every malloc of every
  // shell and system service on the node is not its job).
  bool exe_included(const std::string& exe_path) const;
  bool pod_wanted(const std::string& ns, const std::string& container_id) const;

 private:
  std::vector<std::regex> inc_exe_, exc_exe_;
  Filters raw_;
};

}  // namespace leakhound::daemon
