#include <gtest/gtest.h>

#include "report/model.h"
#include "sample_report.h"

namespace leakhound::report {
namespace {

using detect::Verdict;
using testing::finding;

TEST(SortFindings, LeaksThenGrowingThenStable) {
  Report r = testing::sample_report();
  sort_findings(r);
  ASSERT_EQ(r.heap.size(), 4u);
  EXPECT_EQ(r.heap[0].stack[3].function, "main.fastLeak");      // leak, 2 MiB/s
  EXPECT_EQ(r.heap[1].stack[3].function, "main.(*cache).add");  // leak, 1 MiB/s
  EXPECT_EQ(r.heap[2].stack[3].function, "main.slowGrow");
  EXPECT_EQ(r.heap[3].stack[3].function, "main.stableThing");
}

TEST(SortFindings, GrowthThenSizeWithinAVerdict) {
  Report r;
  r.heap = {finding(Verdict::Growing, 10, 100, "a"), finding(Verdict::Growing, 10, 300, "b"),
            finding(Verdict::Growing, 20, 1, "c"),   finding(Verdict::Stable, 50, 5, "d"),
            finding(Verdict::Stable, -5, 999, "e"),  finding(Verdict::Leak, 1, 1, "f")};
  sort_findings(r);
  std::string order;
  for (const HeapFinding& f : r.heap) order += f.stack[3].function;
  EXPECT_EQ(order, "fcbade");
}

TEST(SortFindings, EqualFindingsKeepTheirOrder) {
  Report r;
  r.heap = {finding(Verdict::Leak, 1, 1, "x"), finding(Verdict::Leak, 1, 1, "y"),
            finding(Verdict::Leak, 1, 1, "z")};
  sort_findings(r);
  EXPECT_EQ(r.heap[0].stack[3].function, "x");
  EXPECT_EQ(r.heap[2].stack[3].function, "z");
}

}  // namespace
}  // namespace leakhound::report
