// Where a Go function finds the current g in thread-local storage, found by
// disassembling it (amd64): for reading g from a thread in a BPF probe.
#pragma once

#include <cstdint>
#include <optional>

#include "binary/elf_file.h"
#include "util/result.h"

namespace leakhound::goruntime {

// How the function [entry, end) (amd64) addresses the current g in TLS. Go
// code reads g at a fixed offset from the thread pointer (FS): a constant in
// the code (`mov %fs:DISP, reg`; PIE: `mov $IMM, rX; mov %fs:(rX), reg`), or,
// initial-exec TLS in a shared object, a GOT slot the dynamic loader fills
// (`mov SLOT(%rip), rX; mov %fs:(rX), reg`).
struct TlsGRef {
  uint64_t insn = 0;                 // link-time address of the first resolved FS access
  std::optional<int64_t> offset;     // the offset, when it is a constant
  std::optional<uint64_t> got_slot;  // else the link-time address of its GOT slot
};

// Every FS-relative access of the function must resolve to the same place
// (accesses through a register of unknown value are ignored); errors when
// there is none, they disagree, or the machine is not x86-64. Scans at most
// the first 4 KiB of the function.
Result<TlsGRef> find_tls_g_ref(const binary::ElfFile& elf, uint64_t entry, uint64_t end);

}  // namespace leakhound::goruntime
