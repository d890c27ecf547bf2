#include "report/gate.h"

#include <gtest/gtest.h>

namespace leakhound::report {
namespace {

GoroutineFinding site(detect::Verdict v, Evidence e = Evidence::Trend, bool system = false) {
  GoroutineFinding f;
  f.trend.verdict = v;
  f.evidence = e;
  f.system = system;
  return f;
}

TEST(Gate, ParsesTheThreeLevels) {
  EXPECT_EQ(*parse_fail_level("proven"), FailLevel::Proven);
  EXPECT_EQ(*parse_fail_level("leak"), FailLevel::Leak);
  EXPECT_EQ(*parse_fail_level("growing"), FailLevel::Growing);
  auto bad = parse_fail_level("leaks");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("proven, leak or growing"), std::string::npos);
}

TEST(Gate, EachLevelCoversTheOnesAboveIt) {
  Report proven, leak, growing, stable;
  proven.goroutines.push_back(site(detect::Verdict::Leak, Evidence::GcProof));
  leak.goroutines.push_back(site(detect::Verdict::Leak));
  HeapFinding h;
  h.trend.verdict = detect::Verdict::Growing;
  growing.heap.push_back(h);
  stable.goroutines.push_back(site(detect::Verdict::Stable));
  for (FailLevel l : {FailLevel::Proven, FailLevel::Leak, FailLevel::Growing}) {
    EXPECT_TRUE(reaches(proven, l)) << to_string(l);
    EXPECT_FALSE(reaches(stable, l)) << to_string(l);
  }
  EXPECT_FALSE(reaches(leak, FailLevel::Proven));
  EXPECT_TRUE(reaches(leak, FailLevel::Leak));
  EXPECT_TRUE(reaches(leak, FailLevel::Growing));
  EXPECT_FALSE(reaches(growing, FailLevel::Proven));
  EXPECT_FALSE(reaches(growing, FailLevel::Leak));
  EXPECT_TRUE(reaches(growing, FailLevel::Growing));
}

TEST(Gate, TheRuntimesOwnGoroutinesNeverCount) {
  Report r;
  r.goroutines.push_back(site(detect::Verdict::Leak, Evidence::Trend, /*system=*/true));
  EXPECT_FALSE(reaches(r, FailLevel::Growing));
  ProcessFinding fds;
  fds.trend.verdict = detect::Verdict::Leak;
  r.process.push_back(fds);
  EXPECT_FALSE(reaches(r, FailLevel::Proven));
  EXPECT_TRUE(reaches(r, FailLevel::Leak));
}

}  // namespace
}  // namespace leakhound::report
