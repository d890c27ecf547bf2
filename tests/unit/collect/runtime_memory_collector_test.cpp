// The runtime-memory capability through the daemon's sequence (report,
// report, trim, stop) without root: runtime.memstats and runtime.gcController
// laid out (Go 1.27's layout) in this process's own memory, a fake RSS and a
// fake clock.
#include "collect/runtime_memory/runtime_memory_collector.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <limits>

#include "fake_target.h"

namespace leakhound::collect {
namespace {

using namespace testing;

constexpr double kMiB = 1 << 20;

struct FakeRuntime {
  goruntime::MemStatsLayout l;
  std::vector<uint8_t> ms, gc;
  explicit FakeRuntime(goruntime::MemStatsLayout layout)
      : l(std::move(layout)), ms(l.heap_stats + 3 * l.delta_size + 8192), gc(4096) {}
  template <typename T>
  static void put(std::vector<uint8_t>& b, int64_t off, T v) {
    std::memcpy(b.data() + off, &v, sizeof v);
  }
  void delta(uint32_t field, int64_t v) { put(ms, l.heap_stats + field, v); }
};

TEST(RuntimeMemoryCollector, PartsAddUpToTheRssSlopeTrimCutsStopReports) {
  auto layout = goruntime::memstats_layout({1, 27, 0, "go1.27"});
  ASSERT_TRUE(layout) << layout.error().message;
  FakeRuntime rt(*layout);
  FakeRuntime::put(rt.gc, rt.l.gc_percent, int32_t{100});
  FakeRuntime::put(rt.gc, rt.l.memory_limit, std::numeric_limits<int64_t>::max());
  FakeRuntime::put(rt.ms, rt.l.mspan_sys, uint64_t{3} << 20);
  auto mem = target::ProcessMemory::open(getpid(), false);
  ASSERT_TRUE(mem) << mem.error().message;

  FakeClock clock;
  uint64_t rss = 0;
  int rss_reads = 0;
  auto c = RuntimeMemoryCollector::over(
      *mem, rt.l, reinterpret_cast<uint64_t>(rt.ms.data()),
      reinterpret_cast<uint64_t>(rt.gc.data()),
      [&]() -> Result<uint64_t> {
        rss_reads++;
        return rss;
      },
      clock.fn());
  // Each second the live heap grows 1 MiB (and the GC's headroom with it:
  // the heap in use is twice the live), stacks 64 KiB, and what the runtime
  // does not know of (cgo, say) 100 KiB.
  int k = 0;
  auto tick = [&](int polls) {
    for (int i = 0; i < polls; i++, k++) {
      clock.advance_s(1);
      const uint64_t live = (10 << 20) + uint64_t(k) * (1 << 20);
      const uint64_t inuse = 2 * live, stacks = (1 << 20) + uint64_t(k) * (64 << 10),
                     free_pages = 2 << 20;
      rt.delta(rt.l.in_heap, static_cast<int64_t>(inuse));
      rt.delta(rt.l.in_stacks, static_cast<int64_t>(stacks));
      rt.delta(rt.l.committed, static_cast<int64_t>(inuse + stacks + free_pages));
      FakeRuntime::put(rt.gc, rt.l.heap_marked, live);
      rss = inuse + free_pages + stacks + (3 << 20) + (4 << 20) + uint64_t(k) * (100 << 10);
      ASSERT_TRUE(c->poll());
    }
  };

  tick(10);
  report::Report r1;
  c->contribute(r1);
  const report::RssBreakdown& b1 = r1.rss;
  ASSERT_TRUE(b1.read);
  EXPECT_EQ(b1.points, 10u);
  EXPECT_DOUBLE_EQ(b1.window_s, 9);
  EXPECT_NEAR(b1.heap_live_per_s, kMiB, 1);
  EXPECT_NEAR(b1.gc_headroom_per_s, kMiB, 1);
  EXPECT_NEAR(b1.stacks_per_s, 64 << 10, 1);
  EXPECT_NEAR(b1.metadata_per_s, 0, 1);
  EXPECT_FALSE(b1.native_tracked);
  EXPECT_NEAR(b1.unexplained_per_s, 100 << 10, 1);
  EXPECT_NEAR(b1.heap_live_per_s + b1.gc_headroom_per_s + b1.stacks_per_s + b1.metadata_per_s +
                  b1.native_per_s + b1.unexplained_per_s,
              b1.rss_per_s, 1e-6);
  EXPECT_NEAR(b1.rss_per_s, 2 * kMiB + (64 << 10) + (100 << 10), 1);
  EXPECT_EQ(b1.rss_bytes, rss);
  EXPECT_EQ(b1.heap_live_bytes, (19u << 20));
  EXPECT_EQ(b1.metadata_bytes, 3u << 20);
  EXPECT_FALSE(r1.gomemlimit.limited);
  EXPECT_EQ(rss_reads, 10) << "a report reads nothing of the target";

  tick(4);
  report::Report r2;
  c->contribute(r2);
  EXPECT_EQ(r2.rss.points, 14u);
  EXPECT_EQ(r2.rss.rss_series.size(), 14u);
  EXPECT_EQ(r2.rss.heap_live_bytes, (23u << 20));

  // The rolling window: 5 s before the newest reading.
  c->trim(5);
  report::Report r3;
  c->contribute(r3);
  EXPECT_EQ(r3.rss.points, 6u);
  EXPECT_DOUBLE_EQ(r3.rss.window_s, 5);
  ASSERT_FALSE(r3.rss.live_series.empty());
  EXPECT_DOUBLE_EQ(r3.rss.live_series.front().value, (10 + 8) * kMiB);

  tick(3);
  report::Report r4;
  c->stop(r4);
  EXPECT_EQ(r4.rss.points, 9u);
  EXPECT_NEAR(r4.rss.unexplained_per_s, 100 << 10, 1);
  EXPECT_EQ(rss_reads, 17);
}

}  // namespace
}  // namespace leakhound::collect
