// The memory limit a process runs under, from its cgroups: v2 memory.max /
// memory.current, v1 memory.limit_in_bytes / memory.usage_in_bytes; the
// smallest limit on the path from its cgroup up to the root applies.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace leakhound::target {

struct CgroupEntry {  // one line of /proc/PID/cgroup
  int hierarchy = 0;
  std::vector<std::string> controllers;  // empty for v2 ("0::/path")
  std::string path;
};
Result<std::vector<CgroupEntry>> parse_proc_cgroup(std::string_view text);

struct CgroupMount {        // a cgroup file system from /proc/self/mountinfo
  std::string root;         // path of the mount's root within the hierarchy
  std::string mount_point;  // where it is mounted
  bool v2 = false;
  std::vector<std::string> controllers;  // v1 super options (cpu, memory, ...)
};
Result<std::vector<CgroupMount>> parse_cgroup_mounts(std::string_view mountinfo);

struct MemoryLimit {
  int version = 0;                      // 1 or 2
  std::string cgroup;                   // the process's memory cgroup path
  std::string limit_cgroup;             // where the limit is set (the process's or an ancestor)
  std::optional<uint64_t> limit_bytes;  // none: no limit ("max", or v1's huge default)
  uint64_t usage_bytes = 0;             // of the process's own cgroup
  std::string usage_file;               // read again at each poll
};

// Errors only when the process or its cgroup files cannot be read at all; a
// process without a memory controller gets an Error saying so.
Result<MemoryLimit> read_memory_limit(pid_t pid);
Result<uint64_t> read_usage(const MemoryLimit& m);

}  // namespace leakhound::target
