// Where a thread of a Go program finds its current g in thread-local storage
// (amd64: g = *(fs_base + offset)): what a probe on C code needs to find the
// goroutine behind a cgo call (docs/go-runtime.md §6).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "binary/elf_file.h"
#include "binary/pclntab.h"
#include "target/memory.h"
#include "util/result.h"

namespace leakhound::goruntime {

// How the runtime's code addresses g in TLS, from its own instructions (so
// stripped, PIE and externally linked binaries work alike).
struct GTlsAccess {
  std::string function;              // the runtime function it was read from
  std::optional<int64_t> offset;     // constant offset from the thread pointer: executables
  std::optional<uint64_t> got_slot;  // else the link-time address of the GOT slot holding the
                                     // offset (initial-exec TLS: a Go shared object)
  // st_value(runtime.tlsg) - roundup(PT_TLS.p_memsz, PT_TLS.p_align): the
  // offset for an executable's own TLS block, when the symbol is there.
  std::optional<int64_t> tlsg_formula;
};

// Disassembles runtime.asmcgocall, runtime.mcall and runtime.systemstack
// (named in the pclntab) and requires every one found to agree, and the
// runtime.tlsg formula too when an offset is a constant. amd64 only: arm64
// (g in TLS only with cgo) is not supported yet.
Result<GTlsAccess> find_g_tls_access(const binary::ElfFile& elf, const binary::Pclntab& pcln);

// The offset of g from the thread pointer (negative: amd64 TLS lies below it).
// A GOT slot is read from the running process: `mem` and `load_bias` (runtime
// address - link-time address of `elf`); without them only an executable's
// slot can be resolved (by the runtime.tlsg formula). The result is checked
// for plausibility (8-byte aligned, within 16 MiB below the thread pointer).
Result<int64_t> g_tls_offset(const binary::ElfFile& elf, const GTlsAccess& access,
                             const target::MemoryReader* mem = nullptr, uint64_t load_bias = 0);

// find_g_tls_access then g_tls_offset.
Result<int64_t> find_g_tls_offset(const binary::ElfFile& elf, const binary::Pclntab& pcln,
                                  const target::MemoryReader* mem = nullptr,
                                  uint64_t load_bias = 0);

}  // namespace leakhound::goruntime
