// The return instructions of a Go function, found by disassembling it: where
// to put uprobes that stand in for a uretprobe.
#pragma once

#include <cstdint>
#include <vector>

#include "binary/elf_file.h"
#include "util/result.h"

namespace leakhound::goruntime {

// Link-time addresses of every return instruction of the function [entry, end)
// (amd64 RET, arm64 RET), for uprobes on a Go function's returns: uretprobes
// corrupt Go stacks (docs/go-runtime.md §7). Errors when there is none.
Result<std::vector<uint64_t>> find_returns(const binary::ElfFile& elf, uint64_t entry,
                                           uint64_t end);

}  // namespace leakhound::goruntime
