// The allocator's mappings found through its blocks, and their RSS over the
// polls (collect/native/allocator_resident.h).
#include "collect/native/allocator_resident.h"

#include <gtest/gtest.h>

namespace leakhound::collect {
namespace {

target::Mapping map(uint64_t start, uint64_t end) {
  target::Mapping m;
  m.start = start;
  m.end = end;
  return m;
}

std::vector<double> values(const AllocatorResident& a) {
  std::vector<double> out;
  for (const auto& p : a.series()) out.push_back(p.value);
  return out;
}

TEST(AllocatorResident, MappingsHoldingBlocksOverThePolls) {
  AllocatorResident a;
  // [heap] (its blocks from before attach: found late), an arena, a mapping
  // that is not the allocator's (Go's).
  const std::vector<target::Mapping> maps = {map(0x1000, 0x9000), map(0x10000, 0x20000),
                                             map(0x30000, 0x40000)};
  a.record(0, {{0x1000, 0x9000, 8192}, {0x10000, 0x20000, 4096}, {0x30000, 0x40000, 100}});
  a.note({0x10040, 0x50000 /* in none */}, maps);
  EXPECT_EQ(a.mappings(), 1u);
  // The arena grows (the same start), Go's mapping too.
  a.record(1, {{0x1000, 0x9000, 8192}, {0x10000, 0x28000, 12288}, {0x30000, 0x40000, 900}});
  EXPECT_EQ(values(a), (std::vector<double>{4096, 12288}));
  // [heap] found at the third poll counts from the first: not as growth.
  a.note({0x1010}, maps);
  a.record(2, {{0x1000, 0x9000, 8192}, {0x10000, 0x28000, 12288}, {0x30000, 0x40000, 900}});
  EXPECT_EQ(values(a), (std::vector<double>{8192 + 4096, 8192 + 12288, 8192 + 12288}));
  EXPECT_EQ(a.mappings(), 2u);
  // An mmapped chunk: found, then unmapped: 0 from then on.
  a.record(3, {{0x1000, 0x9000, 8192},
               {0x10000, 0x28000, 12288},
               {0x30000, 0x40000, 900},
               {0x60000, 0x70000, 65536}});
  a.note({0x60000}, {map(0x1000, 0x9000), map(0x10000, 0x28000), map(0x60000, 0x70000)});
  a.record(4, {{0x1000, 0x9000, 8192}, {0x10000, 0x28000, 12288}});
  EXPECT_EQ(values(a).back(), 8192 + 12288);
  EXPECT_EQ(values(a)[3], 8192 + 12288 + 65536);
  // Trimmed: each mapping keeps its value at the first poll kept.
  a.trim(2.5);
  const auto s = a.series();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].t_s, 3);
  EXPECT_EQ(s[0].value, 8192 + 12288 + 65536);
  EXPECT_EQ(s[1].value, 8192 + 12288);
}

}  // namespace
}  // namespace leakhound::collect
