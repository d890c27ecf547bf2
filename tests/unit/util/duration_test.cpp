#include "util/duration.h"

#include <gtest/gtest.h>

using leakhound::parse_duration;

TEST(Duration, Units) {
  EXPECT_DOUBLE_EQ(*parse_duration("30s"), 30);
  EXPECT_DOUBLE_EQ(*parse_duration("30"), 30);
  EXPECT_DOUBLE_EQ(*parse_duration("500ms"), 0.5);
  EXPECT_DOUBLE_EQ(*parse_duration("2m"), 120);
  EXPECT_DOUBLE_EQ(*parse_duration("1.5h"), 5400);
}

TEST(Duration, Rejects) {
  for (const char* s : {"", "s", "-1s", "0", "10x", "nan", "inf", "1e999"}) {
    auto r = parse_duration(s);
    EXPECT_FALSE(r) << s;
    if (!r) {
      EXPECT_NE(r.error().message.find("invalid duration"), std::string::npos);
    }
  }
}
