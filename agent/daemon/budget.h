// The daemon's memory budget (--memory-budget): the policy that decides, from
// the daemon's own memory and the processes it watches, what work to shed when
// over the budget and what to take back when well under it. Pure: it sees
// numbers and PIDs, the Watcher applies its decisions (daemon/watcher.h), so
// it is unit-tested without root.
//
// Over the budget, one step per tick (a tick is one poll of every process),
// in this order:
//   1. native   native allocation tracking of the Go process that has gone
//               longest without a growing finding (its probes, tables and
//               symbolizer), one process a tick, until none has it;
//   2. window   the rolling window of every process halved, down to
//               min_window_s (its series are trimmed at once);
//   3. detach   the process that has gone longest without a growing finding
//               is detached (cleanly: sampler restored), and no new process
//               is attached while any is detached.
// Back under budget x recover_ratio for recover_ticks ticks in a row, one step
// is taken back, in the reverse order (the last process detached is attached
// again first, then the window doubles, then native tracking resumes), but
// only if it fits: each step remembers what it freed (the memory on the tick
// it was shed less the memory on the next tick), and is taken back only when
// the memory now plus that stays under budget x land_ratio. A step that would
// push the daemon over again waits, however long, instead of flapping. If the
// memory has fallen since the step was measured, its cost is scaled down in
// proportion (the work it held shrank too); the daemon's fixed part does not
// shrink, so the scaled cost errs high: a step measured while the work was
// far larger may wait for good. The estimate can also err low (what a step
// frees at once and what it takes back over time differ: a doubled window
// fills in over minutes), so every shed that follows a recovery still doubles
// the ticks the next recovery waits (up to 16x): the safety net.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <string_view>
#include <vector>

namespace leakhound::daemon {

// 30 Go processes of 10 distinct 51-85 MB executables: 65 MiB as the budget
// counts it (RSS + 0.4 MiB of BPF maps) once the 10-minute window is full,
// 74 MiB at the peak of their attaches (docs/benchmarks.md,
// bench/agent_footprint). The default leaves room above that for a node with
// larger executables or more processes, or native tracking of two or three
// cgo processes (about 44 MiB of BPF tables each), before anything is shed.
inline constexpr uint64_t kDefaultMemoryBudget = 192ull << 20;

struct BudgetOptions {
  uint64_t budget_bytes = kDefaultMemoryBudget;
  double recover_ratio = 0.8;  // "well under": below budget x this
  int recover_ticks = 5;       // ticks in a row that well under, before one step back
  double land_ratio = 0.9;     // a step back must leave the memory under budget x this
  double window_s = 600;       // the configured rolling window (--window)
  double min_window_s = 60;    // shrinking stops here
};

// What the policy sees of one watched process.
struct BudgetProcess {
  pid_t pid = 0;
  bool native = false;     // native tracking runs (a Go process's; a C program's is all it has)
  double last_growth = 0;  // Unix time of its last report with a leak or growing finding,
                           // else of its attach
};

struct BudgetAction {
  enum class Kind { None, ShedNative, ShrinkWindow, Detach, Readmit, GrowWindow, ResumeNative };
  Kind kind = Kind::None;
  pid_t pid = 0;  // ShedNative, Detach, Readmit, ResumeNative
};

// "native", "window", "detach" (metrics' reason label); "" for the others.
std::string_view shed_reason(BudgetAction::Kind k);

class Budget {
 public:
  explicit Budget(BudgetOptions o);

  // One decision a tick, from the memory measured now.
  BudgetAction tick(uint64_t memory_bytes, const std::vector<BudgetProcess>& procs);
  // A new process may be attached (nothing detached, not over budget).
  bool admitting() const { return detached_.empty() && !over_; }
  // A process turned away while not admitting: taken back after the others.
  void refused(pid_t pid) { detached_.push_front({pid, kUnmeasured}); }
  // The PID is gone (exited, exec'd): nothing to take back for it.
  void forget(pid_t pid);

  const BudgetOptions& options() const { return o_; }
  double window_s() const;  // the rolling window now
  uint64_t memory_bytes() const { return memory_; }
  size_t native_shed() const { return native_shed_.size(); }
  size_t detached() const { return detached_.size(); }
  // What taking the next step back is expected to cost (what it freed,
  // scaled by how the memory fell since); 0 when nothing is shed.
  uint64_t next_cost() const;

 private:
  // A step shed and what it freed (kUnmeasured until the next tick).
  struct Step {
    pid_t pid = 0;
    uint64_t freed = 0;
    uint64_t after = 0;  // the memory on the tick after the shed
  };
  static constexpr uint64_t kUnmeasured = ~0ull;

  BudgetAction shed(const std::vector<BudgetProcess>& procs);
  BudgetAction recover();
  void measure(uint64_t memory_bytes);
  Step* step(const BudgetAction& a);

  BudgetOptions o_;
  uint64_t memory_ = 0;
  bool over_ = false;
  int under_ticks_ = 0;
  int recover_wait_ = 0;            // ticks the next recovery waits
  bool recovered_ = false;          // a step was taken back since the last shed
  std::vector<Step> native_shed_;   // in shedding order
  std::vector<Step> halvings_;      // one a window halving (pid 0)
  std::deque<Step> detached_;       // in detaching order; refused ones in front
  BudgetAction last_shed_;          // shed on the last tick: this tick measures it
  uint64_t most_detach_freed_ = 0;  // what a refused process is guessed to cost
};

}  // namespace leakhound::daemon
