// The heap capability through the daemon's sequence (report, report, trim,
// stop) without root: fake GC events at the probe boundary, a fake clock, and
// the runtime's sampler and bucket list in this process's own memory, read
// and written through /proc/self/mem as a target's would be.
#include "collect/heap/heap_collector.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "../goruntime/fake_buckets.h"
#include "fake_target.h"
#include "goruntime/write_journal.h"

namespace leakhound::collect {
namespace {

using namespace testing;
using goruntime::testing::encode;
using goruntime::testing::FakeBucket;

class FakeHeapEvents final : public probes::HeapEvents {
 public:
  probes::GcState gc;
  int* detached;
  explicit FakeHeapEvents(int* detached_count) : detached(detached_count) {}
  ~FakeHeapEvents() override { ++*detached; }  // the last owner takes the probes off
  void forget(uint32_t) const override {}
  Result<probes::GcState> read_gc(uint32_t) const override { return gc; }
  bool sample_events() const override { return false; }
  Result<std::unordered_map<uint64_t, probes::BucketCounts>> read_counts(uint32_t) const override {
    return std::unordered_map<uint64_t, probes::BucketCounts>{};
  }
  uint64_t dropped() const override { return 0; }
};

// The runtime's variables the heap capability reads and writes.
int64_t g_mem_profile_rate = 0;  // the program never reads its profile: sampler off
uint64_t g_mbuckets = 0;

int64_t rate_in_target() { return *static_cast<volatile int64_t*>(&g_mem_profile_rate); }

// A bucket living in this process's memory, its counters rewritten in place.
struct LiveBucket {
  FakeBucket b;
  std::vector<uint8_t> bytes;
  void publish(const goruntime::ProfileLayout& l) {
    b.addr = reinterpret_cast<uint64_t>(bytes.data());
    auto e = encode(b, l);
    std::memcpy(bytes.data(), e.data(), e.size());
  }
};

const report::HeapFinding* with_frame(const report::Report& r, const std::string& fn) {
  for (const auto& f : r.heap)
    if (!f.stack.empty() && f.stack.front().function == fn) return &f;
  return nullptr;
}

TEST(HeapCollector, ReportsKeepProbesAndSamplerTrimCutsStopUndoesOnce) {
  const std::string state =
      std::filesystem::temp_directory_path() / ("lh-heap-lifecycle-" + std::to_string(getpid()));
  setenv("LEAKHOUND_STATE_DIR", state.c_str(), 1);
  auto t = go_target_over_self("heapleak-go1.27-default");
  ASSERT_TRUE(t);
  t->syms.mem_profile_rate = reinterpret_cast<uint64_t>(&g_mem_profile_rate);
  t->syms.disable_memory_profiling = 0;
  t->syms.mbuckets = reinterpret_cast<uint64_t>(&g_mbuckets);
  auto mem = target::ProcessMemory::open(getpid(), true);
  ASSERT_TRUE(mem) << mem.error().message;
  const goruntime::ProfileLayout& l = t->layout;

  int detached = 0;
  auto owned = std::make_shared<FakeHeapEvents>(&detached);
  FakeHeapEvents& events = *owned;
  FakeClock clock;
  HeapOptions opts;
  opts.fixed_rate = true;
  opts.enable_rate = 1;  // every allocation sampled: the figures are exact
  report::Report r0;
  auto opened = HeapCollector::over(*t, *mem, opts, std::move(owned), clock.fn(), r0);
  ASSERT_TRUE(opened) << opened.error().message;
  std::unique_ptr<HeapCollector> c = std::move(*opened);
  EXPECT_EQ(rate_in_target(), 1) << "the sampler is switched on at attach";
  EXPECT_TRUE(r0.sampler_enabled_by_us);
  ASSERT_TRUE(goruntime::load_record(getpid())) << "the write is journaled";

  // Sampled since attach: the buckets appear with the first GC. The leak
  // keeps eight 1 KiB objects a second; the churn allocates 100 and holds 4.
  LiveBucket leak{
      {0, 0, 1024, {return_pc_in(*t, "main.leakOne"), return_pc_in(*t, "main.leaker")}, 0, 0, 0, 0},
      {}};
  LiveBucket churn{{0,
                    0,
                    1024,
                    {return_pc_in(*t, "main.churnOne"), return_pc_in(*t, "main.churner")},
                    0,
                    0,
                    0,
                    0},
                   {}};
  for (LiveBucket* b : {&leak, &churn})
    b->bytes.resize(l.bucket_header + 8 * b->b.stack.size() + l.memrecord_size);
  auto tick = [&](int cycles) {
    for (int i = 0; i < cycles; i++) {
      clock.advance_s(1);
      leak.b.allocs += 8;
      churn.b.allocs += 100;
      churn.b.frees = churn.b.allocs - 4;
      for (LiveBucket* b : {&leak, &churn}) {
        b->b.alloc_bytes = b->b.allocs * 1024;
        b->b.free_bytes = b->b.frees * 1024;
      }
      churn.b.allnext = 0;
      churn.publish(l);
      leak.b.allnext = churn.b.addr;
      leak.publish(l);
      *static_cast<volatile uint64_t*>(&g_mbuckets) = leak.b.addr;
      // Each publication timed at the GC before it (the heap it shows):
      // the first, of a GC before attach, at 0.
      events.gc.cycles++;
      events.gc.prev_ns = events.gc.last_ns;
      events.gc.last_ns = static_cast<uint64_t>(clock.now);
      ASSERT_TRUE(c->poll());
    }
  };

  tick(10);
  report::Report r1;
  c->contribute(r1);
  const auto* leak1 = with_frame(r1, "main.leakOne");
  ASSERT_NE(leak1, nullptr);
  EXPECT_EQ(leak1->trend.verdict, detect::Verdict::Leak) << leak1->trend.reason;
  EXPECT_EQ(leak1->inuse_bytes, 10u * 8 * 1024);
  // The first publication replaces the attach-time point: 0..9 s.
  EXPECT_EQ(leak1->series.size(), 10u);
  EXPECT_DOUBLE_EQ(leak1->series.front().t_s, 0);
  EXPECT_DOUBLE_EQ(leak1->series.back().t_s, 9);
  const auto* churn1 = with_frame(r1, "main.churnOne");
  ASSERT_NE(churn1, nullptr);
  EXPECT_NE(churn1->trend.verdict, detect::Verdict::Leak) << churn1->trend.reason;
  EXPECT_EQ(churn1->inuse_bytes, 4u * 1024);
  EXPECT_EQ(churn1->alloc_bytes_window, 1000u * 1024);
  EXPECT_EQ(r1.gc_cycles, 10u);
  EXPECT_EQ(detached, 0) << "a report must not take the probes off";
  EXPECT_EQ(rate_in_target(), 1) << "a report must not restore the sampler";

  tick(4);
  report::Report r2;
  c->contribute(r2);
  const auto* leak2 = with_frame(r2, "main.leakOne");
  ASSERT_NE(leak2, nullptr);
  EXPECT_EQ(leak2->inuse_bytes, 14u * 8 * 1024);
  EXPECT_EQ(leak2->series.size(), 14u);
  EXPECT_DOUBLE_EQ(leak2->series.back().t_s, 13);
  EXPECT_EQ(detached, 0);
  EXPECT_EQ(rate_in_target(), 1);

  // The rolling window: 5 s before the newest point.
  c->trim(5);
  report::Report r3;
  c->contribute(r3);
  const auto* leak3 = with_frame(r3, "main.leakOne");
  ASSERT_NE(leak3, nullptr);
  ASSERT_EQ(leak3->series.size(), 6u);
  EXPECT_DOUBLE_EQ(leak3->series.front().t_s, 8);
  EXPECT_DOUBLE_EQ(leak3->series.front().value, 9 * 8 * 1024);

  tick(3);
  report::Report r4;
  c->stop(r4);
  const auto* leak4 = with_frame(r4, "main.leakOne");
  ASSERT_NE(leak4, nullptr);
  EXPECT_EQ(leak4->series.size(), 9u);
  EXPECT_EQ(leak4->trend.verdict, detect::Verdict::Leak) << leak4->trend.reason;
  EXPECT_EQ(leak4->inuse_bytes, 17u * 8 * 1024);
  EXPECT_EQ(detached, 1);
  EXPECT_EQ(rate_in_target(), 0) << "stop puts the program's own rate back";
  EXPECT_FALSE(goruntime::load_record(getpid())) << "and forgets the journaled write";

  // Stopped: nothing more is read, contributed or undone.
  g_mem_profile_rate = 7;  // the program's own change, after leakhound left
  EXPECT_TRUE(c->poll());
  report::Report r5;
  c->contribute(r5);
  EXPECT_TRUE(r5.heap.empty());
  c.reset();
  EXPECT_EQ(detached, 1);
  EXPECT_EQ(rate_in_target(), 7);
  std::filesystem::remove_all(state);
}

}  // namespace
}  // namespace leakhound::collect
