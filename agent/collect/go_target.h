// Everything known about one Go target process, assembled once at attach and
// shared by every capability (heap now; goroutines and native allocations plug
// in beside it).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "binary/buildinfo.h"
#include "binary/elf_file.h"
#include "binary/pclntab.h"
#include "goruntime/g_layout_cache.h"
#include "goruntime/goroutines.h"
#include "goruntime/profile_layout.h"
#include "goruntime/runtime_symbols.h"
#include "target/memory.h"
#include "target/process.h"
#include "util/frame.h"
#include "util/result.h"

namespace leakhound::collect {

struct GoTarget {
  target::Process proc;
  binary::ElfFile elf;
  binary::BuildInfo build;
  binary::Pclntab pclntab;
  goruntime::RuntimeSymbols syms;  // link-time addresses
  goruntime::ProfileLayout layout;
  uint64_t bias = 0;  // runtime address = link-time address + bias (PIE)
  std::vector<std::string> warnings;
  // runtime.g's layout (goroutines, cgo attribution), resolved once; when it
  // cannot be, why (those capabilities say so, the heap does not need it).
  std::optional<goruntime::ResolvedGLayout> g_layout;
  std::string g_layout_error;

  uint64_t runtime_addr(uint64_t link_addr) const { return link_addr ? link_addr + bias : 0; }
  // Symbolizes a stack of return PCs as the runtime records them (inlined calls
  // already expanded into PCs of their own): the innermost frame of pc-1 each.
  std::vector<Frame> symbolize_stack(const std::vector<uint64_t>& pcs) const;
  // Symbolizes a stack unwound by frame pointers (one return PC per physical
  // frame): every inlined call expanded. A PC at a function's entry (a
  // goroutine that never ran) is looked up as is, not as a return PC.
  std::vector<Frame> symbolize_unwound(const std::vector<uint64_t>& pcs) const;
  // The innermost frame of one PC; return_pc: look up pc-1 (the call).
  Frame frame_at(uint64_t pc, bool return_pc) const;
  // How to unwind its goroutines' stacks: arm64's by the functions' frame
  // sizes (pcsp). Refers to this target: it must outlive the result.
  goruntime::StackArch stack_arch() const;
};

// Opens /proc/PID/exe and reads what leakhound needs, with clear errors: no
// such PID, not a Go program, Go too old, runtime symbols missing.
Result<std::unique_ptr<GoTarget>> open_go_target(pid_t pid);
// The same for a process and executable the caller has already opened.
// g_layouts: the daemon's per-executable cache, or null.
Result<std::unique_ptr<GoTarget>> open_go_target(target::Process proc, binary::ElfFile elf,
                                                 goruntime::GLayoutCache* g_layouts = nullptr);

}  // namespace leakhound::collect
