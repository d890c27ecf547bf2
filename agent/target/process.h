// A target process as seen through /proc: identity, executable, mappings.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "util/result.h"

namespace leakhound::target {

struct Mapping {
  uint64_t start = 0, end = 0;
  bool read = false, write = false, exec = false;
  uint64_t offset = 0;
  uint64_t dev_major = 0, dev_minor = 0, inode = 0;
  std::string path;
};

// Parses the text of /proc/PID/maps; malformed lines yield an Error.
Result<std::vector<Mapping>> parse_maps(const std::string& text);

class Process {
 public:
  // "no process with PID 123" / "permission denied ..." as clear errors.
  static Result<Process> open(pid_t pid);

  pid_t pid() const { return pid_; }
  // /proc/PID/exe: opens the executable even in another mount namespace.
  std::string exe_link() const;
  // What the link points to, for display ("/usr/bin/app"; may say "(deleted)").
  const std::string& exe_path() const { return exe_path_; }
  uint64_t exe_dev() const { return exe_dev_; }  // the executable file (0 when unknown)
  uint64_t exe_ino() const { return exe_ino_; }
  uint64_t start_time() const { return start_time_; }  // clock ticks since boot (pid reuse check)
  // Still the same process: same start time and, as exec keeps both PID and
  // start time, the same executable.
  bool alive() const;

  Result<std::vector<Mapping>> maps() const;
  // Load bias of the main executable: runtime address - link-time address.
  // first_load_vaddr/offset: the executable's first PT_LOAD segment.
  Result<uint64_t> exe_load_bias(uint64_t first_load_vaddr, uint64_t first_load_offset) const;

 private:
  pid_t pid_ = 0;
  std::string exe_path_;
  uint64_t start_time_ = 0;
  uint64_t exe_dev_ = 0, exe_ino_ = 0;
};

// The whole of a (small, /proc) text file; a clear error naming it.
Result<std::string> read_text(const std::string& path);

// Start time (field 22 of /proc/PID/stat) or an Error when the process is
// gone or a zombie.
Result<uint64_t> read_start_time(pid_t pid);

}  // namespace leakhound::target
