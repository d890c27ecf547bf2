// Process exec and exit events from the kernel (bpf/procwatch.bpf.c), for the
// daemon: a new process is seen at its exec, not at the next /proc scan.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>

#include "util/result.h"

struct procwatch;
struct ring_buffer;
struct bpf_link;

namespace leakhound::probes {

class ProcWatch {
 public:
  enum class Kind { Exec, Exit };
  using Handler = std::function<void(Kind, pid_t)>;

  // Loads the programs and attaches them to sched_process_exec/exit.
  static Result<ProcWatch> open();
  ProcWatch(ProcWatch&&) noexcept;
  ProcWatch& operator=(ProcWatch&&) noexcept;
  ~ProcWatch();

  // Calls `h` for each event, waiting up to timeout_ms for the first one.
  Result<void> poll(int timeout_ms, const Handler& h);
  uint64_t dropped() const;  // events lost to a full ring buffer

 private:
  ProcWatch() = default;
  struct SkelDeleter {
    void operator()(procwatch* s) const;
  };
  struct RingDeleter {
    void operator()(ring_buffer* r) const;
  };
  std::unique_ptr<procwatch, SkelDeleter> skel_;
  std::unique_ptr<ring_buffer, RingDeleter> ring_;
  const Handler* handler_ = nullptr;  // set during poll()
};

}  // namespace leakhound::probes
