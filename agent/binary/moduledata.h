// Finds the Go runtime's moduledata (runtime.firstmoduledata) without symbols:
// it is the only data word pointing at the pclntab whose neighbours also match
// the pclntab and the text segment.
#pragma once

#include <cstdint>
#include <optional>

#include "binary/elf_file.h"

namespace leakhound::binary::detail {

// Field offsets in moduledata, from runtime/symtab.go of each release (checked
// against runtime.firstmoduledata of binaries built by 1.18 to 1.27).
constexpr uint64_t kMdFuncnametab = 8;
constexpr uint64_t kMdFtab = 128;  // slice: ptr @128, len @136
constexpr uint64_t kMdMinpc = 160;
constexpr uint64_t kMdText = 176;
constexpr uint64_t kMdEtext = 184;
constexpr uint64_t kMdGofunc118 = 304;  // 1.18-1.19: no covctrs yet
constexpr uint64_t kMdGofunc120 = 320;  // 1.20-1.26
constexpr uint64_t kMdGofunc127 = 344;  // 1.27: typedesclen, itaboffset, itabsize added

struct ModuleDataQuery {
  uint64_t pclntab = 0;      // link-time address of the pcHeader
  uint64_t funcnametab = 0;  // link-time address of funcnametab
  uint64_t ftab = 0;         // link-time address of the functab
  uint64_t nftab = 0;        // nfunc + 1
  // Candidate offsets of gofunc, most likely first (by pclntab magic and Go version).
  uint64_t gofunc_offsets[2] = {0, 0};
};

struct ModuleData {
  uint64_t addr = 0;  // link-time
  uint64_t text = 0, etext = 0, gofunc = 0;
};

std::optional<ModuleData> find_moduledata(const ElfFile& elf, const ModuleDataQuery& q);

}  // namespace leakhound::binary::detail
