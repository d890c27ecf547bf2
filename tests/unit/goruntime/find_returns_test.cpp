// find_returns on the real runtime.newproc1 of every Go toolchain 1.18-1.27
// (the goroutine-creation probes sit on its RETs), amd64 and arm64.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "binary/elf_file.h"
#include "binary/pclntab.h"
#include "goruntime/profile_layout.h"
#include "goruntime/return_sites.h"

namespace leakhound::goruntime {
namespace {

std::string targets_dir() {
  if (const char* d = std::getenv("LEAKHOUND_TARGETS_DIR"); d && *d) return d;
  return LEAKHOUND_SOURCE_DIR "/build/targets";
}

void check(int minor, const std::string& variant, bool arm64) {
  SCOPED_TRACE(fmt::format("go1.{} {}", minor, variant));
  const std::string path = fmt::format("{}/heapleak-go1.{}-{}", targets_dir(), minor, variant);
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " is missing: run scripts/build-targets.sh";
  auto elf = binary::ElfFile::open(path);
  ASSERT_TRUE(elf) << elf.error().message;
  auto pcln = binary::Pclntab::load(*elf);
  ASSERT_TRUE(pcln) << pcln.error().message;
  auto fn = pcln->func_by_name("runtime.newproc1");
  ASSERT_TRUE(fn);
  auto rets = find_returns(*elf, fn->entry, fn->end);
  ASSERT_TRUE(rets) << rets.error().message;
  ASSERT_FALSE(rets->empty());
  for (uint64_t a : *rets) {
    ASSERT_GE(a, fn->entry);
    ASSERT_LT(a, fn->end);
    auto code = elf->read_vaddr(a, arm64 ? 4 : 1);
    ASSERT_TRUE(code);
    if (arm64) {
      uint32_t w;
      std::memcpy(&w, code->data(), 4);
      EXPECT_EQ(w, 0xd65f03c0u) << std::hex << a;
    } else {
      EXPECT_EQ((*code)[0], 0xc3) << std::hex << a;
    }
  }
  // The exit probe's function: gdestroy from 1.22, goexit0 before.
  EXPECT_TRUE(pcln->func_by_name(minor >= 22 ? "runtime.gdestroy" : "runtime.goexit0"));
}

TEST(FindReturns, Newproc1EveryVersion) {
  for (int minor = kMinGoMinor; minor <= kMaxGoMinor; minor++) {
    check(minor, "default", false);
    check(minor, "strip", false);
    check(minor, "arm64", true);
  }
}

TEST(FindReturns, BadBoundsAreErrors) {
  const std::string path = fmt::format("{}/heapleak-go1.{}-default", targets_dir(), kMaxGoMinor);
  auto elf = binary::ElfFile::open(path);
  ASSERT_TRUE(elf) << elf.error().message;
  EXPECT_FALSE(find_returns(*elf, 0x1000, 0x1000));
  EXPECT_FALSE(find_returns(*elf, 0x2000, 0x1000));
  EXPECT_FALSE(find_returns(*elf, 0xffffffff0000, 0xffffffff0100));  // not mapped by the file
}

}  // namespace
}  // namespace leakhound::goruntime
