// What the daemon knows about every process it watches, shared between the
// collection loop (writer) and the HTTP server (readers).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "probes/oom_watch.h"
#include "report/model.h"
#include "target/pod_identity.h"

namespace leakhound::daemon {

struct ProcessEntry {
  pid_t pid = 0;
  std::string exe;  // basename of the executable
  std::string exe_path;
  std::string go_version;  // "" for a C/C++ program (--native)
  target::PodIdentity pod;
  double attached_at = 0;   // Unix time
  uint64_t start_time = 0;  // /proc/PID/stat starttime: the process's identity with its PID
  // What the memory budget took away: "" (nothing), "native" (native
  // tracking stopped), "detached" (not watched until the daemon is back under
  // its budget; no report).
  std::string shed;
  std::string shed_reason;
  // The latest report over the rolling window; null until the first one.
  std::shared_ptr<const report::Report> report;
  double report_at = 0;  // Unix time it was made
};

// A watched process the kernel's OOM killer took (/api/v1/oom).
struct OomRecord {
  probes::OomKill kill;
  ProcessEntry process;  // as last seen, with its last report (null: none made yet)
};

// What /api/v1/oom and /metrics say of the OOM-kill tracepoint.
struct OomStatus {
  bool available = false;
  std::string reason;  // why not, when not
  bool constraint_known = false;
  size_t keep = 0;  // records kept (--oom-keep)
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
  uint64_t recovered_total = 0;     // steps taken back
  uint64_t oom_events_dropped = 0;  // OOM kills the kernel's ring buffer lost
};

// Kills of watched processes counted by these labels (exe, namespace,
// constraint): bounded, unlike PIDs.
struct OomCount {
  std::string exe, ns, constraint;
  uint64_t kills = 0;
};

class ProcessTable {
 public:
  static constexpr size_t kRetired = 8;
  static constexpr double kRetiredS = 30;
  // Label sets of leakhound_oom_kills_total; kills beyond are counted as exe "(other)".
  static constexpr size_t kMaxOomCounts = 64;

  void put(ProcessEntry e);
  void set_report(pid_t pid, std::shared_ptr<const report::Report> r, double now = 0);
  void set_shed(pid_t pid, std::string shed, std::string reason);
  void erase(pid_t pid);
  // Erases pid's entry but keeps it a while (kRetiredS, the last kRetired
  // ones) for an OOM kill handled after the process's exit.
  void retire(pid_t pid, double now);
  // pid's entry, watched or recently retired, if it is the process that
  // started at start_time.
  bool find_recent(pid_t pid, uint64_t start_time, ProcessEntry* out) const;
  void set_oom_status(OomStatus s);
  OomStatus oom_status() const;
  // Keeps r (the oldest beyond oom_status().keep go) and counts the kill;
  // false, and nothing kept or counted, when this process's kill was already
  // recorded (the kernel marks each of its threads that meets the OOM while
  // it dies: mark_victim fires per thread).
  bool add_oom(OomRecord r);
  std::vector<OomRecord> ooms() const;  // newest first
  std::vector<OomCount> oom_counts() const;
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
  std::deque<std::pair<double, ProcessEntry>> retired_;  // (when, entry), oldest first
  OomStatus oom_status_;
  std::deque<OomRecord> ooms_;  // oldest first
  std::vector<OomCount> oom_counts_;
  // (pid, start_time) of the last kOomSeen kills recorded, kept or not.
  static constexpr size_t kOomSeen = 256;
  std::deque<std::pair<pid_t, uint64_t>> oom_seen_;
};

}  // namespace leakhound::daemon
