// Go function table and line tables from .gopclntab (Go 1.20+ format, magic
// 0xfffffff1; 1.18-1.19's 0xfffffff0 accepted). Works without .symtab/DWARF.
// All addresses here are link-time addresses; callers add the load bias.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "binary/elf_file.h"
#include "util/frame.h"
#include "util/result.h"

namespace leakhound::binary {

// The frame of a function at one pc, from its pcsp table: how far SP is
// below its value at entry (the frame size once the prologue has run).
struct FrameSize {
  int32_t sp_delta = 0;
  bool top_frame = false;  // the outermost frame of a stack (runtime.goexit...)
  bool sp_write = false;   // writes SP itself: frames above it cannot be found
};

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
  // Link-time address of the runtime's moduledata (runtime.firstmoduledata),
  // found even in stripped binaries; 0 when it could not be found.
  uint64_t moduledata() const { return moduledata_; }
  // moduledata.gofunc: the base of FUNCDATA offsets (0 when unknown: inlined
  // frames are then not expanded).
  uint64_t gofunc() const { return gofunc_; }

  // Entry address of a function by its full name ("runtime.mallocgc"). An
  // assembly function reached through an ABI wrapper has two entries of that
  // name; this returns the wrapper, the address .symtab gives the plain name.
  std::optional<FuncInfo> func_by_name(std::string_view name) const;
  // The function containing pc (binary search on the functab).
  std::optional<FuncInfo> func_for_pc(uint64_t pc) const;
  // Symbolizes one PC, innermost first: inlined frames expanded from the inline
  // tree, then the physical function. Pass pc-1 for return addresses (the
  // caller decides). Empty when pc is outside every function. Every frame's
  // `pc` is the pc passed in, so a caller symbolizing a runtime address passes
  // pc - bias and sets the frames' pc back.
  std::vector<Frame> frames(uint64_t pc) const;
  // The frame at pc (link-time, inside a function; a return address is inside
  // its caller): nullopt outside every function or when the table is missing.
  std::optional<FrameSize> frame_size(uint64_t pc) const;
  // Calls f for every function (name, entry, end).
  template <typename F>
  void for_each_func(F&& f) const {
    for (size_t i = 0; i < nfunc_; i++) {
      if (auto fi = func_at(i)) f(*fi);
    }
  }

 private:
  // The fixed part of a runtime._func, decoded and bounds-checked.
  struct RawFunc {
    uint64_t entry = 0, end = 0;  // link-time
    int32_t name_off = 0;
    uint32_t pcsp = 0, pcfile = 0, pcln = 0, npcdata = 0, cu_offset = 0;
    uint8_t nfuncdata = 0, flag = 0;
    uint64_t tables = 0;  // offset in pcln_ of pcdata[npcdata], then funcdata[nfuncdata]
  };
  struct InlinedCall {
    int32_t name_off = 0, parent_pc = 0;
  };

  std::optional<FuncInfo> func_at(size_t i) const;
  uint32_t entry_off(size_t i) const;  // i <= nfunc_, checked at load
  std::optional<size_t> index_for_pc(uint64_t pc) const;
  std::optional<RawFunc> raw_func(size_t i) const;
  std::optional<uint32_t> pcdata(const RawFunc& f, uint32_t table) const;
  std::optional<uint32_t> funcdata(const RawFunc& f, uint32_t index) const;
  // Value of the pc-value table at pctab offset `off` for pc; nullopt when the
  // table is absent, malformed or does not cover pc.
  std::optional<int32_t> pcvalue(uint32_t off, uint64_t entry, uint64_t pc) const;
  std::optional<InlinedCall> inlined_call(uint32_t tree_off, int32_t index) const;
  std::string_view name_at(int32_t name_off) const;
  std::string_view file_at(const RawFunc& f, int32_t fileno) const;
  Frame frame_at(const RawFunc& f, std::string_view name, uint64_t pc, uint64_t at) const;
  Result<void> parse_header(const std::string& path);
  Result<void> locate_text_and_gofunc(const ElfFile& elf, uint64_t vaddr);
  void build_name_index();

  // The whole file; every span below points into it, so copies stay valid.
  std::shared_ptr<const void> file_;
  std::span<const uint8_t> data_;  // the pclntab, from its pcHeader to its end
  std::span<const uint8_t> funcnametab_, cutab_, filetab_, pctab_, pcln_;
  std::span<const uint8_t> gofunc_data_;  // from moduledata.gofunc to its segment's end
  uint32_t magic_ = 0;
  uint64_t text_start_ = 0;
  size_t nfunc_ = 0;
  uint8_t min_lc_ = 1;
  uint8_t ptr_size_ = 8;
  uint64_t header_text_start_ = 0;
  uint64_t moduledata_ = 0;
  uint64_t gofunc_ = 0;
  // Function indexes sorted by the hash of their name (8 bytes a function; a
  // map of names cost 6 MB for 120,000 functions). Shared by copies.
  struct NameRef {
    uint32_t hash, index;
  };
  std::shared_ptr<const std::vector<NameRef>> by_name_;
};

}  // namespace leakhound::binary
