// The daemon's process bookkeeping: which PIDs are pending (seen, not yet
// looked at), watched (a session each) or rejected (not wanted; not looked at
// again while the same process holds the PID). Everything it learns of the
// host goes through Host, so the transitions are unit-tested with a fake one.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "collect/session.h"
#include "daemon/budget.h"
#include "daemon/filter.h"
#include "daemon/process_table.h"
#include "report/model.h"
#include "target/pod_identity.h"
#include "util/result.h"

namespace leakhound::daemon {

// One watched process's collection (a collect::Session in the daemon).
class Watch {
 public:
  virtual ~Watch() = default;
  virtual bool poll() = 0;  // false once the process has exited
  virtual bool alive() const = 0;
  virtual void trim(double keep_s) = 0;
  virtual report::Report snapshot() = 0;
  virtual void finish() = 0;  // stops everything; restores what was written
  virtual double elapsed_s() const = 0;
  virtual std::string go_version() const = 0;  // "" for a C/C++ program
  // Native tracking of a Go process, which the memory budget may shed (a C
  // program's is all it has: it is detached instead).
  virtual bool native() const { return false; }
  virtual void shed_native() {}
  virtual bool resume_native() { return false; }  // false: could not start again
  // Asks the Go runtime for a goroutine leak detection (Go 1.26+, not
  // --read-only); false when it cannot or may not.
  virtual bool request_leak_check() = 0;
};

// What a PID's executable is, as far as choosing goes.
struct Candidate {
  std::string exe_path;
  uint64_t start_time = 0;  // identity of the process holding the PID
  enum class Kind { Go, Leakhound, Other, Unreadable } kind = Kind::Other;
};

class Host {
 public:
  virtual ~Host() = default;
  virtual pid_t self() const = 0;
  virtual std::vector<pid_t> scan() = 0;                      // every PID now
  virtual std::optional<uint64_t> start_time(pid_t pid) = 0;  // nullopt: gone
  virtual double age_s(pid_t pid) = 0;                        // since exec; -1: gone
  virtual std::optional<Candidate> describe(pid_t pid) = 0;   // nullopt: gone, kernel thread
  virtual target::PodIdentity pod(pid_t pid) = 0;
  virtual Result<std::unique_ptr<Watch>> open(const collect::SessionOptions& so) = 0;
  virtual double unix_now() = 0;
  virtual double monotonic_s() = 0;             // for schedules: never jumps
  virtual void rescanned() {}                   // after each /proc scan (journal pruning)
  virtual uint64_t self_memory() { return 0; }  // what the memory budget counts (daemon/budget.h)
  virtual void release_memory() {}              // after shedding: freed heap back to the kernel
};

class Watcher {
 public:
  // settle_s: a process younger than this is left pending (its runtime
  // initializes); window_s: the rolling window of every report;
  // leak_check_every_s: the Go runtime's goroutine leak check is asked for at
  // the first poll after attach, then at most once per this period per
  // process (0: never).
  Watcher(Host& host, const Filter& filter, collect::SessionOptions session, double settle_s,
          double window_s, ProcessTable& table, double leak_check_every_s = 0);
  ~Watcher();

  void exec_seen(pid_t pid);
  void exit_seen(pid_t pid);
  void rescan();
  void attach_pending();
  // Polling and reporting many processes takes a while: `between` runs after
  // each one (new process events, due attaches), so a process that just
  // started is not kept waiting behind the others.
  void poll_all(const std::function<void()>& between);
  void publish(const std::function<void()>& between);
  void stop_all();
  // With a budget, its window replaces window_s, and enforce_budget() (once a
  // tick, after poll_all) sheds or takes back one step.
  void set_budget(Budget* b) { budget_ = b; }
  void enforce_budget();

  bool pending(pid_t pid) const { return pending_.count(pid) > 0; }
  bool watched(pid_t pid) const { return watched_.count(pid) > 0; }
  bool rejected(pid_t pid) const { return rejected_.count(pid) > 0; }
  bool shed(pid_t pid) const { return shed_.count(pid) > 0; }  // detached by the budget

 private:
  struct Entry {
    std::unique_ptr<Watch> w;
    double next_leak_check = 0;  // Host::monotonic_s() from which one is due
  };
  using Watched = std::map<pid_t, Entry>;
  void maybe_check_leaks(Entry& w);
  std::vector<pid_t> watched_pids() const;
  void try_attach(pid_t pid);
  void end(Watched::iterator it, const char* why);
  void forget_shed(pid_t pid);
  void apply(const BudgetAction& a);
  double window_now() const { return budget_ ? budget_->window_s() : window_s_; }

  Host& host_;
  const Filter& filter_;
  collect::SessionOptions session_;
  double settle_s_, window_s_, leak_check_every_s_;
  ProcessTable& table_;
  Watched watched_;
  std::set<pid_t> pending_;             // PIDs to look at
  std::map<pid_t, uint64_t> rejected_;  // PID -> start time, not looked at again
  Budget* budget_ = nullptr;
  std::map<pid_t, uint64_t> shed_;       // PID -> start time, detached by the budget
  std::set<pid_t> readmit_;              // pending again: taken back by the budget
  std::map<pid_t, double> last_growth_;  // watched PID -> Unix time (BudgetProcess)
};

}  // namespace leakhound::daemon
