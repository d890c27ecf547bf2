#include "binary/elf_file.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <unordered_map>

#include "binary/byte_reader.h"

namespace leakhound::binary {

using detail::Bytes;
using detail::in_bounds;
using detail::read_le;

struct ElfFile::SymbolIndex {
  std::once_flag once;
  std::vector<Symbol> all;
  std::vector<bool> defined;  // st_shndx != SHN_UNDEF, parallel to all
  // Views into the file's string tables, which outlive the index.
  std::unordered_map<std::string_view, size_t> symtab, dynsym;
};

namespace {

// Reads all of fd; st_size is only a hint because /proc files report 0.
Result<std::vector<uint8_t>> read_all(int fd, const std::string& path) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return errno_error(errno, "{}: cannot stat", path);
  if (!S_ISREG(st.st_mode)) return make_error("{}: not a regular file", path);
  std::vector<uint8_t> buf(st.st_size > 0 ? size_t(st.st_size) : size_t(1) << 16);
  size_t used = 0;
  for (;;) {
    if (used == buf.size()) buf.resize(buf.size() * 2);
    ssize_t n = ::read(fd, buf.data() + used, buf.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, "{}: cannot read", path);
    }
    if (n == 0) break;
    used += size_t(n);
  }
  buf.resize(used);
  return buf;
}

}  // namespace

Result<ElfFile> ElfFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_error(errno, "{}: cannot open", path);
  auto bytes = read_all(fd, path);
  ::close(fd);
  if (!bytes) return bytes.error();
  return from_bytes(std::move(*bytes), path);
}

Result<ElfFile> ElfFile::from_bytes(std::vector<uint8_t> bytes, std::string name) {
  ElfFile f;
  f.path_ = std::move(name);
  f.bytes_ = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
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
    Bytes b = bytes();
    auto& idx = *symbols_;
    std::vector<std::string_view> keys;
    auto add_table = [&](uint32_t type) {
      for (const auto& sec : sections_) {
        if (sec.type != type || sec.link >= sections_.size()) continue;
        Bytes data = section_data(sec);
        Bytes strtab = section_data(sections_[sec.link]);
        uint64_t ent = sec.entsize >= sizeof(Elf64_Sym) ? sec.entsize : sizeof(Elf64_Sym);
        for (uint64_t off = 0; in_bounds(off, sizeof(Elf64_Sym), data.size()); off += ent) {
          auto sym = *read_le<Elf64_Sym>(data, off);
          auto name = detail::cstring_at(strtab, sym.st_name);
          if (!name || name->empty()) continue;
          idx.all.push_back(Symbol{std::string(*name), sym.st_value, sym.st_size,
                                   uint8_t(ELF64_ST_TYPE(sym.st_info))});
          idx.defined.push_back(sym.st_shndx != SHN_UNDEF);
          keys.push_back(*name);
        }
      }
    };
    add_table(SHT_SYMTAB);
    size_t first_dynamic = idx.all.size();
    add_table(SHT_DYNSYM);
    for (size_t i = 0; i < keys.size(); i++) {
      auto& map = i < first_dynamic ? idx.symtab : idx.dynsym;
      auto [it, inserted] = map.emplace(keys[i], i);
      // An undefined import must not hide the definition of the same name.
      if (!inserted && idx.defined[i] && !idx.defined[it->second]) it->second = i;
    }
  });
  return *symbols_;
}

std::optional<Symbol> ElfFile::symbol(std::string_view name) const {
  const auto& idx = symbol_index();
  std::optional<size_t> undefined;
  for (const auto* map : {&idx.symtab, &idx.dynsym}) {
    auto it = map->find(name);
    if (it == map->end()) continue;
    if (idx.defined[it->second]) return idx.all[it->second];
    if (!undefined) undefined = it->second;
  }
  if (undefined) return idx.all[*undefined];
  return std::nullopt;
}

const std::vector<Symbol>& ElfFile::symbols() const { return symbol_index().all; }

}  // namespace leakhound::binary
