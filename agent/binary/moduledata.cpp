#include "binary/moduledata.h"

#include <elf.h>

#include <unordered_map>
#include <vector>

#include "binary/byte_reader.h"

namespace leakhound::binary::detail {

namespace {

// Reads pointer-sized words at link-time addresses. The Go linker stores a
// PIE's link-time pointers in the file as well as in its R_*_RELATIVE
// relocations, but other linkers may leave zeros there: with `relocated`, a
// zero word that has a RELATIVE relocation reads as the relocation's addend.
class WordReader {
 public:
  WordReader(const ElfFile& elf, bool relocated) : elf_(elf) {
    if (relocated) load_relocations();
  }

  std::optional<uint64_t> word(uint64_t vaddr) const {
    auto b = elf_.read_vaddr(vaddr, 8);
    if (!b) return std::nullopt;
    uint64_t v = *read_le<uint64_t>(*b, 0);
    if (v == 0 && !relative_.empty()) {
      if (auto it = relative_.find(vaddr); it != relative_.end()) return it->second;
    }
    return v;
  }

  // Addresses of relocated words whose value is `value`.
  std::vector<uint64_t> relocated_to(uint64_t value) const {
    std::vector<uint64_t> out;
    for (const auto& [at, addend] : relative_) {
      if (addend == value) out.push_back(at);
    }
    return out;
  }

 private:
  void load_relocations() {
    uint32_t relative = elf_.machine() == Machine::AArch64 ? R_AARCH64_RELATIVE : R_X86_64_RELATIVE;
    for (const auto& s : elf_.sections()) {
      if (s.type != SHT_RELA) continue;
      Bytes d = elf_.section_data(s);
      for (uint64_t off = 0; in_bounds(off, sizeof(Elf64_Rela), d.size());
           off += sizeof(Elf64_Rela)) {
        auto r = *read_le<Elf64_Rela>(d, off);
        if (ELF64_R_TYPE(r.r_info) == relative) relative_[r.r_offset] = uint64_t(r.r_addend);
      }
    }
  }

  const ElfFile& elf_;
  std::unordered_map<uint64_t, uint64_t> relative_;
};

const Segment* segment_for(const ElfFile& elf, uint64_t vaddr, bool want_exec) {
  for (const auto& s : elf.segments()) {
    if (s.type == PT_LOAD && bool(s.flags & PF_X) == want_exec && vaddr >= s.vaddr &&
        vaddr - s.vaddr < s.memsz) {
      return &s;
    }
  }
  return nullptr;
}

std::optional<ModuleData> validate(const ElfFile& elf, const WordReader& rd, uint64_t md,
                                   const ModuleDataQuery& q) {
  auto w = [&](uint64_t off) { return rd.word(md + off); };
  if (w(0) != q.pclntab || w(kMdFuncnametab) != q.funcnametab || w(kMdFtab) != q.ftab ||
      w(kMdFtab + 8) != q.nftab) {
    return std::nullopt;
  }
  auto text = w(kMdText), etext = w(kMdEtext), minpc = w(kMdMinpc);
  if (!text || !etext || !minpc || *text >= *etext || *minpc < *text || *minpc >= *etext) {
    return std::nullopt;
  }
  const Segment* exec = segment_for(elf, *text, true);
  if (exec == nullptr || *etext - exec->vaddr > exec->memsz) return std::nullopt;
  for (uint64_t off : q.gofunc_offsets) {
    if (off == 0) continue;
    auto gofunc = w(off);
    // gofunc is read-only data: never code, and always file-backed.
    if (gofunc && segment_for(elf, *gofunc, false) != nullptr && elf.read_vaddr(*gofunc, 1)) {
      return ModuleData{md, *text, *etext, *gofunc};
    }
  }
  return ModuleData{md, *text, *etext, 0};
}

// Where the linker puts moduledata: .go.module (1.26+), else .noptrdata.
std::vector<Section> data_regions(const ElfFile& elf) {
  std::vector<Section> out;
  for (const char* name : {".go.module", ".noptrdata", ".data"}) {
    if (auto s = elf.section(name); s && s->type != SHT_NOBITS) out.push_back(*s);
  }
  return out;
}

std::optional<ModuleData> scan(const ElfFile& elf, const WordReader& rd, uint64_t vaddr, Bytes data,
                               const ModuleDataQuery& q) {
  // moduledata is pointer-aligned; so is its first word.
  uint64_t first = (8 - vaddr % 8) % 8;
  for (uint64_t off = first; in_bounds(off, 8, data.size()); off += 8) {
    if (*read_le<uint64_t>(data, off) != q.pclntab) continue;
    if (auto md = validate(elf, rd, vaddr + off, q)) return md;
  }
  return std::nullopt;
}

}  // namespace

std::optional<ModuleData> find_moduledata(const ElfFile& elf, const ModuleDataQuery& q) {
  WordReader plain(elf, false);
  for (const auto& s : data_regions(elf)) {
    if (auto md = scan(elf, plain, s.addr, elf.section_data(s), q)) return md;
  }
  for (const auto& seg : elf.segments()) {
    if (seg.type != PT_LOAD || (seg.flags & PF_W) == 0) continue;
    Bytes d = elf.bytes().subspan(seg.offset, seg.filesz);
    if (auto md = scan(elf, plain, seg.vaddr, d, q)) return md;
  }
  WordReader relocated(elf, true);
  for (uint64_t at : relocated.relocated_to(q.pclntab)) {
    if (auto md = validate(elf, relocated, at, q)) return md;
  }
  return std::nullopt;
}

}  // namespace leakhound::binary::detail
