// What leakhound wrote into a target's heap sampler, kept on disk while it is
// there: a leakhound killed with SIGKILL cannot restore MemProfileRate, so
// `leakhound restore PID` (and the next attach) read the original from here.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "util/result.h"

namespace leakhound::goruntime {

struct SamplerRecord {
  pid_t pid = 0;
  uint64_t start_time = 0;  // of the process (PID reuse check)
  uint64_t rate_addr = 0;   // runtime.MemProfileRate in that process
  int64_t original = 0;     // before leakhound
  int64_t written = 0;      // what leakhound wrote
};

// $LEAKHOUND_STATE_DIR, else /run/leakhound (created 0700 on first save).
std::string journal_dir();
Result<void> save_record(const SamplerRecord& r);
// The record for this very process (same PID and start time), if any.
std::optional<SamplerRecord> load_record(pid_t pid, uint64_t start_time);
// Whatever record is kept for the PID, maybe of an earlier process that had it.
std::optional<SamplerRecord> load_record(pid_t pid);
// Removes the PID's record if it is this process's (or unreadable): a record
// of a later process with the same PID stays.
void remove_record(pid_t pid, uint64_t start_time);
// Removes the records of processes that are gone (no such PID, or another
// process has it): nothing is left to restore in them. Returns how many.
size_t prune_records();

}  // namespace leakhound::goruntime
