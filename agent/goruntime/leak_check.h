// The Go runtime's own goroutine leak detector (Go 1.26+), triggered from
// outside. A GC cycle that starts while runtime.work.goroutineLeak.pending is
// set treats the channels and sync objects of blocked goroutines as roots
// only when something else reaches them, and marks every goroutine blocked
// forever on one that nothing reaches with status _Gleaked (mgc.go,
// findGoroutineLeaks). The flag is a one-byte atomic.Bool that gcStart reads
// and clears with the world stopped, so a byte written into it from outside
// is safe at any time: during a GC it waits for the next gcStart.
#pragma once

#include <cstdint>

#include "target/memory.h"
#include "target/process.h"
#include "util/result.h"

namespace leakhound::goruntime {

class GoroutineLeakCheck {
 public:
  // pending_addr, count_addr: runtime addresses of goroutineLeak.pending and
  // .count. proc and mem outlive this object. A request a killed leakhound
  // left (journal entry, flag still set) is taken over and undone with ours.
  static Result<GoroutineLeakCheck> open(const target::Process& proc,
                                         const target::ProcessMemory& mem, uint64_t pending_addr,
                                         uint64_t count_addr);
  GoroutineLeakCheck(GoroutineLeakCheck&& o) noexcept;
  GoroutineLeakCheck& operator=(GoroutineLeakCheck&&) = delete;
  GoroutineLeakCheck(const GoroutineLeakCheck&) = delete;
  ~GoroutineLeakCheck();  // restores

  // Asks the runtime to run the detector in its next GC cycle: the journal
  // entry first, then the byte.
  Result<void> trigger();
  // The flag is still set: no GC cycle started since the last trigger.
  Result<bool> pending() const;
  // goroutineLeak.count: leaked goroutines found by the last detection.
  Result<int64_t> count() const;
  int triggers() const { return triggers_; }
  // Clears the flag if a request of ours is still pending (no GC consumed
  // it), then drops the journal entry. Once a GC consumed it there is nothing
  // to undo: the statuses it set are the runtime's own bookkeeping, reset by
  // its next detection. Idempotent; never touches an exited process.
  Result<void> restore();

 private:
  GoroutineLeakCheck() = default;
  const target::Process* proc_ = nullptr;
  const target::ProcessMemory* mem_ = nullptr;
  uint64_t pending_addr_ = 0, count_addr_ = 0;
  uint64_t start_time_ = 0;
  bool owned_ = false;  // a write of ours (or a killed leakhound's) may be in place
  int triggers_ = 0;
};

// What `leakhound restore` does with a journaled request: clears the flag if
// it is still set. Returns whether it had to.
Result<bool> undo_goroutine_leak_request(const target::ProcessMemory& mem, uint64_t pending_addr);

}  // namespace leakhound::goruntime
