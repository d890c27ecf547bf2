// What the capabilities' lifecycle tests share: a Go target made of a real Go
// test binary's tables (symbols, layouts, function names) over this very
// process, whose own memory stands in for the target's (the tests put the
// runtime's variables there and point the symbols at them), and a clock the
// test moves.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "../binary/test_support.h"
#include "collect/go_target.h"

namespace leakhound::collect::testing {

constexpr int64_t kSecond = 1'000'000'000;

// CLOCK_MONOTONIC as the capability sees it: ns, moved by the test only.
struct FakeClock {
  int64_t now = 100 * kSecond;
  std::function<int64_t()> fn() {
    return [this] { return now; };
  }
  void advance_s(double s) { now += static_cast<int64_t>(s * kSecond); }
};

// The Go test target `name` (e.g. "heapleak-go1.27-default", from
// scripts/build-targets.sh) as if this process ran it. Fails, not skips,
// when the binary is missing.
inline std::unique_ptr<GoTarget> go_target_over_self(const std::string& name) {
  auto proc = target::Process::open(getpid());
  EXPECT_TRUE(proc) << proc.error().message;
  if (!proc) return nullptr;
  const std::string path = binary::testing::targets_dir() + "/" + name;
  auto elf = binary::ElfFile::open(path);
  EXPECT_TRUE(elf) << path << ": " << elf.error().message;
  if (!elf) return nullptr;
  auto t = open_go_target(std::move(*proc), std::move(*elf));
  EXPECT_TRUE(t) << t.error().message;
  if (!t) return nullptr;
  EXPECT_EQ((*t)->bias, 0u) << "a PIE binary's addresses would not be link-time ones";
  return std::move(*t);
}

// The entry of function `fn` of the target (a goroutine's start PC).
inline uint64_t entry_of(const GoTarget& t, const std::string& fn) {
  auto f = t.pclntab.func_by_name(fn);
  EXPECT_TRUE(f) << fn << " is not in the binary";
  return f ? f->entry : 0;
}

// A return PC inside `fn`, as a stack or a go statement records it:
// symbolized back to `fn`.
inline uint64_t return_pc_in(const GoTarget& t, const std::string& fn) {
  return entry_of(t, fn) + 1;
}

}  // namespace leakhound::collect::testing
