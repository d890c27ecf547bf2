// Addresses of the Go runtime's heap-profiling functions and globals in a
// target binary (Go 1.18-1.27, amd64; arm64 best effort), with or without
// .symtab. Functions come from the pclntab, which even "-s -w" binaries keep.
// Globals come from .symtab, or else are recovered from the PC-relative data
// references of runtime functions known to use them (see runtime_symbols.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "binary/buildinfo.h"
#include "binary/elf_file.h"
#include "binary/pclntab.h"
#include "util/result.h"

namespace leakhound::goruntime {

struct RuntimeSymbols {
  // link-time addresses; 0 = not found
  uint64_t mbuckets = 0;                  // runtime.mbuckets (head of bucket allnext list)
  uint64_t mem_profile_rate = 0;          // runtime.MemProfileRate (int)
  uint64_t mprof_cycle = 0;               // runtime.mProfCycle
  uint64_t disable_memory_profiling = 0;  // runtime.disableMemoryProfiling (bool)
  uint64_t allgs = 0, allglen = 0;        // for goroutine work later (best effort)
  bool globals_from_symtab = false;       // false: recovered by disassembly
  // function entries (link-time), from the pclntab: 0 when absent
  uint64_t fn_mprof_malloc = 0, fn_mprof_free = 0, fn_setprofilebucket = 0, fn_profilealloc = 0,
           fn_free_special = 0, fn_mallocgc = 0;
  // Publishes a GC cycle's heap profile; called once per GC by gcMarkTermination.
  uint64_t fn_mprof_flush = 0;
  // Why a best-effort global (allgs, allglen) is 0; empty when all were found.
  std::vector<std::string> notes;
};

struct ResolveOptions {
  // Recover every global by disassembly even when .symtab has it (tests compare
  // the two; also a fallback for a .symtab that was tampered with).
  bool ignore_symtab = false;
};

// Fails, naming the global and the reason, when one of mbuckets,
// MemProfileRate, mProfCycle or disableMemoryProfiling cannot be pinned to
// exactly one address in a writable data segment. Never guesses.
Result<RuntimeSymbols> resolve_runtime_symbols(const binary::ElfFile& elf,
                                               const binary::Pclntab& pclntab,
                                               const binary::GoVersion& version);
Result<RuntimeSymbols> resolve_runtime_symbols(const binary::ElfFile& elf,
                                               const binary::Pclntab& pclntab,
                                               const binary::GoVersion& version,
                                               const ResolveOptions& options);

// runtime.work.goroutineLeak.pending (link-time), the flag that makes the
// next GC cycle run the goroutine leak detector (Go 1.26+). From .symtab
// (runtime.work plus pending_off, the field's offset in runtime.workType),
// else from the code: gcStart reads the flag as one byte and right after sets
// `enabled` (the next byte) to 1; gcMarkDone tests `enabled` and `done` (the
// two bytes after it). Exactly one address must match; never guesses.
Result<uint64_t> resolve_goroutine_leak_pending(const binary::ElfFile& elf,
                                                const binary::Pclntab& pclntab, int32_t pending_off,
                                                const ResolveOptions& options = {});

// runtime.debug.tracebackancestors (link-time), the GODEBUG setting that makes
// every new goroutine keep its creators' stacks (g.ancestors), found from the
// code of runtime.saveAncestors, stripped binaries included. Never guesses.
Result<uint64_t> resolve_traceback_ancestors(const binary::ElfFile& elf,
                                             const binary::Pclntab& pclntab);

// runtime.mheap_ (link-time), the heap's spans for the retention walk. From
// .symtab, else from the code: spanOfHeap, removespecial, stackfree, sigpanic
// and wbBufFlush1 (1.18-1.27) each load mheap_.arenas[0] (`arenas_off` into
// runtime.mheap) with one 8-byte PC-relative load; the address they agree on,
// less arenas_off, is mheap_. Exactly one must match; never guesses.
Result<uint64_t> resolve_mheap(const binary::ElfFile& elf, const binary::Pclntab& pclntab,
                               uint32_t arenas_off, const ResolveOptions& options = {});

}  // namespace leakhound::goruntime
