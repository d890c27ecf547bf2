// Every value leakhound writes into a target, kept on disk while it is there:
// a leakhound killed with SIGKILL cannot undo its writes, so `leakhound
// restore PID` (and the next attach) read from here what to put back. One
// file per target process holds one entry per kind of write.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace leakhound::goruntime {

enum class WriteKind : uint8_t {
  MemProfileRate,        // runtime.MemProfileRate (8 bytes): the heap sampler
  GoroutineLeakPending,  // runtime.work.goroutineLeak.pending (1 byte), Go 1.26+
  TracebackAncestors,    // runtime.debug.tracebackancestors (4 bytes): --goroutine-ancestry
};
std::string_view to_string(WriteKind k);

struct JournaledWrite {
  WriteKind kind = WriteKind::MemProfileRate;
  uint64_t addr = 0;     // runtime address in the target
  uint8_t width = 0;     // bytes written
  int64_t original = 0;  // before leakhound
  int64_t written = 0;   // what leakhound wrote
};

struct JournalRecord {
  pid_t pid = 0;
  uint64_t start_time = 0;  // of the process (PID reuse check)
  std::vector<JournaledWrite> writes;

  const JournaledWrite* find(WriteKind k) const;
};

// $LEAKHOUND_STATE_DIR, else /run/leakhound (created 0700 on first save).
std::string journal_dir();
// Records a write before it is made: adds the entry, or replaces the one of
// the same kind. The file is written then renamed: whole or absent.
Result<void> journal_write(pid_t pid, uint64_t start_time, const JournaledWrite& w);
// The write of that kind was undone (or needs no undoing): its entry goes, and
// the file with the last one. Entries of a later process with the PID stay.
void journal_forget(pid_t pid, uint64_t start_time, WriteKind k);
// The record for this very process (same PID and start time), if any.
std::optional<JournalRecord> load_record(pid_t pid, uint64_t start_time);
// Whatever record is kept for the PID, maybe of an earlier process that had it.
std::optional<JournalRecord> load_record(pid_t pid);
// Removes the PID's record if it is this process's (or unreadable): a record
// of a later process with the same PID stays.
void remove_record(pid_t pid, uint64_t start_time);
// Removes the records of processes that are gone (no such PID, or another
// process has it): nothing is left to restore in them. Returns how many.
size_t prune_records();

}  // namespace leakhound::goruntime
