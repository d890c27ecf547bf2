// Go function table and line tables from .gopclntab (Go 1.20+ format, magic
// 0xfffffff1; 1.18-1.19's 0xfffffff0 accepted). Works without .symtab/DWARF.
// All addresses here are link-time addresses; callers add the load bias.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "binary/elf_file.h"
#include "util/frame.h"
#include "util/result.h"

namespace leakhound::binary {

struct FuncInfo {
  std::string name;
  uint64_t entry = 0;  // link-time address
  uint64_t end = 0;    // exclusive
};

class Pclntab {
 public:
  // Finds .gopclntab (or, for binaries without section headers, the pcHeader
  // by magic) and the text start (moduledata.text for 1.26+, where the header's
  // textStart is 0).
  static Result<Pclntab> load(const ElfFile& elf);

  uint64_t text_start() const { return text_start_; }
  size_t num_funcs() const { return nfunc_; }
  uint8_t min_lc() const { return min_lc_; }

  // Entry address of a function by its full name ("runtime.mallocgc").
  std::optional<FuncInfo> func_by_name(std::string_view name) const;
  // The function containing pc (binary search on the functab).
  std::optional<FuncInfo> func_for_pc(uint64_t pc) const;
  // Symbolizes one PC, innermost first: inlined frames expanded from the inline
  // tree, then the physical function. Pass pc-1 for return addresses (the
  // caller decides). Empty when pc is outside every function.
  std::vector<Frame> frames(uint64_t pc) const;
  // Calls f for every function (name, entry, end).
  template <typename F>
  void for_each_func(F&& f) const {
    for (size_t i = 0; i < nfunc_; i++) {
      if (auto fi = func_at(i)) f(*fi);
    }
  }

 private:
  std::optional<FuncInfo> func_at(size_t i) const;
  // Raw pclntab bytes (copied from the ELF so the Pclntab outlives it).
  std::vector<uint8_t> data_;
  uint64_t text_start_ = 0;
  size_t nfunc_ = 0;
  uint8_t min_lc_ = 1;
  uint8_t ptr_size_ = 8;
  uint64_t funcname_off_ = 0, cu_off_ = 0, filetab_off_ = 0, pctab_off_ = 0, pcln_off_ = 0;
  uint64_t gofunc_ = 0;  // moduledata.gofunc (link-time), base of FUNCDATA offsets
  uint64_t gofunc_file_off_ = 0;
  const ElfFile* elf_for_gofunc_ = nullptr;  // set only during load
  std::vector<uint8_t> gofunc_data_;         // copy of the region FUNCDATA points into
};

}  // namespace leakhound::binary
