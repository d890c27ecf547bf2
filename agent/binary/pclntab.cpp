// Loading the pclntab and the function table. Line tables and inlining are in
// pclntab_lines.cpp.
#include "binary/pclntab.h"

#include <elf.h>

#include <algorithm>
#include <array>
#include <functional>

#include "binary/buildinfo.h"
#include "binary/byte_reader.h"
#include "binary/moduledata.h"
#include "binary/pclntab_format.h"

namespace leakhound::binary {

using namespace detail;

namespace {

struct Located {
  Bytes data;     // from the pcHeader to the end of the section (or segment)
  uint64_t addr;  // link-time address of the pcHeader
};

bool plausible_header(Bytes b) {
  auto magic = read_le<uint32_t>(b, 0);
  if (!magic || (*magic != kMagic120 && *magic != kMagic118) || b.size() < kHeaderSize) {
    return false;
  }
  uint8_t min_lc = b[6];
  return b[4] == 0 && b[5] == 0 && (min_lc == 1 || min_lc == 2 || min_lc == 4) && b[7] == 8;
}

std::optional<Located> locate(const ElfFile& elf) {
  for (const char* name : {".gopclntab", ".data.rel.ro.gopclntab"}) {
    if (auto s = elf.section(name)) return Located{elf.section_data(*s), s->addr};
  }
  // Section headers can be removed (sstrip); the pcHeader is then found by its
  // magic in the read-only data, where the linker places it pointer-aligned.
  for (const auto& seg : elf.segments()) {
    if (seg.type != PT_LOAD || (seg.flags & PF_X)) continue;
    Bytes d = elf.bytes().subspan(seg.offset, seg.filesz);
    for (uint64_t off = (8 - seg.vaddr % 8) % 8; off + kHeaderSize <= d.size(); off += 8) {
      if (plausible_header(d.subspan(off))) return Located{d.subspan(off), seg.vaddr + off};
    }
  }
  return std::nullopt;
}

}  // namespace

Result<void> Pclntab::parse_header(const std::string& path) {
  if (data_.size() < kHeaderSize) return make_error("{}: .gopclntab: truncated header", path);
  magic_ = *read_le<uint32_t>(data_, 0);
  if (magic_ != kMagic120 && magic_ != kMagic118) {
    return make_error("{}: .gopclntab: unsupported magic {:#x} (Go 1.18 or later is required)",
                      path, magic_);
  }
  min_lc_ = data_[6];
  ptr_size_ = data_[7];
  if (data_[4] != 0 || data_[5] != 0 || (min_lc_ != 1 && min_lc_ != 2 && min_lc_ != 4)) {
    return make_error("{}: .gopclntab: malformed header", path);
  }
  if (ptr_size_ != 8) {
    return make_error("{}: .gopclntab: pointer size {} (only 64-bit is supported)", path,
                      ptr_size_);
  }
  auto word = [&](int i) { return *read_le<uint64_t>(data_, 8 + 8 * i); };
  uint64_t nfunc = word(0);
  header_text_start_ = word(2);
  // Offsets of the tables from the header: funcnametab, cutab, filetab, pctab, pclntable.
  std::array<uint64_t, 5> offs = {word(3), word(4), word(5), word(6), word(7)};
  for (uint64_t o : offs) {
    if (o < kHeaderSize || o > data_.size()) {
      return make_error("{}: .gopclntab: table offset {:#x} out of range", path, o);
    }
  }
  // A table ends where the next one (in address order) begins.
  auto table = [&](uint64_t off) {
    uint64_t end = data_.size();
    for (uint64_t o : offs) {
      if (o > off) end = std::min(end, o);
    }
    return data_.subspan(off, end - off);
  };
  funcnametab_ = table(offs[0]);
  cutab_ = table(offs[1]);
  filetab_ = table(offs[2]);
  pctab_ = table(offs[3]);
  // The pclntable (functab followed by the _func records) runs to the end.
  pcln_ = data_.subspan(offs[4]);
  // functab: nfunc {entryoff, funcoff} pairs, then the end offset.
  if (nfunc == 0 || nfunc > (pcln_.size() - std::min<size_t>(pcln_.size(), 4)) / 8) {
    return make_error("{}: .gopclntab: function count {} does not fit the table", path, nfunc);
  }
  nfunc_ = nfunc;
  for (size_t i = 0; i < nfunc_; i++) {
    if (entry_off(i + 1) < entry_off(i)) {
      return make_error("{}: .gopclntab: function table is not sorted (entry {})", path, i);
    }
  }
  return ok_result();
}

Result<void> Pclntab::locate_text_and_gofunc(const ElfFile& elf, uint64_t vaddr) {
  ModuleDataQuery q;
  q.pclntab = vaddr;
  q.funcnametab = vaddr + uint64_t(funcnametab_.data() - data_.data());
  q.ftab = vaddr + uint64_t(pcln_.data() - data_.data());
  q.nftab = nfunc_ + 1;
  if (magic_ == kMagic118) {
    q.gofunc_offsets[0] = kMdGofunc118;
  } else if (auto bi = read_buildinfo(elf); bi) {
    q.gofunc_offsets[0] = bi->go_version.at_least(1, 27) ? kMdGofunc127 : kMdGofunc120;
  } else {
    // Unknown version: 1.27's layout has small integers at 320, which never
    // pass as a gofunc address, so trying 320 first is safe.
    q.gofunc_offsets[0] = kMdGofunc120;
    q.gofunc_offsets[1] = kMdGofunc127;
  }
  if (auto md = find_moduledata(elf, q)) {
    moduledata_ = md->addr;
    text_start_ = md->text;
    gofunc_ = md->gofunc;
  } else if (header_text_start_ != 0) {
    text_start_ = header_text_start_;
  } else if (auto sym = elf.symbol("runtime.text")) {
    text_start_ = sym->value;
  } else {
    return make_error(
        "{}: .gopclntab has no text start (Go 1.26+) and the runtime's moduledata was not found",
        elf.path());
  }
  if (gofunc_ == 0) {
    for (const char* name : {"go:func.*", "go.func.*"}) {
      if (auto sym = elf.symbol(name)) {
        gofunc_ = sym->value;
        break;
      }
    }
  }
  if (gofunc_ != 0) {
    // FUNCDATA offsets are unbounded in the format: allow the rest of the segment.
    for (const auto& seg : elf.segments()) {
      if (seg.type == PT_LOAD && gofunc_ >= seg.vaddr && gofunc_ - seg.vaddr < seg.filesz) {
        uint64_t rel = gofunc_ - seg.vaddr;
        gofunc_data_ = elf.bytes().subspan(seg.offset + rel, seg.filesz - rel);
        break;
      }
    }
  }
  return ok_result();
}

Result<Pclntab> Pclntab::load(const ElfFile& elf) {
  auto loc = locate(elf);
  if (!loc) return make_error("{}: no .gopclntab section (not a Go program?)", elf.path());
  Pclntab t;
  t.file_ = elf.keep_alive();
  t.data_ = loc->data;
  if (auto r = t.parse_header(elf.path()); !r) return r.error();
  if (auto r = t.locate_text_and_gofunc(elf, loc->addr); !r) return r.error();
  t.build_name_index();
  return t;
}

namespace {

uint32_t name_hash(std::string_view name) { return uint32_t(std::hash<std::string_view>{}(name)); }

}  // namespace

void Pclntab::build_name_index() {
  auto index = std::make_shared<std::vector<NameRef>>();
  index->reserve(nfunc_);
  for (uint32_t i = 0; i < nfunc_; i++) {
    uint64_t off = *read_le<uint32_t>(pcln_, uint64_t(i) * 8 + 4);
    auto name_off = read_le<int32_t>(pcln_, off + kFuncNameOff);
    if (!name_off) continue;
    std::string_view name = name_at(*name_off);
    if (name.empty()) continue;
    index->push_back(NameRef{name_hash(name), i});
  }
  // Function order within a hash: func_by_name prefers the first.
  std::sort(index->begin(), index->end(), [](const NameRef& a, const NameRef& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.index < b.index;
  });
  by_name_ = std::move(index);
}

uint32_t Pclntab::entry_off(size_t i) const { return *read_le<uint32_t>(pcln_, uint64_t(i) * 8); }

std::string_view Pclntab::name_at(int32_t name_off) const {
  if (name_off < 0) return {};
  return cstring_at(funcnametab_, uint64_t(name_off)).value_or(std::string_view{});
}

std::optional<Pclntab::RawFunc> Pclntab::raw_func(size_t i) const {
  if (i >= nfunc_) return std::nullopt;
  uint64_t off = *read_le<uint32_t>(pcln_, uint64_t(i) * 8 + 4);
  const FuncLayout& l = magic_ == kMagic118 ? kFunc118 : kFunc120;
  auto hdr = sub(pcln_, off, l.size);
  if (!hdr) return std::nullopt;
  RawFunc f;
  f.entry = text_start_ + entry_off(i);
  f.end = text_start_ + entry_off(i + 1);
  f.name_off = *read_le<int32_t>(*hdr, kFuncNameOff);
  f.pcsp = *read_le<uint32_t>(*hdr, kFuncPcsp);
  f.pcfile = *read_le<uint32_t>(*hdr, kFuncPcfile);
  f.pcln = *read_le<uint32_t>(*hdr, kFuncPcln);
  f.npcdata = *read_le<uint32_t>(*hdr, kFuncNpcdata);
  f.cu_offset = *read_le<uint32_t>(*hdr, kFuncCuOffset);
  f.nfuncdata = (*hdr)[l.nfuncdata];
  f.flag = (*hdr)[l.flag];
  f.tables = off + l.size;
  return f;
}

std::optional<uint32_t> Pclntab::pcdata(const RawFunc& f, uint32_t table) const {
  if (table >= f.npcdata) return std::nullopt;
  auto v = read_le<uint32_t>(pcln_, f.tables + uint64_t(table) * 4);
  if (!v || *v == 0) return std::nullopt;
  return v;
}

std::optional<uint32_t> Pclntab::funcdata(const RawFunc& f, uint32_t index) const {
  if (index >= f.nfuncdata) return std::nullopt;
  auto v = read_le<uint32_t>(pcln_, f.tables + uint64_t(f.npcdata) * 4 + uint64_t(index) * 4);
  if (!v || *v == ~uint32_t(0)) return std::nullopt;
  return v;
}

std::optional<size_t> Pclntab::index_for_pc(uint64_t pc) const {
  if (nfunc_ == 0 || pc < text_start_ || pc - text_start_ > UINT32_MAX) return std::nullopt;
  uint32_t off = uint32_t(pc - text_start_);
  if (off < entry_off(0) || off >= entry_off(nfunc_)) return std::nullopt;
  // Last function whose entry is <= off.
  size_t lo = 0, hi = nfunc_;
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (entry_off(mid) <= off) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

std::optional<FuncInfo> Pclntab::func_at(size_t i) const {
  auto f = raw_func(i);
  if (!f) return std::nullopt;
  return FuncInfo{std::string(name_at(f->name_off)), f->entry, f->end};
}

std::optional<FuncInfo> Pclntab::func_by_name(std::string_view name) const {
  if (!by_name_) return std::nullopt;
  const FuncLayout& l = magic_ == kMagic118 ? kFunc118 : kFunc120;
  const uint32_t h = name_hash(name);
  auto it = std::lower_bound(by_name_->begin(), by_name_->end(), h,
                             [](const NameRef& r, uint32_t v) { return r.hash < v; });
  // Like .symtab, the plain name means the ABIInternal entry Go code calls:
  // the first function of that name that is not assembly reached through an
  // ABI wrapper, else the first.
  std::optional<uint32_t> first;
  for (; it != by_name_->end() && it->hash == h; ++it) {
    auto f = raw_func(it->index);
    if (!f || name_at(f->name_off) != name) continue;
    uint64_t off = *read_le<uint32_t>(pcln_, uint64_t(it->index) * 8 + 4);
    bool is_asm = (read_le<uint8_t>(pcln_, off + l.flag).value_or(0) & kFuncFlagAsm) != 0;
    if (!is_asm) return func_at(it->index);
    if (!first) first = it->index;
  }
  if (first) return func_at(*first);
  return std::nullopt;
}

std::optional<FuncInfo> Pclntab::func_for_pc(uint64_t pc) const {
  auto i = index_for_pc(pc);
  if (!i) return std::nullopt;
  return func_at(*i);
}

}  // namespace leakhound::binary
