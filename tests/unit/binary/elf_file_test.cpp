#include "binary/elf_file.h"

#include <gtest/gtest.h>

#include <random>

#include "test_support.h"

namespace leakhound::binary {
namespace {

using testing::all_targets;
using testing::build_elf;
using testing::get;
using testing::put;
using testing::SynthSection;
using testing::Target;

class ElfTarget : public ::testing::TestWithParam<Target> {};

TEST_P(ElfTarget, SectionsSegmentsAndMachine) {
  auto elf = testing::open_target(GetParam());
  ASSERT_TRUE(elf);
  EXPECT_EQ(elf->machine(), GetParam().arm64() ? Machine::AArch64 : Machine::X86_64);
  EXPECT_EQ(elf->is_pie(), GetParam().variant == "pie");
  auto text = elf->section(".text");
  ASSERT_TRUE(text);
  EXPECT_TRUE(text->flags & SHF_EXECINSTR);
  EXPECT_TRUE(elf->section(".gopclntab") || elf->section(".data.rel.ro.gopclntab"));
  EXPECT_FALSE(elf->section(".no-such-section"));

  size_t loads = 0;
  bool exec = false;
  for (const auto& s : elf->segments()) {
    if (s.type != PT_LOAD) continue;
    loads++;
    exec |= (s.flags & PF_X) != 0;
  }
  EXPECT_GE(loads, 2u);
  EXPECT_TRUE(exec);
  // Externally linked binaries keep the runtime's g slot in a PT_TLS segment.
  if (GetParam().variant == "cgo") {
    EXPECT_TRUE(std::any_of(elf->segments().begin(), elf->segments().end(),
                            [](const Segment& s) { return s.type == PT_TLS; }));
  }
}

TEST_P(ElfTarget, VirtualAddressesMapToSectionBytes) {
  auto elf = testing::open_target(GetParam());
  ASSERT_TRUE(elf);
  for (const char* name : {".text", ".rodata", ".go.buildinfo", ".noptrdata"}) {
    auto s = elf->section(name);
    ASSERT_TRUE(s) << name;
    auto data = elf->section_data(*s);
    ASSERT_EQ(data.size(), s->size);
    size_t n = std::min<size_t>(64, s->size);
    auto bytes = elf->read_vaddr(s->addr, n);
    ASSERT_TRUE(bytes) << bytes.error().message;
    EXPECT_TRUE(std::equal(bytes->begin(), bytes->end(), data.begin())) << name;
    auto off = elf->vaddr_to_offset(s->addr + 1);
    ASSERT_TRUE(off);
    EXPECT_EQ(*off, s->offset + 1) << name;
  }
  auto bss = elf->section(".bss");
  ASSERT_TRUE(bss);
  auto r = elf->read_vaddr(bss->addr + 8, 8);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not backed by the file"), std::string::npos)
      << r.error().message;
  auto none = elf->read_vaddr(0x10, 8);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find(GetParam().path()), std::string::npos);
  EXPECT_FALSE(elf->vaddr_to_offset(~uint64_t(0) - 4));
  EXPECT_FALSE(elf->read_vaddr(~uint64_t(0) - 4, 16));
}

TEST_P(ElfTarget, Symbols) {
  auto elf = testing::open_target(GetParam());
  ASSERT_TRUE(elf);
  EXPECT_EQ(elf->has_symtab(), !GetParam().stripped());
  auto text = elf->symbol("runtime.text");
  auto leak = elf->symbol("main.leakOne");
  if (GetParam().stripped()) {
    EXPECT_FALSE(text);
    EXPECT_FALSE(leak);
    return;
  }
  ASSERT_TRUE(text);
  ASSERT_TRUE(leak);
  EXPECT_EQ(leak->type, STT_FUNC);
  EXPECT_GT(leak->size, 0u);
  EXPECT_GT(leak->value, text->value);
  EXPECT_GT(elf->symbols().size(), 1000u);
  EXPECT_FALSE(elf->symbol("no.such.symbol"));
  if (GetParam().variant == "cgo") {
    // Imports from libc are only in .dynsym.
    EXPECT_TRUE(elf->symbol("malloc") || elf->symbol("pthread_create"));
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, ElfTarget, ::testing::ValuesIn(all_targets()),
                         testing::target_test_name);

std::string open_error(std::vector<uint8_t> bytes) {
  auto r = ElfFile::from_bytes(std::move(bytes), "/x/bad");
  return r ? std::string() : r.error().message;
}

TEST(ElfHostile, MissingAndNonRegularFiles) {
  auto missing = ElfFile::open("/nonexistent/leakhound-test");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("/nonexistent/leakhound-test"), std::string::npos);
  EXPECT_NE(missing.error().message.find("No such file"), std::string::npos);
  auto dir = ElfFile::open("/");
  ASSERT_FALSE(dir);
  EXPECT_NE(dir.error().message.find("not a regular file"), std::string::npos);
}

TEST(ElfHostile, NotElf) {
  EXPECT_EQ(open_error({}), "/x/bad: not an ELF file");
  EXPECT_EQ(open_error({'#', '!', '/', 'b', 'i', 'n'}), "/x/bad: not an ELF file");
  EXPECT_EQ(open_error({0x7f, 'E', 'L'}), "/x/bad: not an ELF file");
  std::vector<uint8_t> hdr = {0x7f, 'E', 'L', 'F', ELFCLASS64, ELFDATA2LSB, 1};
  EXPECT_EQ(open_error(hdr), "/x/bad: truncated ELF header");
  hdr[EI_CLASS] = ELFCLASS32;
  EXPECT_NE(open_error(hdr).find("only 64-bit"), std::string::npos);
}

TEST(ElfHostile, TruncatedRealBinary) {
  Target t{"1.26", "default"};
  auto bytes = testing::read_file(t.path());
  ASSERT_GT(bytes.size(), 100000u) << "missing test target " << t.path();
  // Go puts the section headers right after the program headers: cutting
  // there truncates the table, cutting later truncates a section.
  auto eh = get<Elf64_Ehdr>(bytes, 0);
  std::vector<size_t> cuts = {
      0, 4, 16, 63, 64, 100, size_t(eh.e_shoff) + 10, 4096, bytes.size() / 2, bytes.size() - 1};
  for (size_t cut : cuts) {
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + cut);
    EXPECT_FALSE(open_error(prefix).empty()) << "cut at " << cut;
  }
  std::vector<uint8_t> sh_cut(bytes.begin(), bytes.begin() + eh.e_shoff + 10);
  EXPECT_NE(open_error(sh_cut).find("truncated section header table"), std::string::npos);
  std::vector<uint8_t> half(bytes.begin(), bytes.begin() + bytes.size() / 2);
  EXPECT_NE(open_error(half).find("extends past end of file"), std::string::npos)
      << open_error(half);
}

TEST(ElfHostile, CorruptHeaders) {
  auto good = build_elf({{".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, 0x1000, {0xc3}}});
  ASSERT_EQ(open_error(good), "");
  auto eh = get<Elf64_Ehdr>(good, 0);
  auto corrupt = [&](auto mutate) {
    auto b = good;
    auto h = eh;
    mutate(h, b);
    put(b, 0, h);
    return open_error(b);
  };
  EXPECT_NE(corrupt([](Elf64_Ehdr& h, auto&) { h.e_shoff = ~uint64_t(0) - 8; }), "");
  EXPECT_NE(corrupt([](Elf64_Ehdr& h, auto&) { h.e_shnum = 0xfff0; }), "");
  EXPECT_NE(corrupt([](Elf64_Ehdr& h, auto&) { h.e_shentsize = 8; }), "");
  EXPECT_NE(corrupt([](Elf64_Ehdr& h, auto&) { h.e_shstrndx = 77; }), "");
  EXPECT_NE(corrupt([](Elf64_Ehdr& h, auto&) { h.e_phoff = ~uint64_t(0) - 100; }), "");
  EXPECT_NE(corrupt([](Elf64_Ehdr& h, auto&) { h.e_phnum = 0xfffe; }), "");
  // Extended program header count (in section 0's sh_info) larger than the file.
  EXPECT_NE(corrupt([](Elf64_Ehdr& h, auto& b) {
              h.e_phnum = PN_XNUM;
              auto sh0 = get<Elf64_Shdr>(b, h.e_shoff);
              sh0.sh_info = 0xfffff;
              put(b, h.e_shoff, sh0);
            }).find("truncated program header table"),
            std::string::npos);
  EXPECT_NE(corrupt([](Elf64_Ehdr& h, auto&) { h.e_ident[EI_DATA] = ELFDATA2MSB; }), "");
  // Extended section numbering with a bogus count in section 0.
  EXPECT_NE(corrupt([](Elf64_Ehdr& h, auto& b) {
              h.e_shnum = 0;
              Elf64_Shdr sh0{};
              sh0.sh_size = uint64_t(1) << 60;
              put(b, h.e_shoff, sh0);
            }),
            "");
  // A section whose data lies past the end of the file.
  EXPECT_NE(corrupt([](Elf64_Ehdr& h, auto& b) {
              auto sh = get<Elf64_Shdr>(b, h.e_shoff + sizeof(Elf64_Shdr));
              sh.sh_offset = ~uint64_t(0) - 2;
              put(b, h.e_shoff + sizeof(Elf64_Shdr), sh);
            }).find("extends past end of file"),
            std::string::npos);
  // A section name offset outside the name table.
  EXPECT_NE(corrupt([](Elf64_Ehdr& h, auto& b) {
              auto sh = get<Elf64_Shdr>(b, h.e_shoff + sizeof(Elf64_Shdr));
              sh.sh_name = 0x7fffffff;
              put(b, h.e_shoff + sizeof(Elf64_Shdr), sh);
            }).find("name offset out of range"),
            std::string::npos);
  // A segment whose file size exceeds its memory size, or whose range wraps.
  EXPECT_NE(corrupt([](Elf64_Ehdr& h, auto& b) {
              auto ph = get<Elf64_Phdr>(b, h.e_phoff);
              ph.p_filesz = ph.p_memsz + 1;
              put(b, h.e_phoff, ph);
            }),
            "");
  EXPECT_NE(corrupt([](Elf64_Ehdr& h, auto& b) {
              auto ph = get<Elf64_Phdr>(b, h.e_phoff);
              ph.p_vaddr = ~uint64_t(0);
              put(b, h.e_phoff, ph);
            }),
            "");
}

TEST(ElfHostile, BrokenSymbolTables) {
  std::vector<uint8_t> syms(3 * sizeof(Elf64_Sym));
  Elf64_Sym s{};
  s.st_name = 1;
  s.st_value = 0x1000;
  s.st_shndx = 1;
  put(syms, sizeof(Elf64_Sym), s);
  s.st_name = 0x7ffffff0;  // outside the string table
  put(syms, 2 * sizeof(Elf64_Sym), s);
  std::vector<uint8_t> str = {0, 'f', 0, 'g'};  // "g" is not NUL-terminated
  auto b = build_elf({{".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, 0x1000, {0xc3}},
                      {".symtab", SHT_SYMTAB, 0, 0, syms},
                      {".strtab", SHT_STRTAB, 0, 0, str}});
  // .symtab's sh_link must name .strtab (section 3).
  auto sym_hdr = testing::find_shdr(b, ".symtab");
  ASSERT_TRUE(sym_hdr);
  sym_hdr->second.sh_link = 3;
  sym_hdr->second.sh_entsize = sizeof(Elf64_Sym);
  put(b, sym_hdr->first, sym_hdr->second);
  auto elf = ElfFile::from_bytes(b);
  ASSERT_TRUE(elf) << elf.error().message;
  EXPECT_TRUE(elf->has_symtab());
  auto f = elf->symbol("f");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->value, 0x1000u);
  EXPECT_FALSE(elf->symbol("g"));
  EXPECT_EQ(elf->symbols().size(), 1u);

  // A symbol table linked to a nonexistent string table yields no symbols.
  sym_hdr->second.sh_link = 99;
  put(b, sym_hdr->first, sym_hdr->second);
  auto elf2 = ElfFile::from_bytes(b);
  ASSERT_TRUE(elf2);
  EXPECT_FALSE(elf2->symbol("f"));
}

TEST(ElfHostile, RandomBytesNeverCrash) {
  Target t{"1.24", "default"};
  auto real = testing::read_file(t.path());
  ASSERT_GT(real.size(), 4096u) << "missing test target " << t.path();
  std::mt19937_64 rng(42);
  for (int iter = 0; iter < 3000; iter++) {
    std::vector<uint8_t> b;
    if (iter % 3 == 0) {
      b.resize(rng() % 4096);
      for (auto& x : b) x = uint8_t(rng());
      if (b.size() >= 4) std::memcpy(b.data(), ELFMAG, 4);
    } else {
      // The real headers with random bytes flipped: deeper into the parser.
      b.assign(real.begin(), real.begin() + 4096);
      b.resize(8192 + rng() % 8192);
      int flips = 1 + int(rng() % 16);
      for (int i = 0; i < flips; i++) b[rng() % 512] = uint8_t(rng());
    }
    auto elf = ElfFile::from_bytes(b, "fuzz");
    if (!elf) {
      EXPECT_FALSE(elf.error().message.empty());
      continue;
    }
    for (const auto& s : elf->sections()) (void)elf->section_data(s);
    (void)elf->symbol("main.main");
    (void)elf->read_vaddr(0x401000, 64);
    (void)elf->vaddr_to_offset(0x401000);
  }
}

}  // namespace
}  // namespace leakhound::binary
