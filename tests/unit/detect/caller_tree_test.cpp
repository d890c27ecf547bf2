// Common callers of heap stacks: which nodes are judged, in which order, and
// how their series are summed.
#include "detect/caller_tree.h"

#include <gtest/gtest.h>

namespace leakhound::detect {
namespace {

bool not_runtime(std::string_view f) { return !f.starts_with("runtime."); }

using Stacks = std::vector<std::vector<std::string>>;

TEST(CallerTree, OneFunctionsCallSitesShareItsNode) {
  // Leaf first. handler allocates at three sites; churn at one; the paths part
  // below main.handler (the sites) and below main.main.
  const Stacks s = {
      {"runtime.newobject", "main.handler", "main.main", "runtime.main"},
      {"runtime.makeslice", "main.handler", "main.main", "runtime.main"},
      {"runtime.newobject", "main.decode", "main.handler", "main.main", "runtime.main"},
      {"runtime.makeslice", "main.churn", "main.main", "runtime.main"},
  };
  const std::vector<CallerNode> n = caller_nodes(s, not_runtime);
  ASSERT_EQ(n.size(), 2u);
  EXPECT_EQ(n[0].depth, 3u);  // runtime.main, main.main, main.handler
  EXPECT_EQ(n[0].stacks, (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(n[1].depth, 2u);  // main.main: everything
  EXPECT_EQ(n[1].stacks, (std::vector<size_t>{0, 1, 2, 3}));
}

TEST(CallerTree, RuntimeFramesNeverHeadACaller) {
  // Two call sites of one function with the same function names all the way:
  // they part below runtime.newobject's node, which must not be the caller.
  const Stacks s = {
      {"runtime.newobject", "main.f", "runtime.main"},
      {"runtime.newobject", "main.f", "runtime.main"},
  };
  const std::vector<CallerNode> n = caller_nodes(s, not_runtime);
  ASSERT_EQ(n.size(), 1u);
  EXPECT_EQ(n[0].depth, 2u);  // main.f
}

TEST(CallerTree, ChainsOfOneChildKeepTheDeepestNode) {
  // a -> b -> c for both stacks: only c (deepest with the same two stacks).
  const Stacks s = {{"x", "c", "b", "a"}, {"y", "c", "b", "a"}, {"z", "q", "a"}};
  const std::vector<CallerNode> n = caller_nodes(s, [](std::string_view) { return true; });
  ASSERT_EQ(n.size(), 2u);
  EXPECT_EQ(n[0].depth, 3u);
  EXPECT_EQ(n[0].stacks, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(n[1].depth, 1u);
}

TEST(CallerTree, AStackEndingAtACallerCounts) {
  // A stack whose leaf is the caller itself parts from the other there.
  const Stacks s = {{"f", "main.m"}, {"g", "f", "main.m"}};
  const std::vector<CallerNode> n = caller_nodes(s, [](std::string_view) { return true; });
  ASSERT_EQ(n.size(), 1u);
  EXPECT_EQ(n[0].depth, 2u);
}

TEST(CallerTree, NoSharedCallerNoNode) {
  const Stacks s = {{"a"}, {"b"}};
  EXPECT_TRUE(caller_nodes(s, [](std::string_view) { return true; }).empty());
  EXPECT_TRUE(caller_nodes({}, [](std::string_view) { return true; }).empty());
}

TEST(SumSeries, HoldsLastValueAndZeroBeforeFirst) {
  const std::vector<Point> a = {{0, 1}, {1, 2}, {2, 3}};
  const std::vector<Point> b = {{1, 10}, {2, 20}};  // first seen at t=1
  const std::vector<Point> c = {{0.5, 100}};        // off the others' times
  const std::vector<const std::vector<Point>*> parts = {&a, &b, &c};
  const std::vector<Point> s = sum_series(parts);
  ASSERT_EQ(s.size(), 4u);
  EXPECT_DOUBLE_EQ(s[0].value, 1);
  EXPECT_DOUBLE_EQ(s[1].t_s, 0.5);
  EXPECT_DOUBLE_EQ(s[1].value, 101);
  EXPECT_DOUBLE_EQ(s[2].value, 112);
  EXPECT_DOUBLE_EQ(s[3].value, 123);
}

}  // namespace
}  // namespace leakhound::detect
