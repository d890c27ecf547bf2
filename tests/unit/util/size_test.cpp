#include "util/size.h"

#include <gtest/gtest.h>

namespace leakhound {
namespace {

TEST(ParseSize, KubernetesQuantities) {
  EXPECT_EQ(*parse_size("150Mi"), 150ull << 20);
  EXPECT_EQ(*parse_size("150MiB"), 150ull << 20);
  EXPECT_EQ(*parse_size("1Gi"), 1ull << 30);
  EXPECT_EQ(*parse_size("512Ki"), 512ull << 10);
  EXPECT_EQ(*parse_size("200M"), 200000000ull);
  EXPECT_EQ(*parse_size("500k"), 500000ull);
  EXPECT_EQ(*parse_size("1.5Gi"), 3ull << 29);
  EXPECT_EQ(*parse_size("4096"), 4096ull);
  EXPECT_EQ(*parse_size("0"), 0ull);
}

TEST(ParseSize, RejectsWhatIsNotASize) {
  for (const char* s : {"", "-1Mi", "Mi", "10 Mi", "10mi", "10Ti", "1e30Gi", "abc"})
    EXPECT_FALSE(parse_size(s)) << s;
}

}  // namespace
}  // namespace leakhound
