// The address range of mem_cgroup_out_of_memory that tells a cgroup's OOM
// kill from the host's, from /proc/kallsyms text.
#include "probes/oom_watch.h"

#include <gtest/gtest.h>

namespace leakhound::probes {
namespace {

TEST(KallsymsRange, FunctionToNextSymbol) {
  const std::string text =
      "ffffffff816aa000 t mem_cgroup_oom\n"
      "ffffffff816aa540 t mem_cgroup_out_of_memory\n"
      "ffffffff816aa540 t mem_cgroup_out_of_memory_alias_no\n"
      "ffffffff816ab000 T memory_max_write\n"
      "ffffffff816aa700 t __pfx_something\n"
      "ffffffffc0001000 t mem_cgroup_out_of_memory_x\t[mod]\n";
  auto [lo, hi] = kallsyms_range(text, "mem_cgroup_out_of_memory");
  EXPECT_EQ(lo, 0xffffffff816aa540ULL);
  EXPECT_EQ(hi, 0xffffffff816aa700ULL);
}

TEST(KallsymsRange, HiddenOrAbsent) {
  // kptr_restrict: every address is zero.
  EXPECT_EQ(kallsyms_range("0000000000000000 t mem_cgroup_out_of_memory\n"
                           "0000000000000000 T memory_max_write\n",
                           "mem_cgroup_out_of_memory"),
            (std::pair<uint64_t, uint64_t>{0, 0}));
  EXPECT_EQ(kallsyms_range("ffffffff816ab000 T memory_max_write\n", "mem_cgroup_out_of_memory"),
            (std::pair<uint64_t, uint64_t>{0, 0}));
  EXPECT_EQ(kallsyms_range("", "x"), (std::pair<uint64_t, uint64_t>{0, 0}));
}

}  // namespace
}  // namespace leakhound::probes
