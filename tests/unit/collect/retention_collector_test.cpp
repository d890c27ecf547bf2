// The retention capability through the daemon's sequence (report, report,
// trim, stop) without root, over the retention walk's fake heap (one global →
// a 16 B object → a sampled main.Session in bucket kBucket): each report walks
// anew and explains the leaking findings only; polls and trims read nothing.
#include "collect/retention/retention_collector.h"

#include <gtest/gtest.h>

#include "../goruntime/fake_heap.h"
#include "fake_target.h"

namespace leakhound::collect {
namespace {

using namespace testing;
using goruntime::testing::FakeHeap;

// Counts the reads that reach the fake heap.
class CountingMemory final : public target::MemoryReader {
 public:
  explicit CountingMemory(const target::MemoryReader& m) : m_(m) {}
  Result<void> read(uint64_t addr, void* dst, size_t len) const override {
    reads++;
    return m_.read(addr, dst, len);
  }
  mutable size_t reads = 0;

 private:
  const target::MemoryReader& m_;
};

// What the heap capability contributes before: a leaking stack and a stable
// one, both with objects in the sampled bucket.
report::Report heap_report() {
  report::Report r;
  for (auto v : {detect::Verdict::Leak, detect::Verdict::Stable}) {
    report::HeapFinding f;
    f.trend.verdict = v;
    f.stack = {Frame{v == detect::Verdict::Leak ? "main.leakOne" : "main.churnOne", "", 0, 0}};
    f.buckets = {FakeHeap::kBucket};
    r.heap.push_back(f);
  }
  return r;
}

void expect_explained(const report::Report& r) {
  ASSERT_EQ(r.heap.size(), 2u);
  EXPECT_TRUE(r.retention_walk.ran) << r.retention_walk.why_not;
  EXPECT_TRUE(r.retention_walk.complete);
  ASSERT_TRUE(r.heap[0].retention);
  const report::Retention& ret = *r.heap[0].retention;
  EXPECT_EQ(ret.sampled_objects, 1u);
  EXPECT_EQ(ret.reached, 1u);
  ASSERT_EQ(ret.paths.size(), 1u);
  const report::RetentionPath& p = ret.paths[0];
  EXPECT_EQ(p.root_kind, "global");
  EXPECT_EQ(p.root, "0x80000") << "no symbol of the binary covers the fake global";
  EXPECT_EQ(p.via, std::vector<std::string>{"16 B object"});
  EXPECT_EQ(p.object, "[]main.Session") << "a 1 KiB object of a 16 B type";
  EXPECT_EQ(p.objects, 1u);
  EXPECT_EQ(p.confirmed, 1u);
  EXPECT_FALSE(r.heap[1].retention) << "a stable stack is not explained";
}

TEST(RetentionCollector, EveryReportWalksPollsAndTrimsReadNothing) {
  auto t = go_target_over_self("retainleak-go1.27-default");
  ASSERT_TRUE(t);
  t->syms.allgs = 0;  // no goroutine stacks as roots: the global is the path
  auto layout = goruntime::heap_layout(t->build.go_version);
  ASSERT_TRUE(layout) << layout.error().message;
  FakeHeap heap(*layout);
  CountingMemory mem(heap.mem);
  auto c = RetentionCollector::over(*t, mem, RetentionOptions{.enabled = true}, *layout, "table",
                                    FakeHeap::kMheap, FakeHeap::kModuledata);

  ASSERT_TRUE(c->poll());
  ASSERT_TRUE(c->poll());
  EXPECT_EQ(mem.reads, 0u);
  report::Report r1 = heap_report();
  c->contribute(r1);
  expect_explained(r1);
  const size_t one_walk = mem.reads;
  EXPECT_GT(one_walk, 0u);

  ASSERT_TRUE(c->poll());
  report::Report r2 = heap_report();
  c->contribute(r2);
  expect_explained(r2);
  EXPECT_EQ(mem.reads, 2 * one_walk) << "the second report walks the heap again, all of it";

  c->trim(5);
  EXPECT_EQ(mem.reads, 2 * one_walk);
  report::Report r3 = heap_report();
  c->contribute(r3);
  expect_explained(r3);

  report::Report r4 = heap_report();
  c->stop(r4);
  expect_explained(r4);
  EXPECT_EQ(mem.reads, 4 * one_walk);

  // Nothing to explain: no walk at all.
  report::Report quiet = heap_report();
  quiet.heap.erase(quiet.heap.begin());
  c->contribute(quiet);
  EXPECT_FALSE(quiet.retention_walk.ran);
  EXPECT_EQ(mem.reads, 4 * one_walk);
}

}  // namespace
}  // namespace leakhound::collect
