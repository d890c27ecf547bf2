// Reads (and, unless read-only, writes) a target's memory without stopping it.
// Target memory is hostile and changes under us: every read is bounded and may
// fail; callers validate what they read.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <vector>

#include "util/fd.h"
#include "util/result.h"

namespace leakhound::target {

struct ReadRequest {
  uint64_t addr = 0;
  void* dst = nullptr;
  size_t len = 0;
  bool ok = false;  // set by read_many
};

// Reading memory behind an interface so readers of runtime structures can be
// tested (and fuzzed) on fake memory.
class MemoryReader {
 public:
  virtual ~MemoryReader() = default;
  // Reads exactly len bytes or fails.
  virtual Result<void> read(uint64_t addr, void* dst, size_t len) const = 0;
  // Reads many ranges; sets ok per request. Errors only for a dead target.
  virtual Result<void> read_many(std::span<ReadRequest> reqs) const;

  template <typename T>
  Result<T> read_value(uint64_t addr) const {
    T v{};
    if (auto r = read(addr, &v, sizeof v); !r) return r.error();
    return v;
  }
};

class ProcessMemory : public MemoryReader {
 public:
  static Result<ProcessMemory> open(pid_t pid, bool writable);
  pid_t pid() const { return pid_; }

  Result<void> read(uint64_t addr, void* dst, size_t len) const override;
  Result<void> read_many(std::span<ReadRequest> reqs) const override;
  // Writes through /proc/PID/mem; refused when opened read-only (--read-only).
  Result<void> write(uint64_t addr, const void* src, size_t len) const;
  template <typename T>
  Result<void> write_value(uint64_t addr, const T& v) const {
    return write(addr, &v, sizeof v);
  }

 private:
  // Whether the process this was opened for has exited. Reads go by PID
  // (process_vm_readv), and a PID is free for another process once the
  // exited one is reaped: a read is made only while the pidfd says the
  // original still runs (it cannot then have been replaced).
  bool exited() const;

  pid_t pid_ = 0;
  UniqueFd mem_;    // /proc/PID/mem opened O_RDWR; invalid when read-only
  UniqueFd pidfd_;  // the original process; invalid where pidfds are missing
};

// A fake address space for tests and fuzzing: a few regions of bytes.
class FakeMemory : public MemoryReader {
 public:
  void map(uint64_t addr, std::vector<uint8_t> bytes);
  Result<void> read(uint64_t addr, void* dst, size_t len) const override;

 private:
  std::vector<std::pair<uint64_t, std::vector<uint8_t>>> regions_;
};

}  // namespace leakhound::target
