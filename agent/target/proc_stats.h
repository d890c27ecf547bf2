// Per-process resource counts from /proc: open file descriptors by kind and
// threads. A defer-in-loop or an unclosed response body shows here first.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace leakhound::target {

enum class FdKind { File, Socket, Pipe, Anon, Other };
std::string_view to_string(FdKind k);  // "file", "socket", "pipe", "anon", "other"

// Classifies the target of a /proc/PID/fd/N link: "socket:[123]", "pipe:[4]",
// "anon_inode:[eventpoll]", "/var/log/x.log", "/dev/null", ...
FdKind classify_fd_link(std::string_view link);

struct FdCounts {
  uint64_t file = 0, socket = 0, pipe = 0, anon = 0, other = 0;
  uint64_t total() const { return file + socket + pipe + anon + other; }
  uint64_t& operator[](FdKind k);
};

// Counts /proc/PID/fd entries by kind. Fds closed while we list are skipped.
Result<FdCounts> count_fds(pid_t pid);

// The "Threads:" line of /proc/PID/status text; Error when absent or malformed.
Result<uint64_t> parse_threads(std::string_view status_text);
Result<uint64_t> read_threads(pid_t pid);

// Resident set size in bytes (/proc/PID/statm, second field × page size).
Result<uint64_t> read_rss_bytes(pid_t pid);

// One mapping of /proc/PID/smaps and its resident bytes ("Rss:").
struct MappingRss {
  uint64_t start = 0, end = 0;
  uint64_t rss = 0;
};
// Parses the text of /proc/PID/smaps: every mapping with its Rss, in address
// order; a header or Rss line that does not parse is an Error.
Result<std::vector<MappingRss>> parse_smaps_rss(std::string_view text);
Result<std::vector<MappingRss>> read_smaps_rss(pid_t pid);

}  // namespace leakhound::target
