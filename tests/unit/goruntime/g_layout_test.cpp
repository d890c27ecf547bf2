// The generated runtime.g table (g_layout_table.inc, from the DWARF of every
// Go toolchain 1.18-1.27; the g_layout_drift test regenerates it): sanity of
// every entry, the offsets docs/go-runtime.md §5.2 lists, and version selection.
#include "goruntime/g_layout.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "goruntime/profile_layout.h"

namespace leakhound::goruntime {
namespace {

binary::GoVersion version(const std::string& s) {
  auto v = binary::parse_go_version(s);
  EXPECT_TRUE(v.ok()) << s;
  return v.ok() ? *v : binary::GoVersion{};
}

const GLayout* find(int minor) {
  for (const auto& l : all_g_layouts()) {
    if (l.go_minor == minor) return &l;
  }
  return nullptr;
}

TEST(GLayout, TableCoversEverySupportedRelease) {
  const auto& all = all_g_layouts();
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.front().go_minor, kMinGoMinor);
  EXPECT_EQ(all.back().go_minor, kMaxGoMinor);
  for (size_t i = 1; i < all.size(); i++) {
    EXPECT_EQ(all[i].go_minor, all[i - 1].go_minor + 1) << "one entry per minor, oldest first";
  }
}

TEST(GLayout, EveryEntryIsSane) {
  for (const auto& l : all_g_layouts()) {
    SCOPED_TRACE("go1." + std::to_string(l.go_minor));
    // Offsets in struct order (runtime2.go): each field after the previous one,
    // aligned to its size, inside the struct.
    std::vector<std::pair<int64_t, uint32_t>> fields = {
        {l.stack_lo, 8},   {l.stack_hi, 8},     {l.g_m, 8},       {l.sched_sp, 8},
        {l.sched_pc, 8},   {l.sched_bp, 8},     {l.syscallsp, 8}, {l.syscallpc, 8},
        {l.syscallbp, 8},  {l.atomicstatus, 4}, {l.goid, 8},      {l.waitsince, 8},
        {l.waitreason, 1}, {l.parent_goid, 8},  {l.gopc, 8},      {l.startpc, 8},
    };
    std::set<int64_t> seen;
    int64_t prev_end = 0;
    for (size_t i = 0; i < fields.size(); i++) {
      const auto [off, size] = fields[i];
      SCOPED_TRACE("field " + std::to_string(i) + " at " + std::to_string(off));
      if (off == kAbsent) continue;
      EXPECT_GE(off, 0);
      EXPECT_EQ(off % size, 0) << "misaligned";
      EXPECT_GE(off, prev_end) << "out of struct order or overlapping";
      EXPECT_LE(off + size, l.g_size);
      EXPECT_TRUE(seen.insert(off).second) << "duplicate offset";
      prev_end = off + size;
    }
    EXPECT_EQ(l.stack_lo, 0u);
    EXPECT_EQ(l.stack_hi, 8u);
    EXPECT_EQ(l.sched_sp, 56u);  // gobuf.sp is its first field; g.sched is at 56
    EXPECT_EQ(l.sched_pc, 64u);
    EXPECT_EQ(l.g_size % 8, 0u);
    EXPECT_EQ(l.syscallbp != kAbsent, l.go_minor >= 23);
    EXPECT_EQ(l.parent_goid != kAbsent, l.go_minor >= 21);  // added in 1.21
    // runtime.m: g0 is its first field, curg further on; both pointers.
    EXPECT_EQ(l.m_g0, 0u);
    EXPECT_GT(l.m_curg, l.m_g0);
    EXPECT_EQ(l.m_curg % 8, 0u);
    // runtime.workType.goroutineLeak {pending atomic.Bool; enabled, done
    // bool; count int}: from 1.26 only.
    EXPECT_EQ(l.leak_pending != kAbsent, l.go_minor >= 26);
    if (l.leak_pending != kAbsent) {
      EXPECT_EQ(l.leak_count, l.leak_pending + 8);
    }

    ASSERT_FALSE(l.wait_reasons.empty());
    EXPECT_EQ(l.wait_reasons[0], "");  // waitReasonZero
    std::set<std::string_view> reasons;
    for (size_t i = 1; i < l.wait_reasons.size(); i++) {
      EXPECT_FALSE(l.wait_reasons[i].empty()) << "waitReason " << i;
      EXPECT_TRUE(reasons.insert(l.wait_reasons[i]).second) << l.wait_reasons[i];
    }
    for (std::string_view want : {"chan receive", "chan send", "select", "sleep", "IO wait",
                                  "semacquire", "sync.Cond.Wait"}) {
      EXPECT_TRUE(reasons.count(want)) << "no wait reason \"" << want << "\"";
    }
    // Before 1.20 a goroutine blocked in sync.Mutex.Lock waits as "semacquire".
    EXPECT_EQ(reasons.count("sync.Mutex.Lock"), l.go_minor >= 20 ? 1u : 0u);
  }
}

// docs/go-runtime.md §5.2 ("runtime.g fields"), which the DWARF confirmed.
TEST(GLayout, MatchesDocumentedOffsets) {
  struct Want {
    int minor;
    uint32_t sched_bp, syscallsp, syscallpc;
    int32_t syscallbp;
    uint32_t atomicstatus, goid, waitreason;
    int32_t parent_goid;
    uint32_t gopc, startpc;
  };
  const Want wants[] = {
      {21, 104, 112, 120, kAbsent, 144, 152, 176, 272, 280, 296},
      {22, 104, 112, 120, kAbsent, 144, 152, 176, 272, 280, 296},
      {23, 104, 112, 120, 128, 152, 160, 184, 280, 288, 304},
      {24, 104, 112, 120, 128, 152, 160, 184, 280, 288, 304},
      {25, 96, 104, 112, 120, 144, 152, 176, 272, 280, 296},
      {26, 96, 104, 112, 120, 144, 152, 176, 280, 288, 304},
      {27, 96, 104, 112, 120, 144, 152, 176, 280, 288, 304},
  };
  for (const auto& w : wants) {
    SCOPED_TRACE("go1." + std::to_string(w.minor));
    const GLayout* l = find(w.minor);
    ASSERT_NE(l, nullptr);
    EXPECT_EQ(l->sched_bp, w.sched_bp);
    EXPECT_EQ(l->syscallsp, w.syscallsp);
    EXPECT_EQ(l->syscallpc, w.syscallpc);
    EXPECT_EQ(l->syscallbp, w.syscallbp);
    EXPECT_EQ(l->atomicstatus, w.atomicstatus);
    EXPECT_EQ(l->goid, w.goid);
    EXPECT_EQ(l->waitreason, w.waitreason);
    EXPECT_EQ(l->parent_goid, w.parent_goid);
    EXPECT_EQ(l->gopc, w.gopc);
    EXPECT_EQ(l->startpc, w.startpc);
    // docs/go-runtime.md §6: g.m 48; m.g0 0; m.curg 192 up to 1.24, 184 from 1.25.
    EXPECT_EQ(l->g_m, 48u);
    EXPECT_EQ(l->m_g0, 0u);
    EXPECT_EQ(l->m_curg, w.minor <= 24 ? 192u : 184u);
  }
}

TEST(GLayout, ReadSizeCoversEveryField) {
  for (const auto& l : all_g_layouts()) {
    SCOPED_TRACE("go1." + std::to_string(l.go_minor));
    const uint32_t n = l.read_size();
    EXPECT_GE(n, l.startpc + 8);
    EXPECT_GE(n, l.gopc + 8);
    if (l.parent_goid != kAbsent) {
      EXPECT_GE(n, static_cast<uint32_t>(l.parent_goid) + 8);
    }
    EXPECT_EQ(n % 8, 0u);
    EXPECT_LE(n, l.g_size);
  }
  const GLayout* l21 = find(21);
  ASSERT_NE(l21, nullptr);
  EXPECT_EQ(l21->read_size(), 304u);  // startpc 296 + 8

  GLayout custom;
  custom.waitreason = 9;  // a lone uint8 at 9: 10 bytes, rounded up to 16
  EXPECT_EQ(custom.read_size(), 16u);
}

TEST(GLayout, SelectsByMinorVersion) {
  for (const auto& want : all_g_layouts()) {
    const std::string v = "go1." + std::to_string(want.go_minor) + ".3";
    auto l = g_layout(version(v));
    ASSERT_TRUE(l.ok()) << v << ": " << l.error().message;
    EXPECT_EQ(l->go_minor, want.go_minor);
    EXPECT_EQ(l->goid, want.goid);
    EXPECT_EQ(l->wait_reasons, want.wait_reasons);
  }
  auto rc = g_layout(version("go1.23rc1"));
  ASSERT_TRUE(rc.ok()) << rc.error().message;
  EXPECT_EQ(rc->go_minor, 23);
}

TEST(GLayout, RejectsGoOlderThanSupported) {
  ASSERT_EQ(kMinGoMinor, 18);  // the message below, and scripts/test.sh's go1.17.13 target
  auto l = g_layout(version("go1.17.13"));
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().message, "go1.17.13 is too old: leakhound supports Go 1.18 and newer");
  EXPECT_FALSE(g_layout(version("go1.16")).ok());
}

TEST(GLayout, NewerThanKnownGetsTheNewestLayout) {
  auto l = g_layout(version("go1.28.0"));
  ASSERT_TRUE(l.ok()) << l.error().message;
  const GLayout* newest = find(27);
  ASSERT_NE(newest, nullptr);
  EXPECT_EQ(l->go_minor, 27);
  EXPECT_EQ(l->goid, newest->goid);
  EXPECT_EQ(l->startpc, newest->startpc);
  EXPECT_EQ(l->wait_reasons, newest->wait_reasons);
}

}  // namespace
}  // namespace leakhound::goruntime
