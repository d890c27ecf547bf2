// BucketReader against fake target memory: the walk, its incremental updates,
// and hostile lists (cycles, garbage types, oversized stacks, unmapped links).
#include "goruntime/buckets.h"

#include <gtest/gtest.h>

#include <cstring>

#include "fake_buckets.h"

using namespace leakhound;
using namespace leakhound::goruntime;
using namespace leakhound::goruntime::testing;

namespace {

constexpr uint64_t kHead = 0x1000;  // address of runtime.mbuckets

void set_head(target::FakeMemory& m, uint64_t v) {
  std::vector<uint8_t> h(8);
  std::memcpy(h.data(), &v, 8);
  m.map(kHead, h);
}

ProfileLayout layout_for(int minor) {
  binary::GoVersion v;
  v.major = 1;
  v.minor = minor;
  v.raw = "go1." + std::to_string(minor);
  return *profile_layout(v);
}

}  // namespace

TEST(ProfileLayout, Versions) {
  binary::GoVersion old{1, kMinGoMinor - 1, 0, "go1.17"};
  auto r = profile_layout(old);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("too old"), std::string::npos);
  EXPECT_TRUE(layout_for(26).record_has_bytes);
  EXPECT_FALSE(layout_for(27).record_has_bytes);
  EXPECT_EQ(layout_for(22).max_stack, 32u);
  EXPECT_TRUE(is_known_version({1, 27, 4, "go1.27.4"}));
  EXPECT_FALSE(is_known_version({1, 28, 0, "go1.28"}));
}

class BucketsByVersion : public ::testing::TestWithParam<int> {};

TEST_P(BucketsByVersion, WalksAndRefreshes) {
  ProfileLayout l = layout_for(GetParam());
  target::FakeMemory mem;
  FakeBucket b2{0x3000, 0, 64, {0x401000, 0x402000}, 5, 2, 320, 128};
  FakeBucket b1{0x2000, 0x3000, 32768, {0x405000}, 10, 1, 10 * 32768, 32768};
  set_head(mem, 0x2000);
  mem.map(b1.addr, encode(b1, l));
  mem.map(b2.addr, encode(b2, l));
  BucketReader r(mem, l, kHead);
  ASSERT_TRUE(r.poll());
  ASSERT_EQ(r.buckets().size(), 2u);
  const Bucket& got1 = r.buckets().at(0x2000);
  EXPECT_EQ(got1.stack, (std::vector<uint64_t>{0x405000}));
  EXPECT_EQ(got1.record.allocs, 10u);
  EXPECT_EQ(got1.record.frees, 1u);
  EXPECT_EQ(got1.record.alloc_bytes, 10u * 32768);  // 1.27: count * size
  EXPECT_TRUE(got1.record_ok);
  EXPECT_EQ(r.buckets().at(0x3000).stack.size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(Go, BucketsByVersion, ::testing::Values(21, 22, 23, 24, 25, 26, 27));

TEST(Buckets, PicksUpNewHeadOnly) {
  ProfileLayout l = layout_for(26);
  target::FakeMemory mem;
  FakeBucket b1{0x2000, 0, 16, {0x401000}, 1, 0, 16, 0};
  mem.map(b1.addr, encode(b1, l));
  FakeBucket b0{0x4000, 0x2000, 16, {0x402000}, 3, 0, 48, 0};
  mem.map(b0.addr, encode(b0, l));
  // First poll sees only b1; then the runtime prepends b0.
  target::FakeMemory first;
  set_head(first, 0x2000);
  first.map(b1.addr, encode(b1, l));
  BucketReader r1(first, l, kHead);
  ASSERT_TRUE(r1.poll());
  EXPECT_EQ(r1.buckets().size(), 1u);
  set_head(mem, 0x4000);
  BucketReader r2(mem, l, kHead);
  ASSERT_TRUE(r2.poll());
  ASSERT_TRUE(r2.poll());  // idempotent
  EXPECT_EQ(r2.buckets().size(), 2u);
}

TEST(Buckets, CycleEnds) {
  ProfileLayout l = layout_for(26);
  target::FakeMemory mem;
  set_head(mem, 0x2000);
  mem.map(0x2000, encode({0x2000, 0x3000, 8, {1}, 1, 0, 8, 0}, l));
  mem.map(0x3000, encode({0x3000, 0x2000, 8, {2}, 1, 0, 8, 0}, l));  // points back
  BucketReader r(mem, l, kHead);
  ASSERT_TRUE(r.poll());
  EXPECT_EQ(r.buckets().size(), 2u);
}

TEST(Buckets, GarbageIsAnErrorNotACrash) {
  ProfileLayout l = layout_for(26);
  {
    target::FakeMemory mem;  // wrong bucket type
    set_head(mem, 0x2000);
    FakeBucket b{0x2000, 0, 8, {1}, 1, 0, 8, 0, /*typ=*/7};
    mem.map(0x2000, encode(b, l));
    BucketReader r(mem, l, kHead);
    EXPECT_FALSE(r.poll());
    EXPECT_EQ(r.rejected(), 1u);
  }
  {
    target::FakeMemory mem;  // nstk beyond the runtime's cap
    set_head(mem, 0x2000);
    auto bytes = encode({0x2000, 0, 8, {1}, 1, 0, 8, 0}, l);
    uint64_t huge = 1ull << 40;
    std::memcpy(bytes.data() + l.off_nstk, &huge, 8);
    mem.map(0x2000, bytes);
    BucketReader r(mem, l, kHead);
    EXPECT_FALSE(r.poll());
  }
  {
    target::FakeMemory mem;  // link to unmapped memory: keeps what it has
    set_head(mem, 0x2000);
    mem.map(0x2000, encode({0x2000, 0xdead0000, 8, {1}, 1, 0, 8, 0}, l));
    BucketReader r(mem, l, kHead);
    EXPECT_FALSE(r.poll());
    EXPECT_EQ(r.buckets().size(), 1u);
  }
  {
    target::FakeMemory mem;  // a list longer than the limit
    set_head(mem, 0x10000);
    for (uint64_t i = 0; i < 100; i++) {
      uint64_t a = 0x10000 + i * 0x100;
      mem.map(a, encode({a, a + 0x100, 8, {i}, 1, 0, 8, 0}, l));
    }
    BucketReader r(mem, l, kHead, BucketLimits{50, 50});
    EXPECT_FALSE(r.poll());
    EXPECT_LE(r.buckets().size(), 50u);
  }
}
