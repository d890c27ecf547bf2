#include <gtest/gtest.h>

#include <cmath>

#include "report/units.h"

namespace leakhound::report {
namespace {

TEST(Units, Bytes) {
  EXPECT_EQ(human_bytes(0), "0 B");
  EXPECT_EQ(human_bytes(512), "512 B");
  EXPECT_EQ(human_bytes(1023), "1023 B");
  EXPECT_EQ(human_bytes(1024), "1.0 KiB");
  EXPECT_EQ(human_bytes(1536), "1.5 KiB");
  EXPECT_EQ(human_bytes(12.3 * 1024 * 1024), "12.3 MiB");
  EXPECT_EQ(human_bytes(1.5 * 1024 * 1024 * 1024), "1.5 GiB");
  EXPECT_EQ(human_bytes(-2048), "-2.0 KiB");
  // Rounds before choosing the unit: not "1024.0 KiB".
  EXPECT_EQ(human_bytes(1048575), "1.0 MiB");
  EXPECT_EQ(human_bytes(NAN), "? B");
}

TEST(Units, CompactBytes) {
  EXPECT_EQ(human_bytes_compact(65536), "64 KiB");
  EXPECT_EQ(human_bytes_compact(524288), "512 KiB");
  EXPECT_EQ(human_bytes_compact(1.5 * 1024 * 1024), "1.5 MiB");
  EXPECT_EQ(human_bytes_compact(100), "100 B");
}

TEST(Units, Rate) {
  EXPECT_EQ(human_rate(1024 * 1024), "+1.0 MiB/s");
  EXPECT_EQ(human_rate(-512), "-512 B/s");
  EXPECT_EQ(human_rate(0), "+0 B/s");
  EXPECT_EQ(human_rate(-0.2), "+0 B/s");
  EXPECT_EQ(human_rate(INFINITY), "? B/s");
}

TEST(Units, Counts) {
  EXPECT_EQ(group_thousands(0), "0");
  EXPECT_EQ(group_thousands(999), "999");
  EXPECT_EQ(group_thousands(1000), "1,000");
  EXPECT_EQ(group_thousands(1234567), "1,234,567");
}

TEST(Units, Percent) {
  EXPECT_EQ(percent(0.999), "99.9%");
  EXPECT_EQ(percent(0.99996), "99.9%");  // rounded down, never overclaims
  EXPECT_EQ(percent(0.5), "50.0%");
  EXPECT_EQ(percent(1), "100.0%");
  EXPECT_EQ(percent(-1), "0.0%");
  EXPECT_EQ(percent(0.123), "12.3%");
}

TEST(Units, Duration) {
  EXPECT_EQ(human_duration(0.25), "250 ms");
  EXPECT_EQ(human_duration(30), "30.0 s");
  EXPECT_EQ(human_duration(150), "2.5 min");
  EXPECT_EQ(human_duration(4 * 3600), "4.0 h");
}

}  // namespace
}  // namespace leakhound::report

namespace {
TEST(Units, HumanEta) {
  using leakhound::report::human_eta;
  EXPECT_EQ(human_eta(45), "45s");
  EXPECT_EQ(human_eta(380), "6m20s");
  EXPECT_EQ(human_eta(3 * 3600 + 40 * 60 + 10), "3h40m");
  EXPECT_EQ(human_eta(2 * 86400 + 4 * 3600), "2d4h");
  EXPECT_EQ(human_eta(-1), "?");
}
}  // namespace
