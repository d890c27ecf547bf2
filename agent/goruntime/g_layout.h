// Layout of the runtime's goroutine descriptor (runtime.g) and wait reasons,
// per Go version. The offsets come from the DWARF of real toolchains' binaries
// (scripts/gen-offsets.sh writes g_layout_table.inc; a test regenerates it and
// fails on drift), so stripped targets need no DWARF of their own.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "binary/buildinfo.h"
#include "binary/dwarf_types.h"
#include "binary/elf_file.h"
#include "leakhound/abi/g_status.h"
#include "util/result.h"

namespace leakhound::goruntime {

inline constexpr int32_t kAbsent = -1;

struct GLayout {
  int go_minor = 0;     // 21 for go1.21.x
  uint32_t g_size = 0;  // sizeof(runtime.g)
  // g.stack (runtime.stack {lo, hi})
  uint32_t stack_lo = 0, stack_hi = 0;
  // g.sched (runtime.gobuf): absolute offsets within g
  uint32_t sched_sp = 0, sched_pc = 0, sched_bp = 0;
  uint32_t syscallsp = 0, syscallpc = 0;
  int32_t syscallbp = kAbsent;  // 1.23+
  uint32_t atomicstatus = 0;    // uint32
  uint32_t goid = 0;            // uint64
  uint32_t waitsince = 0;       // int64, nanotime() when it blocked (approx.)
  uint32_t waitreason = 0;      // uint8 (runtime.waitReason)
  int32_t parent_goid = kAbsent;
  uint32_t gopc = 0;       // pc of the go statement that created it (a return pc)
  uint32_t ancestors = 0;  // *[]ancestorInfo: its creators' stacks (GODEBUG tracebackancestors)
  uint32_t startpc = 0;    // pc of the goroutine function
  uint32_t g_m = 0;        // g.m (*m)
  // runtime.m: its g0 (the system stack's g) and curg (the user g it runs;
  // during a cgo call the thread's TLS g is g0 and curg is in _Gsyscall).
  uint32_t m_g0 = 0, m_curg = 0;
  // The GC's goroutine leak detector (1.26+; kAbsent before): offsets in
  // runtime.workType of goroutineLeak.pending (atomic.Bool, 1 byte) and
  // goroutineLeak.count (int).
  int32_t leak_pending = kAbsent, leak_count = kAbsent;
  // runtime.waitReasonStrings, indexed by waitReason.
  std::vector<std::string> wait_reasons;

  // Bytes to read from a g to cover every field above.
  uint32_t read_size() const;
};

// The layout for a release: error for Go older than 1.21; for newer than known
// releases the newest layout (the caller warns: best effort).
Result<GLayout> g_layout(const binary::GoVersion& v);

// The layout from the binary's own DWARF (runtime.g, runtime.gobuf,
// runtime.waitReasonStrings); errors when it has none or a field is missing.
Result<GLayout> g_layout_from_dwarf(const binary::DwarfTypes& dwarf, const binary::ElfFile& elf,
                                    int go_minor);

// What attach uses: the binary's DWARF when present, else the generated
// table (itself made from DWARF; newest layout for newer releases). `source`
// says which ("DWARF", "table", "table (newest, best effort)").
Result<GLayout> resolve_g_layout(const binary::ElfFile& elf, const binary::GoVersion& v,
                                 std::string* source);

// Every layout in the generated table, oldest first.
const std::vector<GLayout>& all_g_layouts();

// runtime.g status values, with the _Gscan bit masked off; the values are
// the ones the BPF programs use (leakhound/abi/g_status.h).
enum class GStatus : uint32_t {
  Idle = LH_G_IDLE,
  Runnable = LH_G_RUNNABLE,
  Running = LH_G_RUNNING,
  Syscall = LH_G_SYSCALL,
  Waiting = LH_G_WAITING,
  Dead = LH_G_DEAD,
  CopyStack = LH_G_COPYSTACK,
  Preempted = LH_G_PREEMPTED,
  Leaked = LH_G_LEAKED,
  DeadExtra = LH_G_DEAD_EXTRA,
};
inline constexpr uint32_t kGScanBit = LH_G_SCAN_BIT;

}  // namespace leakhound::goruntime
