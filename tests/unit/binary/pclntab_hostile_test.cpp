// Broken, truncated and unusual inputs for Pclntab::load: each must give an
// Error or a usable table, never a crash (run under ASan/UBSan too).
#include <gtest/gtest.h>

#include <random>

#include "binary/buildinfo.h"
#include "binary/pclntab.h"
#include "test_support.h"

namespace leakhound::binary {
namespace {

using testing::get;
using testing::put;
using testing::Target;

struct Image {
  std::vector<uint8_t> bytes;
  uint64_t pcln_off = 0, pcln_size = 0;  // .gopclntab in the file
  uint64_t pcln_shdr = 0;                // file offset of its section header
};

Image load_image(const Target& t) {
  Image img;
  img.bytes = testing::read_file(t.path());
  if (img.bytes.size() < 4096) {
    ADD_FAILURE() << "missing test target " << t.path();
    return img;
  }
  auto sh = testing::find_shdr(img.bytes, ".gopclntab");
  if (!sh) sh = testing::find_shdr(img.bytes, ".data.rel.ro.gopclntab");
  if (!sh) {
    ADD_FAILURE() << "no pclntab section in " << t.path();
    return img;
  }
  img.pcln_shdr = sh->first;
  img.pcln_off = sh->second.sh_offset;
  img.pcln_size = sh->second.sh_size;
  return img;
}

Result<Pclntab> load_bytes(std::vector<uint8_t> b, Result<ElfFile>* keep = nullptr) {
  auto elf = ElfFile::from_bytes(std::move(b), "/x/hostile");
  if (!elf) return elf.error();
  auto t = Pclntab::load(*elf);
  if (keep) *keep = std::move(elf);
  return t;
}

std::string load_error(std::vector<uint8_t> b) {
  auto t = load_bytes(std::move(b));
  return t ? std::string() : t.error().message;
}

// Exercises every lookup on a table that loaded from damaged input.
void exercise(const Pclntab& t, std::mt19937_64& rng) {
  size_t n = 0;
  t.for_each_func([&](const FuncInfo& f) {
    if (n++ % 13) return;
    for (uint64_t pc = f.entry; pc < f.end && pc < f.entry + 256; pc += t.min_lc()) {
      (void)t.frames(pc);
    }
  });
  for (int i = 0; i < 200; i++) (void)t.frames(t.text_start() + rng() % 0x200000);
  (void)t.func_by_name("main.leakOne");
  (void)t.func_for_pc(t.text_start());
}

class PclntabHostile : public ::testing::TestWithParam<Target> {};

TEST_P(PclntabHostile, CorruptHeaderFields) {
  Image img = load_image(GetParam());
  ASSERT_GT(img.pcln_size, 0u);
  ASSERT_EQ(load_error(img.bytes), "");
  auto with = [&](uint64_t at, auto value) {
    auto b = img.bytes;
    put(b, img.pcln_off + at, value);
    return load_error(std::move(b));
  };
  EXPECT_NE(with(0, uint32_t(0xfffffffb)).find("unsupported magic 0xfffffffb"), std::string::npos);
  EXPECT_NE(with(6, uint8_t(3)).find("malformed header"), std::string::npos);
  EXPECT_NE(with(7, uint8_t(4)).find("pointer size 4"), std::string::npos);
  EXPECT_NE(with(8, uint64_t(1) << 62).find("function count"), std::string::npos);
  EXPECT_NE(with(8, ~uint64_t(0)).find("function count"), std::string::npos);
  EXPECT_NE(with(8, uint64_t(0)).find("function count"), std::string::npos);
  for (int field = 3; field < 8; field++) {
    EXPECT_NE(with(8 + 8 * field, img.pcln_size + 1).find("out of range"), std::string::npos);
    EXPECT_NE(with(8 + 8 * field, ~uint64_t(0)).find("out of range"), std::string::npos);
  }
}

TEST_P(PclntabHostile, UnsortedAndDanglingFunctab) {
  Image img = load_image(GetParam());
  ASSERT_GT(img.pcln_size, 0u);
  uint64_t ftab = img.pcln_off + get<uint64_t>(img.bytes, img.pcln_off + 8 + 8 * 7);
  auto b = img.bytes;
  put(b, ftab + 10 * 8, get<uint32_t>(b, ftab + 12 * 8));
  EXPECT_NE(load_error(b).find("not sorted"), std::string::npos);

  // Every _func offset out of range: loads (the functab itself is fine), but
  // no function has a name or frames.
  b = img.bytes;
  uint64_t nfunc = get<uint64_t>(b, img.pcln_off + 8);
  for (uint64_t i = 0; i < nfunc; i++) put(b, ftab + i * 8 + 4, uint32_t(0xfffffff0 - i));
  Result<ElfFile> keep = Error{};
  auto t = load_bytes(b, &keep);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_FALSE(t->func_by_name("main.leakOne"));
  EXPECT_TRUE(t->frames(t->text_start() + 0x100).empty());
  EXPECT_FALSE(t->func_for_pc(t->text_start() + 0x100));
}

TEST_P(PclntabHostile, TruncatedSection) {
  Image img = load_image(GetParam());
  ASSERT_GT(img.pcln_size, 0u);
  for (uint64_t size : {0ul, 8ul, 71ul, 72ul, 200ul, img.pcln_size / 2}) {
    auto b = img.bytes;
    auto sh = get<Elf64_Shdr>(b, img.pcln_shdr);
    sh.sh_size = size;
    put(b, img.pcln_shdr, sh);
    EXPECT_NE(load_error(b), "") << "size " << size;
  }
}

TEST_P(PclntabHostile, RandomDamageNeverCrashes) {
  Image img = load_image(GetParam());
  ASSERT_GT(img.pcln_size, 0u);
  std::mt19937_64 rng(1234);
  int loaded = 0;
  for (int iter = 0; iter < 60; iter++) {
    auto b = img.bytes;
    int flips = 1 + int(rng() % 64);
    for (int i = 0; i < flips; i++) {
      // Mostly the header and functab, sometimes anywhere in the tables.
      uint64_t span = rng() % 2 ? 4096 : img.pcln_size;
      b[img.pcln_off + rng() % std::min(span, img.pcln_size)] = uint8_t(rng());
    }
    Result<ElfFile> keep = Error{};
    auto t = load_bytes(std::move(b), &keep);
    if (!t) continue;
    loaded++;
    exercise(*t, rng);
  }
  EXPECT_GT(loaded, 0);
}

TEST_P(PclntabHostile, GarbageLineAndInlineTables) {
  Image img = load_image(GetParam());
  ASSERT_GT(img.pcln_size, 0u);
  std::mt19937_64 rng(99);
  auto b = img.bytes;
  // Overwrite pctab (line, file and inline-index tables) with noise.
  uint64_t pctab = get<uint64_t>(b, img.pcln_off + 8 + 8 * 6);
  uint64_t pcln = get<uint64_t>(b, img.pcln_off + 8 + 8 * 7);
  for (uint64_t i = pctab; i < pcln; i++) b[img.pcln_off + i] = uint8_t(rng());
  Result<ElfFile> keep = Error{};
  auto t = load_bytes(b, &keep);
  ASSERT_TRUE(t) << t.error().message;
  exercise(*t, rng);

  // Noise in the inline trees (gofunc) instead.
  auto clean = load_bytes(img.bytes, &keep);
  ASSERT_TRUE(clean);
  auto gofunc_off = keep->vaddr_to_offset(clean->gofunc());
  ASSERT_TRUE(gofunc_off);
  b = img.bytes;
  for (uint64_t i = *gofunc_off; i < b.size() && i < *gofunc_off + 0x40000; i++) {
    b[i] = uint8_t(rng());
  }
  t = load_bytes(b, &keep);
  if (t) exercise(*t, rng);
}

TEST_P(PclntabHostile, WithoutSectionHeaders) {
  // sstrip-style: only program headers remain; pclntab, moduledata and
  // buildinfo are found in the segments.
  Image img = load_image(GetParam());
  ASSERT_GT(img.pcln_size, 0u);
  Result<ElfFile> keep_full = Error{}, keep_bare = Error{};
  auto full = load_bytes(img.bytes, &keep_full);
  ASSERT_TRUE(full);
  auto b = img.bytes;
  auto eh = get<Elf64_Ehdr>(b, 0);
  eh.e_shoff = 0;
  eh.e_shnum = 0;
  eh.e_shstrndx = 0;
  put(b, 0, eh);
  auto bare = load_bytes(b, &keep_bare);
  ASSERT_TRUE(bare) << bare.error().message;
  EXPECT_TRUE(keep_bare->sections().empty());
  EXPECT_EQ(bare->num_funcs(), full->num_funcs());
  EXPECT_EQ(bare->text_start(), full->text_start());
  EXPECT_EQ(bare->moduledata(), full->moduledata());
  EXPECT_EQ(bare->gofunc(), full->gofunc());
  auto f = bare->func_by_name("main.leakOne");
  ASSERT_TRUE(f);
  EXPECT_EQ(bare->frames(f->entry + 8).front().line, full->frames(f->entry + 8).front().line);
  auto bi = read_buildinfo(*keep_bare);
  ASSERT_TRUE(bi) << bi.error().message;
  EXPECT_EQ(bi->go_version.minor, GetParam().minor());
}

TEST_P(PclntabHostile, ModuledataNotFound) {
  Image img = load_image(GetParam());
  ASSERT_GT(img.pcln_size, 0u);
  Result<ElfFile> keep = Error{};
  auto clean = load_bytes(img.bytes, &keep);
  ASSERT_TRUE(clean);
  auto md = keep->vaddr_to_offset(clean->moduledata());
  ASSERT_TRUE(md);
  auto b = img.bytes;
  // moduledata.text outside the text segment (not 0: a PIE would recover 0 from its relocation).
  put(b, *md + 176, uint64_t(0x10));
  auto t = load_bytes(b, &keep);
  bool has_text_symbol = keep->symbol("runtime.text").has_value();
  if (GetParam().minor() >= 26 && !has_text_symbol) {
    // 1.26+ stores no text start in the header: without moduledata there is none.
    ASSERT_FALSE(t);
    EXPECT_NE(t.error().message.find("moduledata was not found"), std::string::npos);
  } else {
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->moduledata(), 0u);
    EXPECT_EQ(t->text_start(), clean->text_start());
    ASSERT_TRUE(t->func_by_name("main.leakOne"));
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, PclntabHostile,
                         ::testing::Values(Target{"1.21", "default"}, Target{"1.21", "strip"},
                                           Target{"1.26", "default"}, Target{"1.26", "strip"},
                                           Target{"1.27", "pie"}, Target{"1.27", "arm64-strip"}),
                         testing::target_test_name);

// A PIE whose pointer words are left zero in the file (as linkers other than
// Go's may do): moduledata is then found through the R_*_RELATIVE relocations.
TEST(PclntabPie, ModuledataThroughRelocations) {
  for (const char* version : {"1.21", "1.26", "1.27"}) {
    Image img = load_image({version, "pie"});
    ASSERT_GT(img.pcln_size, 0u);
    Result<ElfFile> keep = Error{};
    auto clean = load_bytes(img.bytes, &keep);
    ASSERT_TRUE(clean);
    auto rela = testing::find_shdr(img.bytes, ".rela");
    ASSERT_TRUE(rela);
    auto b = img.bytes;
    size_t zeroed = 0;
    for (uint64_t off = 0; off + sizeof(Elf64_Rela) <= rela->second.sh_size;
         off += sizeof(Elf64_Rela)) {
      auto r = get<Elf64_Rela>(b, rela->second.sh_offset + off);
      if (ELF64_R_TYPE(r.r_info) != R_X86_64_RELATIVE) continue;
      auto at = keep->vaddr_to_offset(r.r_offset);
      if (!at) continue;
      put(b, *at, uint64_t(0));
      zeroed++;
    }
    ASSERT_GT(zeroed, 100u);
    auto t = load_bytes(b, &keep);
    ASSERT_TRUE(t) << version << ": " << t.error().message;
    EXPECT_EQ(t->moduledata(), clean->moduledata()) << version;
    EXPECT_EQ(t->text_start(), clean->text_start()) << version;
    EXPECT_EQ(t->gofunc(), clean->gofunc()) << version;
  }
}

TEST(PclntabHostile, NotAGoProgram) {
  auto b = testing::build_elf({{".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, 0x1000, {0xc3}}},
                              EM_X86_64);
  EXPECT_EQ(load_error(b), "/x/hostile: no .gopclntab section (not a Go program?)");
  auto self = ElfFile::open("/proc/self/exe");
  ASSERT_TRUE(self);
  EXPECT_FALSE(Pclntab::load(*self));
}

}  // namespace
}  // namespace leakhound::binary
