// The runtime's heap sampler (runtime.MemProfileRate). The linker switches it
// off in programs that never reach the heap-profile code; leakhound switches it
// on for the collection window and puts the original value back afterwards.
#pragma once

#include <cstdint>

#include "target/memory.h"
#include "target/process.h"
#include "util/result.h"

namespace leakhound::goruntime {

// Rate leakhound sets when the sampler was off: the runtime's own default, so
// attaching costs a sampler-off program what every program serving pprof pays
// all the time. A lower rate (--sample-rate) gives more samples in a short
// window (sampling noise ~ sqrt(rate / leaked bytes)) but costs more in
// programs allocating GB/s: 64 KiB cost 15% in bench/go_alloc_overhead, 512 KiB
// under 2% (docs/benchmarks.md). Nothing in such a program can read its
// profile (the linker removed that code), so the rate is invisible to it.
inline constexpr int64_t kEnableRate = 512 * 1024;

class SamplerControl {
 public:
  // proc, mem: the target (both outlive this object); rate_addr,
  // disable_addr: runtime addresses of runtime.MemProfileRate and
  // runtime.disableMemoryProfiling (0 when unknown).
  static Result<SamplerControl> open(const target::Process& proc, const target::ProcessMemory& mem,
                                     uint64_t rate_addr, uint64_t disable_addr);
  SamplerControl(SamplerControl&& o) noexcept;
  SamplerControl& operator=(SamplerControl&&) = delete;
  SamplerControl(const SamplerControl&) = delete;
  ~SamplerControl();  // restores

  int64_t original_rate() const { return original_; }
  bool linker_disabled() const { return linker_disabled_; }
  bool enabled_by_us() const { return written_ != 0; }
  // The rate in place was left by an earlier leakhound that did not exit
  // cleanly (from the journal, goruntime/write_journal.h); restore() undoes it.
  bool left_over() const { return left_over_; }
  int64_t written() const { return written_; }
  // Forgets a left-over rate without restoring it (--read-only never writes).
  void disown() { written_ = 0; }
  // The rate in effect now, as read from the target.
  Result<int64_t> current_rate() const;

  // Writes `rate` when the sampler is off. No-op when it is already on.
  Result<void> enable(int64_t rate);
  // Changes a rate leakhound wrote (the sample budget's). Refused when the
  // rate is the program's own or the program changed it since.
  Result<void> retune(int64_t rate);
  // Puts the original value back if we changed it and the target did not
  // change it since (then the target's own value wins). Idempotent. A target
  // that has exited (or exec'd) is neither read nor written: its PID may
  // already name another program.
  Result<void> restore();

 private:
  SamplerControl() = default;
  const target::Process* proc_ = nullptr;
  const target::ProcessMemory* mem_ = nullptr;
  uint64_t rate_addr_ = 0;
  int64_t original_ = 0;
  int64_t written_ = 0;  // 0: nothing written (or already restored)
  uint64_t start_time_ = 0;
  bool linker_disabled_ = false;
  bool left_over_ = false;
};

}  // namespace leakhound::goruntime
