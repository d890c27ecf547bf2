// g.ancestors as the runtime lays it out (*[]ancestorInfo{pcs []uintptr;
// goid uint64; gopc uintptr}), read from fake memory: the records come back
// nearest creator first; torn or hostile records are errors, never followed.
#include "goruntime/ancestry.h"

#include <gtest/gtest.h>

#include <cstring>

namespace leakhound::goruntime {
namespace {

constexpr uint64_t kSlice = 0x1000, kInfos = 0x2000, kPcs = 0x3000;

std::vector<uint8_t> words(std::initializer_list<uint64_t> w) {
  std::vector<uint8_t> out(w.size() * 8);
  size_t i = 0;
  for (uint64_t v : w) std::memcpy(out.data() + 8 * i++, &v, 8);
  return out;
}

struct Fixture : ::testing::Test {
  target::FakeMemory mem;
  void two_creators() {
    mem.map(kSlice, words({kInfos, 2, 2}));
    mem.map(kInfos, words({kPcs, 3, 3, 41, 0x401000,            // the creator: goroutine 41
                           kPcs + 0x100, 1, 4, 7, 0x402000}));  // its creator: 7
    mem.map(kPcs, words({0x4a0001, 0x4a0002, 0x4a0003}));
    mem.map(kPcs + 0x100, words({0x4b0001}));
  }
};

TEST_F(Fixture, ReadsCreatorsNearestFirst) {
  two_creators();
  auto a = read_ancestors(mem, kSlice);
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_EQ(a->size(), 2u);
  EXPECT_EQ((*a)[0].goid, 41u);
  EXPECT_EQ((*a)[0].gopc, 0x401000u);
  EXPECT_EQ((*a)[0].pcs, (std::vector<uint64_t>{0x4a0001, 0x4a0002, 0x4a0003}));
  EXPECT_EQ((*a)[1].goid, 7u);
  EXPECT_EQ((*a)[1].pcs, (std::vector<uint64_t>{0x4b0001}));
}

TEST_F(Fixture, NoRecordIsEmpty) {
  auto a = read_ancestors(mem, 0);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->empty());
}

TEST_F(Fixture, HostileRecordsAreErrors) {
  // A length beyond its capacity, or beyond any depth the runtime keeps.
  mem.map(kSlice, words({kInfos, 3, 2}));
  EXPECT_FALSE(read_ancestors(mem, kSlice));
  target::FakeMemory deep;
  deep.map(kSlice, words({kInfos, 1000, 1000}));
  EXPECT_FALSE(read_ancestors(deep, kSlice));
  // A PC slice of a million entries, or a null one with a length.
  target::FakeMemory pcs;
  pcs.map(kSlice, words({kInfos, 1, 1}));
  pcs.map(kInfos, words({kPcs, 1u << 20, 1u << 20, 1, 0}));
  EXPECT_FALSE(read_ancestors(pcs, kSlice));
  target::FakeMemory null;
  null.map(kSlice, words({kInfos, 1, 1}));
  null.map(kInfos, words({0, 2, 2, 1, 0}));
  EXPECT_FALSE(read_ancestors(null, kSlice));
  // Unmapped memory: freed under us.
  target::FakeMemory gone;
  gone.map(kSlice, words({kInfos, 1, 1}));
  EXPECT_FALSE(read_ancestors(gone, kSlice));
}

}  // namespace
}  // namespace leakhound::goruntime
