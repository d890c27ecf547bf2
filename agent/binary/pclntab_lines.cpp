// PC-value tables, file/line lookup and inlined-frame expansion.
#include <fmt/format.h>

#include "binary/byte_reader.h"
#include "binary/pclntab.h"
#include "binary/pclntab_format.h"

namespace leakhound::binary {

using namespace detail;

std::optional<int32_t> Pclntab::pcvalue(uint32_t off, uint64_t entry, uint64_t pc) const {
  if (off == 0 || off >= pctab_.size()) return std::nullopt;
  Bytes p = pctab_.subspan(off);
  uint64_t pos = 0;
  uint64_t cur = entry;
  // The runtime keeps the value in 32 bits and lets it wrap; so do we, without UB.
  uint32_t val = uint32_t(-1);
  // Each step consumes at least two bytes, so this ends with the table.
  for (;;) {
    auto uv = read_uvarint(p, pos);
    if (!uv) return std::nullopt;
    uint32_t u = uint32_t(*uv);
    if (u == 0 && cur != entry) return std::nullopt;  // end of table
    val += (u >> 1) ^ (0u - (u & 1));
    auto pcdelta = read_uvarint(p, pos);
    if (!pcdelta) return std::nullopt;
    cur += uint64_t(uint32_t(*pcdelta)) * min_lc_;
    if (pc < cur) return int32_t(val);
  }
}

std::optional<FrameSize> Pclntab::frame_size(uint64_t pc) const {
  auto i = index_for_pc(pc);
  if (!i) return std::nullopt;
  auto f = raw_func(*i);
  if (!f) return std::nullopt;
  auto delta = pcvalue(f->pcsp, f->entry, pc);
  if (!delta || *delta < 0) return std::nullopt;
  return FrameSize{*delta, (f->flag & kFuncFlagTopFrame) != 0, (f->flag & kFuncFlagSPWrite) != 0};
}

std::string_view Pclntab::file_at(const RawFunc& f, int32_t fileno) const {
  if (fileno < 0) return {};
  auto fileoff = read_le<uint32_t>(cutab_, (uint64_t(f.cu_offset) + uint64_t(fileno)) * 4);
  if (!fileoff || *fileoff == ~uint32_t(0)) return {};
  return cstring_at(filetab_, *fileoff).value_or(std::string_view{});
}

std::optional<Pclntab::InlinedCall> Pclntab::inlined_call(uint32_t tree_off, int32_t index) const {
  if (index < 0) return std::nullopt;
  const InlineLayout& l = magic_ == kMagic118 ? kInline118 : kInline120;
  auto e = sub(gofunc_data_, uint64_t(tree_off) + uint64_t(index) * l.size, l.size);
  if (!e) return std::nullopt;
  return InlinedCall{*read_le<int32_t>(*e, l.name_off), *read_le<int32_t>(*e, l.parent_pc)};
}

// `at` is the PC whose position is reported: for an outer frame, the call site
// of the frame inlined into it.
Frame Pclntab::frame_at(const RawFunc& f, std::string_view name, uint64_t pc, uint64_t at) const {
  Frame fr;
  fr.function = name.empty() ? fmt::format("{:#x}", pc) : std::string(name);
  fr.pc = pc;
  auto line = pcvalue(f.pcln, f.entry, at);
  auto fileno = pcvalue(f.pcfile, f.entry, at);
  if (line && fileno && *line >= 0) {
    fr.file = std::string(file_at(f, *fileno));
    fr.line = fr.file.empty() ? 0 : *line;
  }
  return fr;
}

std::vector<Frame> Pclntab::frames(uint64_t pc) const {
  std::vector<Frame> out;
  auto i = index_for_pc(pc);
  if (!i) return out;
  auto f = raw_func(*i);
  if (!f) return out;
  uint64_t at = pc;
  auto inl_index = pcdata(*f, kPcdataInlTreeIndex);
  auto tree = funcdata(*f, kFuncdataInlTree);
  if (inl_index && tree && !gofunc_data_.empty()) {
    auto index = pcvalue(*inl_index, f->entry, at);
    for (int depth = 0; index && *index >= 0 && depth < kMaxInlineDepth; depth++) {
      auto call = inlined_call(*tree, *index);
      if (!call) break;
      out.push_back(frame_at(*f, name_at(call->name_off), pc, at));
      // The caller's position is that of an instruction inside the physical function.
      uint64_t parent = f->entry + uint64_t(int64_t(call->parent_pc));
      if (call->parent_pc < 0 || parent >= f->end) break;
      at = parent;
      index = pcvalue(*inl_index, f->entry, at);
    }
  }
  out.push_back(frame_at(*f, name_at(f->name_off), pc, at));
  return out;
}

}  // namespace leakhound::binary
