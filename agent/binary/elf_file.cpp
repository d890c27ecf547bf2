#include "binary/elf_file.h"

#include <elf.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <mutex>

#include "binary/byte_reader.h"

namespace leakhound::binary {

using detail::Bytes;
using detail::in_bounds;
using detail::read_le;

// Symbols are found through a sorted table of name hashes pointing at their
// entries in the file (16 bytes a symbol): a table of decoded names cost 15 MB
// for a 150,000-symbol Go binary.
struct ElfFile::SymbolIndex {
  struct Ref {
    uint64_t off;  // of the Elf64_Sym in its section
    uint32_t hash;
    uint16_t section;
    uint8_t dynamic;  // from .dynsym
    uint8_t defined;  // st_shndx != SHN_UNDEF
  };
  std::once_flag once;
  std::vector<Ref> refs;  // sorted by (hash, dynamic), file order within
};

namespace {

uint32_t name_hash(std::string_view name) { return uint32_t(std::hash<std::string_view>{}(name)); }

}  // namespace

Result<ElfFile> ElfFile::open(const std::string& path) {
  auto m = MappedFile::open(path);
  if (!m) return m.error();
  ElfFile f;
  f.path_ = path;
  f.data_ = (*m)->bytes();
  f.mapped_ = *m;
  f.owner_ = *m;
  f.symbols_ = std::make_shared<SymbolIndex>();
  if (auto r = f.parse(); !r) return r.error();
  return f;
}

Result<ElfFile> ElfFile::from_bytes(std::vector<uint8_t> bytes, std::string name) {
  ElfFile f;
  f.path_ = std::move(name);
  auto v = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
  f.data_ = *v;
  f.owner_ = std::move(v);
  f.symbols_ = std::make_shared<SymbolIndex>();
  if (auto r = f.parse(); !r) return r.error();
  return f;
}

Result<void> ElfFile::parse() {
  Bytes b = bytes();
  if (b.size() < SELFMAG || std::memcmp(b.data(), ELFMAG, SELFMAG) != 0) {
    return make_error("{}: not an ELF file", path_);
  }
  auto eh = read_le<Elf64_Ehdr>(b, 0);
  if (b.size() > EI_CLASS && b[EI_CLASS] != ELFCLASS64) {
    return make_error("{}: unsupported ELF class {} (only 64-bit ELF is supported)", path_,
                      b[EI_CLASS]);
  }
  if (!eh) return make_error("{}: truncated ELF header", path_);
  if (eh->e_ident[EI_DATA] != ELFDATA2LSB) {
    return make_error("{}: unsupported ELF byte order (only little-endian is supported)", path_);
  }
  switch (eh->e_machine) {
    case EM_X86_64:
      machine_ = Machine::X86_64;
      break;
    case EM_AARCH64:
      machine_ = Machine::AArch64;
      break;
    default:
      machine_ = Machine::Other;
      break;
  }
  type_ = eh->e_type;
  entry_ = eh->e_entry;
  if (auto r = parse_sections(); !r) return r;
  return parse_segments();
}

Result<void> ElfFile::parse_sections() {
  Bytes b = bytes();
  auto eh = *read_le<Elf64_Ehdr>(b, 0);
  if (eh.e_shoff == 0) return ok_result();  // no section headers: segments only
  if (eh.e_shentsize < sizeof(Elf64_Shdr)) {
    return make_error("{}: bad section header size {}", path_, eh.e_shentsize);
  }
  // With 0xff00 or more sections, the real count and name-table index live in
  // section header 0 (ELF extended numbering).
  auto sh0 = read_le<Elf64_Shdr>(b, eh.e_shoff);
  if (!sh0) return make_error("{}: truncated section header table", path_);
  uint64_t shnum = eh.e_shnum != 0 ? eh.e_shnum : sh0->sh_size;
  uint64_t shstrndx = eh.e_shstrndx != SHN_XINDEX ? eh.e_shstrndx : sh0->sh_link;
  if (shnum == 0) return ok_result();
  auto table = detail::checked_mul(shnum, eh.e_shentsize);
  if (!table || !in_bounds(eh.e_shoff, *table, b.size())) {
    return make_error("{}: truncated section header table ({} sections at offset {:#x})", path_,
                      shnum, eh.e_shoff);
  }
  auto header = [&](uint64_t i) {
    return *read_le<Elf64_Shdr>(b, eh.e_shoff + i * eh.e_shentsize);
  };
  Bytes names;
  if (shstrndx != SHN_UNDEF) {
    if (shstrndx >= shnum) return make_error("{}: section name table index out of range", path_);
    auto sh = header(shstrndx);
    if (sh.sh_type != SHT_NOBITS) {
      auto d = detail::sub(b, sh.sh_offset, sh.sh_size);
      if (!d) return make_error("{}: section name table extends past end of file", path_);
      names = *d;
    }
  }
  sections_.reserve(shnum);
  for (uint64_t i = 0; i < shnum; i++) {
    auto sh = header(i);
    Section s;
    if (!names.empty() || sh.sh_name != 0) {
      auto name = detail::cstring_at(names, sh.sh_name);
      if (!name) return make_error("{}: section {} has a name offset out of range", path_, i);
      s.name = std::string(*name);
    }
    s.type = sh.sh_type;
    s.flags = sh.sh_flags;
    s.addr = sh.sh_addr;
    s.offset = sh.sh_offset;
    s.size = sh.sh_size;
    s.link = sh.sh_link;
    s.entsize = sh.sh_entsize;
    // Section 0 and NOBITS sections have no file data; their size may be anything.
    if (i != 0 && s.type != SHT_NULL && s.type != SHT_NOBITS &&
        !in_bounds(s.offset, s.size, b.size())) {
      return make_error("{}: section {} extends past end of file (truncated file?)", path_,
                        s.name.empty() ? std::to_string(i) : s.name);
    }
    sections_.push_back(std::move(s));
  }
  return ok_result();
}

Result<void> ElfFile::parse_segments() {
  Bytes b = bytes();
  auto eh = *read_le<Elf64_Ehdr>(b, 0);
  if (eh.e_phoff == 0 || eh.e_phnum == 0) return ok_result();
  if (eh.e_phentsize < sizeof(Elf64_Phdr)) {
    return make_error("{}: bad program header size {}", path_, eh.e_phentsize);
  }
  uint64_t phnum = eh.e_phnum;
  if (phnum == PN_XNUM) {
    auto sh0 = eh.e_shoff != 0 ? read_le<Elf64_Shdr>(b, eh.e_shoff) : std::nullopt;
    if (!sh0) return make_error("{}: extended program header count without section 0", path_);
    phnum = sh0->sh_info;
  }
  auto table = detail::checked_mul(phnum, eh.e_phentsize);
  if (!table || !in_bounds(eh.e_phoff, *table, b.size())) {
    return make_error("{}: truncated program header table", path_);
  }
  for (uint64_t i = 0; i < phnum; i++) {
    auto ph = *read_le<Elf64_Phdr>(b, eh.e_phoff + i * eh.e_phentsize);
    if (ph.p_type != PT_LOAD && ph.p_type != PT_TLS) continue;
    if (ph.p_filesz > ph.p_memsz) {
      return make_error("{}: program header {}: file size larger than memory size", path_, i);
    }
    if (!in_bounds(ph.p_offset, ph.p_filesz, b.size())) {
      return make_error("{}: program header {} extends past end of file (truncated file?)", path_,
                        i);
    }
    if (!detail::checked_add(ph.p_vaddr, ph.p_memsz)) {
      return make_error("{}: program header {}: address range overflows", path_, i);
    }
    segments_.push_back(Segment{ph.p_type, ph.p_flags, ph.p_offset, ph.p_vaddr, ph.p_filesz,
                                ph.p_memsz, ph.p_align});
  }
  return ok_result();
}

bool ElfFile::is_pie() const { return type_ == ET_DYN; }

std::optional<Section> ElfFile::section(std::string_view name) const {
  for (const auto& s : sections_) {
    if (s.name == name) return s;
  }
  return std::nullopt;
}

std::span<const uint8_t> ElfFile::section_data(const Section& s) const {
  if (s.type == SHT_NOBITS || s.type == SHT_NULL) return {};
  // Re-checked because callers may pass a Section that did not come from us.
  return detail::sub(bytes(), s.offset, s.size).value_or(Bytes{});
}

Result<std::span<const uint8_t>> ElfFile::read_vaddr(uint64_t vaddr, size_t len) const {
  bool in_bss = false;
  for (const auto& s : segments_) {
    if (s.type != PT_LOAD || vaddr < s.vaddr) continue;
    uint64_t rel = vaddr - s.vaddr;
    if (in_bounds(rel, len, s.filesz)) return bytes().subspan(s.offset + rel, len);
    if (rel < s.memsz) in_bss = true;
  }
  if (in_bss) {
    return make_error("{}: address {:#x} (+{}) is not backed by the file", path_, vaddr, len);
  }
  return make_error("{}: address {:#x} (+{}) is not in a loadable segment", path_, vaddr, len);
}

Result<uint64_t> ElfFile::vaddr_to_offset(uint64_t vaddr) const {
  for (const auto& s : segments_) {
    if (s.type == PT_LOAD && vaddr >= s.vaddr && vaddr - s.vaddr < s.filesz) {
      return s.offset + (vaddr - s.vaddr);
    }
  }
  return make_error("{}: address {:#x} is not in a file-backed loadable segment", path_, vaddr);
}

bool ElfFile::has_symtab() const {
  for (const auto& s : sections_) {
    if (s.type == SHT_SYMTAB && s.size >= 2 * sizeof(Elf64_Sym)) return true;
  }
  return false;
}

const ElfFile::SymbolIndex& ElfFile::symbol_index() const {
  static const SymbolIndex empty;
  if (!symbols_) return empty;  // moved-from
  std::call_once(symbols_->once, [this] {
    auto& refs = symbols_->refs;
    for (uint8_t dynamic : {0, 1}) {
      for_each_symbol(dynamic ? SHT_DYNSYM : SHT_SYMTAB,
                      [&](size_t sec, uint64_t off, std::string_view name, const Elf64_Sym& sym) {
                        refs.push_back(SymbolIndex::Ref{off, name_hash(name), uint16_t(sec),
                                                        dynamic, sym.st_shndx != SHN_UNDEF});
                      });
    }
    std::stable_sort(refs.begin(), refs.end(), [](const auto& a, const auto& b) {
      return a.hash != b.hash ? a.hash < b.hash : a.dynamic < b.dynamic;
    });
    refs.shrink_to_fit();
  });
  return *symbols_;
}

template <typename F>
void ElfFile::for_each_symbol(uint32_t type, F&& f) const {
  // A section index must fit the index's 16 bits; more symbol tables than
  // that is not a file a linker wrote.
  for (size_t i = 0; i < sections_.size() && i <= UINT16_MAX; i++) {
    const Section& sec = sections_[i];
    if (sec.type != type || sec.link >= sections_.size()) continue;
    Bytes data = section_data(sec);
    Bytes strtab = section_data(sections_[sec.link]);
    uint64_t ent = sec.entsize >= sizeof(Elf64_Sym) ? sec.entsize : sizeof(Elf64_Sym);
    for (uint64_t off = 0; in_bounds(off, sizeof(Elf64_Sym), data.size()); off += ent) {
      auto sym = *read_le<Elf64_Sym>(data, off);
      auto name = detail::cstring_at(strtab, sym.st_name);
      if (!name || name->empty()) continue;
      f(i, off, *name, sym);
    }
  }
}

std::optional<Symbol> ElfFile::symbol(std::string_view name) const {
  const auto& refs = symbol_index().refs;
  const uint32_t h = name_hash(name);
  auto it = std::lower_bound(refs.begin(), refs.end(), h,
                             [](const SymbolIndex::Ref& r, uint32_t v) { return r.hash < v; });
  // The first defined symbol of that name, .symtab before .dynsym; an
  // undefined import only when nothing defines it.
  std::optional<Symbol> undefined;
  for (; it != refs.end() && it->hash == h; ++it) {
    if (it->section >= sections_.size()) continue;
    const Section& sec = sections_[it->section];
    if (sec.link >= sections_.size()) continue;
    auto sym = read_le<Elf64_Sym>(section_data(sec), it->off);
    if (!sym) continue;  // a file that shrank while mapped reads as zeros
    auto n = detail::cstring_at(section_data(sections_[sec.link]), sym->st_name);
    if (!n || *n != name) continue;
    Symbol s{std::string(*n), sym->st_value, sym->st_size, uint8_t(ELF64_ST_TYPE(sym->st_info))};
    if (it->defined) return s;
    if (!undefined) undefined = std::move(s);
  }
  return undefined;
}

std::vector<Symbol> ElfFile::symbols() const {
  std::vector<Symbol> all;
  for (uint32_t type : {SHT_SYMTAB, SHT_DYNSYM}) {
    for_each_symbol(type, [&](size_t, uint64_t, std::string_view name, const Elf64_Sym& sym) {
      all.push_back(Symbol{std::string(name), sym.st_value, sym.st_size,
                           uint8_t(ELF64_ST_TYPE(sym.st_info))});
    });
  }
  return all;
}

}  // namespace leakhound::binary
