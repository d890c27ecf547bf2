// The runtime's own record of who created each goroutine, switched on from
// outside (--goroutine-ancestry). With GODEBUG tracebackancestors=N the
// runtime's newproc1 saves, in every new goroutine's g.ancestors, the stack
// of the goroutine that ran the go statement and that goroutine's own
// ancestors, N deep (proc.go saveAncestors). leakhound sets the setting while
// it watches and puts the program's own value back on exit; goroutines made
// meanwhile keep their record (the runtime only prints it in tracebacks while
// the setting is on).
#pragma once

#include <cstdint>
#include <vector>

#include "target/memory.h"
#include "target/process.h"
#include "util/result.h"

namespace leakhound::goruntime {

// Depth leakhound asks for: creators of creators, up to 8 goroutines up. Each
// level costs a new goroutine one copied 40-byte record; its own creator's
// stack (up to 50 PCs) is unwound once per go statement (docs/benchmarks.md).
inline constexpr int32_t kAncestryDepth = 8;

class AncestryControl {
 public:
  // addr: runtime address of runtime.debug.tracebackancestors (int32). proc
  // and mem outlive this object. A value a killed leakhound left (journal
  // entry, still in place) is taken over and undone with ours.
  static Result<AncestryControl> open(const target::Process& proc, const target::ProcessMemory& mem,
                                      uint64_t addr);
  AncestryControl(AncestryControl&& o) noexcept;
  AncestryControl& operator=(AncestryControl&&) = delete;
  AncestryControl(const AncestryControl&) = delete;
  ~AncestryControl();  // restores

  int32_t original() const { return original_; }
  // Journals, then writes `depth` unless the program's own setting already
  // keeps at least that many (then nothing is written).
  Result<void> enable(int32_t depth);
  bool written_by_us() const { return written_ != 0; }
  // The program's own value back, unless the program changed the setting
  // since (its value wins). Idempotent; never touches an exited process.
  Result<void> restore();

 private:
  AncestryControl() = default;
  const target::Process* proc_ = nullptr;
  const target::ProcessMemory* mem_ = nullptr;
  uint64_t addr_ = 0;
  uint64_t start_time_ = 0;
  int32_t original_ = 0;
  int32_t written_ = 0;  // 0: nothing of ours in place
};

// What `leakhound restore` does with a journaled write: the original value
// back if the journal's is still in place. Returns whether it had to.
Result<bool> undo_traceback_ancestors(const target::ProcessMemory& mem, uint64_t addr,
                                      int32_t original, int32_t written);

// One creator of a goroutine, from g.ancestors (runtime.ancestorInfo).
struct Ancestor {
  uint64_t goid = 0;
  uint64_t gopc = 0;          // where the creator was itself created
  std::vector<uint64_t> pcs;  // the creator's stack at the go statement, innermost first
};

// Reads *g.ancestors (a *[]ancestorInfo; 0 when the goroutine has none),
// nearest creator first. Every count is bounded and every pointer checked:
// the runtime may be freeing it as we read.
Result<std::vector<Ancestor>> read_ancestors(const target::MemoryReader& mem, uint64_t ptr);

}  // namespace leakhound::goruntime
