// What the daemon knows about every process it watches, shared between the
// collection loop (writer) and the HTTP server (readers).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "report/model.h"
#include "target/pod_identity.h"

namespace leakhound::daemon {

struct ProcessEntry {
  pid_t pid = 0;
  std::string exe;  // basename of the executable
  std::string exe_path;
  std::string go_version;  // "" for a C/C++ program (--native)
  target::PodIdentity pod;
  double attached_at = 0;  // Unix time
  // What the memory budget took away: "" (nothing), "native" (native
  // tracking stopped), "detached" (not watched until the daemon is back under
  // its budget; no report).
  std::string shed;
  std::string shed_reason;
  // The latest report over the rolling window; null until the first one.
  std::shared_ptr<const report::Report> report;
};

// Agent-wide counters, for /metrics.
struct AgentCounters {
  uint64_t attached_total = 0;
  uint64_t detached_total = 0;
  uint64_t attach_failures_total = 0;
  uint64_t skipped_total = 0;  // not Go, or filtered out
  uint64_t exec_events_total = 0;
  uint64_t exit_events_total = 0;
  uint64_t events_dropped = 0;  // process events lost by the kernel ring buffer
  uint64_t probe_sets = 0;      // uprobe sets attached (one per executable)
  // The memory budget (daemon/budget.h): the last reading, and what was shed.
  uint64_t memory_bytes = 0;
  uint64_t memory_budget_bytes = 0;  // 0: no budget
  double window_s = 0;               // the rolling window now
  uint64_t shed_native_total = 0, shed_window_total = 0, shed_detach_total = 0;
  uint64_t recovered_total = 0;  // steps taken back
};

class ProcessTable {
 public:
  void put(ProcessEntry e);
  void set_report(pid_t pid, std::shared_ptr<const report::Report> r);
  void set_shed(pid_t pid, std::string shed, std::string reason);
  void erase(pid_t pid);
  std::vector<ProcessEntry> list() const;  // by PID
  // The entry of pid, if watched (its report may still be null).
  bool get(pid_t pid, ProcessEntry* out) const;
  AgentCounters counters() const;
  template <typename F>
  void update_counters(F&& f) {
    std::lock_guard lock(mu_);
    f(counters_);
  }

 private:
  mutable std::mutex mu_;
  std::map<pid_t, ProcessEntry> entries_;
  AgentCounters counters_;
};

}  // namespace leakhound::daemon
