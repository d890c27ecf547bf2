// g_layout_from_dwarf on the targets of every Go toolchain 1.18-1.27: the
// binary's own DWARF gives exactly the generated table's layout (the table is
// the fallback for binaries without DWARF); stripped builds and non-Go files
// are clear errors.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "binary/dwarf_types.h"
#include "binary/elf_file.h"
#include "goruntime/g_layout.h"
#include "goruntime/profile_layout.h"

namespace leakhound::goruntime {
namespace {

std::string targets_dir() {
  if (const char* d = std::getenv("LEAKHOUND_TARGETS_DIR"); d && *d) return d;
  return LEAKHOUND_SOURCE_DIR "/build/targets";
}

std::string target(int minor, const char* variant) {
  std::string p = fmt::format("{}/heapleak-go1.{}-{}", targets_dir(), minor, variant);
  EXPECT_TRUE(std::filesystem::exists(p)) << p << " is missing: run scripts/build-targets.sh";
  return p;
}

void expect_same(const GLayout& a, const GLayout& b) {
  EXPECT_EQ(a.g_size, b.g_size);
  EXPECT_EQ(a.stack_lo, b.stack_lo);
  EXPECT_EQ(a.stack_hi, b.stack_hi);
  EXPECT_EQ(a.sched_sp, b.sched_sp);
  EXPECT_EQ(a.sched_pc, b.sched_pc);
  EXPECT_EQ(a.sched_bp, b.sched_bp);
  EXPECT_EQ(a.syscallsp, b.syscallsp);
  EXPECT_EQ(a.syscallpc, b.syscallpc);
  EXPECT_EQ(a.syscallbp, b.syscallbp);
  EXPECT_EQ(a.atomicstatus, b.atomicstatus);
  EXPECT_EQ(a.goid, b.goid);
  EXPECT_EQ(a.waitsince, b.waitsince);
  EXPECT_EQ(a.waitreason, b.waitreason);
  EXPECT_EQ(a.parent_goid, b.parent_goid);
  EXPECT_EQ(a.gopc, b.gopc);
  EXPECT_EQ(a.startpc, b.startpc);
  EXPECT_EQ(a.g_m, b.g_m);
  EXPECT_EQ(a.m_g0, b.m_g0);
  EXPECT_EQ(a.m_curg, b.m_curg);
  EXPECT_EQ(a.leak_pending, b.leak_pending);
  EXPECT_EQ(a.leak_count, b.leak_count);
  EXPECT_EQ(a.wait_reasons, b.wait_reasons);
}

TEST(GLayoutDwarf, MatchesTheTableForEveryVersion) {
  for (int minor = kMinGoMinor; minor <= kMaxGoMinor; minor++) {
    SCOPED_TRACE(fmt::format("go1.{}", minor));
    for (const char* variant : {"default", "pie", "cgo"}) {
      auto elf = binary::ElfFile::open(target(minor, variant));
      ASSERT_TRUE(elf) << elf.error().message;
      auto dw = binary::DwarfTypes::open(elf->path());
      ASSERT_TRUE(dw) << dw.error().message;
      auto l = g_layout_from_dwarf(*dw, *elf, minor);
      ASSERT_TRUE(l.ok()) << variant << ": " << l.error().message;
      binary::GoVersion v;
      v.major = 1;
      v.minor = minor;
      auto table = g_layout(v);
      ASSERT_TRUE(table);
      expect_same(*l, *table);
      std::string source;
      auto r = resolve_g_layout(*elf, v, &source);
      ASSERT_TRUE(r);
      EXPECT_EQ(source, "DWARF");
    }
  }
}

TEST(GLayoutDwarf, StrippedBinaryFallsBackToTheTable) {
  auto elf = binary::ElfFile::open(target(kMaxGoMinor, "strip"));
  ASSERT_TRUE(elf) << elf.error().message;
  EXPECT_FALSE(binary::DwarfTypes::open(elf->path()));
  binary::GoVersion v;
  v.major = 1;
  v.minor = kMaxGoMinor;
  std::string source;
  auto l = resolve_g_layout(*elf, v, &source);
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_EQ(source, "table");
  v.minor = kMaxGoMinor + 1;
  l = resolve_g_layout(*elf, v, &source);
  ASSERT_TRUE(l);
  EXPECT_EQ(source, "table (newest, best effort)");
}

TEST(GLayoutDwarf, NotGoIsAnError) {
  // A C binary with DWARF or not: there is no runtime.g either way.
  auto dw = binary::DwarfTypes::open("/bin/true");
  if (dw) {
    EXPECT_FALSE(dw->struct_layout("runtime.g"));
    EXPECT_FALSE(dw->variable("runtime.waitReasonStrings"));
  }
  EXPECT_FALSE(binary::DwarfTypes::open("/nonexistent/file"));
  EXPECT_FALSE(binary::DwarfTypes::open("/proc/self/status"));
}

}  // namespace
}  // namespace leakhound::goruntime
