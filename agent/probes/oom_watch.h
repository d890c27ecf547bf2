// OOM kills from the kernel (bpf/oom.bpf.c, the mark_victim tracepoint), for
// the daemon: a watched process the OOM killer takes leaves its last report.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "util/result.h"

struct oom;
struct ring_buffer;

namespace leakhound::probes {

struct OomKill {
  pid_t pid = 0;            // the victim (initial PID namespace)
  uint64_t start_time = 0;  // its /proc/PID/stat starttime (clock ticks): its identity
  uint32_t uid = 0;
  double unix_time = 0;  // when it was marked
  // Its memory then, as the kernel's "Killed process" line has it.
  uint64_t total_vm_bytes = 0, anon_rss_bytes = 0, file_rss_bytes = 0, shmem_rss_bytes = 0;
  enum class Constraint { Unknown, Global, Cgroup } constraint = Constraint::Unknown;
  pid_t killer = 0;  // whose allocation failed
  std::string comm;
};

const char* to_string(OomKill::Constraint c);

class OomWatch {
 public:
  using Handler = std::function<void(const OomKill&)>;

  // Loads the program and attaches it to mark_victim (tp_btf; Linux 6.8+).
  static Result<OomWatch> open();
  OomWatch(OomWatch&&) noexcept;
  OomWatch& operator=(OomWatch&&) noexcept;
  ~OomWatch();

  // Calls `h` for each kill, waiting up to timeout_ms for the first one.
  Result<void> poll(int timeout_ms, const Handler& h);
  uint64_t dropped() const;  // kills lost to a full ring buffer
  // Whether a cgroup's OOM can be told from the host's (kallsyms readable).
  bool constraint_known() const { return constraint_known_; }

 private:
  OomWatch() = default;
  struct SkelDeleter {
    void operator()(oom* s) const;
  };
  struct RingDeleter {
    void operator()(ring_buffer* r) const;
  };
  std::unique_ptr<oom, SkelDeleter> skel_;
  std::unique_ptr<ring_buffer, RingDeleter> ring_;
  const Handler* handler_ = nullptr;  // set during poll()
  bool constraint_known_ = false;
};

// [lo, hi) of a kernel function's code in a /proc/kallsyms text: its address
// to the next symbol's; {0, 0} when absent or the addresses are hidden.
std::pair<uint64_t, uint64_t> kallsyms_range(std::string_view text, std::string_view name);

}  // namespace leakhound::probes
