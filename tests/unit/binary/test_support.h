// Shared helpers for the binary/ unit tests: the Go test targets built by
// scripts/build-targets.sh, the heapleak source, and a tiny ELF writer for
// hand-made (and hand-broken) inputs.
#pragma once

#include <elf.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "binary/elf_file.h"
#include "leakhound/support.h"

namespace leakhound::binary::testing {

// Every supported minor release (scripts/go-versions.txt via leakhound/support.h).
inline const std::vector<std::string> kVersions = [] {
  std::vector<std::string> v;
  for (int m = support::kGoMinMinor; m <= support::kGoMaxMinor; m++)
    v.push_back("1." + std::to_string(m));
  return v;
}();
inline const std::vector<std::string> kVariants = {"default", "strip", "pie",
                                                   "cgo",     "arm64", "arm64-strip"};

inline std::string targets_dir() {
  if (const char* d = std::getenv("LEAKHOUND_TARGETS_DIR"); d && *d) return d;
  return std::string(LEAKHOUND_SOURCE_DIR) + "/build/targets";
}

struct Target {
  std::string version;  // "1.26"
  std::string variant;  // "default", "arm64-strip", ...
  std::string name() const { return "heapleak-go" + version + "-" + variant; }
  std::string path() const { return targets_dir() + "/" + name(); }
  int minor() const { return std::stoi(version.substr(2)); }
  bool arm64() const { return variant.starts_with("arm64"); }
  bool stripped() const { return variant.ends_with("strip"); }
};

// Readable parameter values in gtest and ctest output.
inline void PrintTo(const Target& t, std::ostream* os) { *os << t.name(); }

inline std::vector<Target> all_targets(const std::vector<std::string>& variants = kVariants) {
  std::vector<Target> out;
  for (const auto& v : kVersions) {
    for (const auto& var : variants) out.push_back({v, var});
  }
  return out;
}

// gtest parameter names: "go1_26_arm64_strip".
inline std::string target_test_name(const ::testing::TestParamInfo<Target>& info) {
  std::string s = "go" + info.param.version + "_" + info.param.variant;
  for (char& c : s) {
    if (c == '.' || c == '-') c = '_';
  }
  return s;
}

// Opens a target; a missing target fails the test (it must not pass by skipping).
inline std::optional<ElfFile> open_target(const Target& t) {
  if (!std::filesystem::exists(t.path())) {
    ADD_FAILURE() << "missing test target " << t.path()
                  << ": build it with scripts/build-targets.sh (or set LEAKHOUND_TARGETS_DIR)";
    return std::nullopt;
  }
  auto elf = ElfFile::open(t.path());
  if (!elf) {
    ADD_FAILURE() << elf.error().message;
    return std::nullopt;
  }
  return std::move(*elf);
}

inline std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::string heapleak_source() {
  return std::string(LEAKHOUND_SOURCE_DIR) + "/tests/targets/go/heapleak/main.go";
}

// 1-based number of the first line of heapleak/main.go containing `marker`; 0 if none.
inline int64_t source_line(const std::string& marker) {
  std::ifstream in(heapleak_source());
  std::string line;
  for (int64_t n = 1; std::getline(in, line); n++) {
    if (line.find(marker) != std::string::npos) return n;
  }
  return 0;
}

template <typename T>
void put(std::vector<uint8_t>& b, uint64_t off, const T& v) {
  if (b.size() < off + sizeof(T)) b.resize(off + sizeof(T));
  std::memcpy(b.data() + off, &v, sizeof(T));
}

template <typename T>
T get(const std::vector<uint8_t>& b, uint64_t off) {
  T v;
  std::memcpy(&v, b.data() + off, sizeof(T));
  return v;
}

struct SynthSection {
  std::string name;
  uint32_t type = SHT_PROGBITS;
  uint64_t flags = SHF_ALLOC;
  uint64_t addr = 0;
  std::vector<uint8_t> data;
};

// A minimal ELF64 executable: one PT_LOAD per allocated section, then the
// section name table and the section headers at the end.
inline std::vector<uint8_t> build_elf(const std::vector<SynthSection>& secs,
                                      uint16_t machine = EM_X86_64) {
  std::vector<uint8_t> b(sizeof(Elf64_Ehdr));
  size_t nload = 0;
  for (const auto& s : secs) nload += (s.flags & SHF_ALLOC) ? 1 : 0;
  uint64_t phoff = b.size();
  b.resize(phoff + nload * sizeof(Elf64_Phdr));
  std::vector<uint64_t> offsets;
  for (const auto& s : secs) {
    b.resize((b.size() + 15) & ~uint64_t(15));
    offsets.push_back(b.size());
    b.insert(b.end(), s.data.begin(), s.data.end());
  }
  std::string shstr(1, '\0');
  std::vector<uint32_t> names;
  for (const auto& s : secs) {
    names.push_back(uint32_t(shstr.size()));
    shstr += s.name + '\0';
  }
  uint32_t shstr_name = uint32_t(shstr.size());
  shstr += std::string(".shstrtab") + '\0';
  uint64_t shstr_off = b.size();
  b.insert(b.end(), shstr.begin(), shstr.end());
  b.resize((b.size() + 7) & ~uint64_t(7));
  uint64_t shoff = b.size();
  b.resize(shoff + (secs.size() + 2) * sizeof(Elf64_Shdr));  // null + secs + shstrtab

  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = machine;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = nload ? phoff : 0;
  eh.e_shoff = shoff;
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = uint16_t(nload);
  eh.e_shentsize = sizeof(Elf64_Shdr);
  eh.e_shnum = uint16_t(secs.size() + 2);
  eh.e_shstrndx = uint16_t(secs.size() + 1);
  put(b, 0, eh);

  size_t ph = 0;
  for (size_t i = 0; i < secs.size(); i++) {
    const auto& s = secs[i];
    Elf64_Shdr sh{};
    sh.sh_name = names[i];
    sh.sh_type = s.type;
    sh.sh_flags = s.flags;
    sh.sh_addr = s.addr;
    sh.sh_offset = offsets[i];
    sh.sh_size = s.data.size();
    sh.sh_addralign = 1;
    put(b, shoff + (i + 1) * sizeof(Elf64_Shdr), sh);
    if (s.flags & SHF_ALLOC) {
      Elf64_Phdr p{};
      p.p_type = PT_LOAD;
      p.p_flags =
          PF_R | ((s.flags & SHF_WRITE) ? PF_W : 0) | ((s.flags & SHF_EXECINSTR) ? PF_X : 0);
      p.p_offset = offsets[i];
      p.p_vaddr = p.p_paddr = s.addr;
      p.p_filesz = p.p_memsz = s.data.size();
      p.p_align = 1;
      put(b, phoff + ph++ * sizeof(Elf64_Phdr), p);
    }
  }
  Elf64_Shdr sh{};
  sh.sh_name = shstr_name;
  sh.sh_type = SHT_STRTAB;
  sh.sh_offset = shstr_off;
  sh.sh_size = shstr.size();
  put(b, shoff + (secs.size() + 1) * sizeof(Elf64_Shdr), sh);
  return b;
}

// Section header `name` of an ELF image, for tests that corrupt one in place.
inline std::optional<std::pair<uint64_t, Elf64_Shdr>> find_shdr(const std::vector<uint8_t>& b,
                                                                const std::string& name) {
  auto eh = get<Elf64_Ehdr>(b, 0);
  auto strtab = get<Elf64_Shdr>(b, eh.e_shoff + uint64_t(eh.e_shstrndx) * eh.e_shentsize);
  for (uint64_t i = 0; i < eh.e_shnum; i++) {
    uint64_t at = eh.e_shoff + i * eh.e_shentsize;
    auto sh = get<Elf64_Shdr>(b, at);
    if (name == reinterpret_cast<const char*>(b.data() + strtab.sh_offset + sh.sh_name)) {
      return std::pair{at, sh};
    }
  }
  return std::nullopt;
}

}  // namespace leakhound::binary::testing
