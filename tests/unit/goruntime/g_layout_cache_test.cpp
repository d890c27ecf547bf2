// GLayoutCache: one DWARF read per executable file; a file rewritten in place
// (same inode, new contents) is read anew, and what it gives equals an uncached
// resolve.
#include "goruntime/g_layout_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "goruntime/profile_layout.h"

namespace leakhound::goruntime {
namespace {

namespace fs = std::filesystem;

std::string target(int minor, const char* variant) {
  const char* d = std::getenv("LEAKHOUND_TARGETS_DIR");
  std::string dir = d && *d ? d : LEAKHOUND_SOURCE_DIR "/build/targets";
  std::string p = fmt::format("{}/heapleak-go1.{}-{}", dir, minor, variant);
  EXPECT_TRUE(fs::exists(p)) << p << " is missing: run scripts/build-targets.sh";
  return p;
}

binary::GoVersion go(int minor) {
  binary::GoVersion v;
  v.major = 1;
  v.minor = minor;
  return v;
}

TEST(GLayoutCache, OneEntryPerFileSameAsUncached) {
  GLayoutCache cache;
  auto elf = binary::ElfFile::open(target(kMaxGoMinor, "default"));
  ASSERT_TRUE(elf) << elf.error().message;
  auto direct = resolve_g_layout_once(*elf, go(kMaxGoMinor));
  ASSERT_TRUE(direct) << direct.error().message;
  for (int i = 0; i < 3; i++) {
    auto c = cache.get(*elf, go(kMaxGoMinor));
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->source, direct->source);
    EXPECT_EQ(c->layout.goid, direct->layout.goid);
    EXPECT_EQ(c->layout.wait_reasons, direct->layout.wait_reasons);
  }
  EXPECT_EQ(cache.size(), 1u);
  auto other = binary::ElfFile::open(target(kMaxGoMinor, "strip"));
  ASSERT_TRUE(other);
  auto s = cache.get(*other, go(kMaxGoMinor));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->source, "table");
  EXPECT_EQ(cache.size(), 2u);
}

TEST(GLayoutCache, FileRewrittenInPlaceIsReadAnew) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("lh-glc-{}", getpid());
  fs::create_directories(dir);
  const fs::path p = dir / "prog";
  fs::copy_file(target(kMaxGoMinor, "default"), p);
  GLayoutCache cache;
  {
    auto elf = binary::ElfFile::open(p.string());
    ASSERT_TRUE(elf);
    auto a = cache.get(*elf, go(kMaxGoMinor));
    ASSERT_TRUE(a);
    EXPECT_EQ(a->source, "DWARF");
  }
  // Same inode, other contents: a stripped build copied over it.
  fs::copy_file(target(kMaxGoMinor, "strip"), p, fs::copy_options::overwrite_existing);
  auto elf = binary::ElfFile::open(p.string());
  ASSERT_TRUE(elf);
  auto b = cache.get(*elf, go(kMaxGoMinor));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->source, "table");
  EXPECT_EQ(cache.size(), 2u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace leakhound::goruntime
