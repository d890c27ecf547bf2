// The `stuck` evidence's rules over hand-made sites: no target needed.
#include "collect/goroutines/stuck.h"

#include <gtest/gtest.h>

namespace leakhound::collect {
namespace {

std::vector<detect::Point> series(std::initializer_list<double> counts) {
  std::vector<detect::Point> s;
  double t = 0;
  for (double c : counts) s.push_back({t++, c});
  return s;
}

BlockedGoroutine chan_wait(double age) { return {true, age}; }

TEST(Stuck, WhichWaitsCount) {
  for (const char* r :
       {"chan receive", "chan send", "chan receive (nil chan)", "select", "sync.Mutex.Lock",
        "sync.RWMutex.RLock", "sync.WaitGroup.Wait", "sync.Cond.Wait", "semacquire"})
    EXPECT_TRUE(is_stuck_wait(r)) << r;
  for (const char* r :
       {"IO wait", "sleep", "timer goroutine (idle)", "select (no cases)", "GC worker (idle)",
        "finalizer wait", "running", "runnable", "syscall", "force gc (idle)", ""})
    EXPECT_FALSE(is_stuck_wait(r)) << r;
}

TEST(Stuck, OldBlockedFlatSiteIsStuckWithItsAges) {
  auto e = judge_stuck({chan_wait(10), chan_wait(30), chan_wait(20), chan_wait(-1)},
                       series({3, 3, 4, 4}), 5);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->blocked, 4u);
  EXPECT_EQ(e->older, 3u);
  EXPECT_EQ(e->unknown_age, 1u);
  EXPECT_EQ(e->min_s, 10);
  EXPECT_EQ(e->p50_s, 20);
  EXPECT_EQ(e->max_s, 30);
  EXPECT_EQ(e->threshold_s, 5);

  report::GoroutineFinding f;
  f.wait_reason = "chan receive";
  mark_stuck(f, *e);
  EXPECT_EQ(f.evidence, report::Evidence::Stuck);
  EXPECT_EQ(f.trend.verdict, detect::Verdict::Leak);
  EXPECT_NE(f.evidence_text.find("blocked on chan receive"), std::string::npos);
  EXPECT_NE(f.evidence_text.find("Not a proof"), std::string::npos);
  EXPECT_NE(f.evidence_text.find("1 not yet seen blocked"), std::string::npos);
}

TEST(Stuck, NewestMayBeYoungButTheWindowsFirstMustBeOld) {
  // 3 at the start of the window, 2 old: one of the first ones is recent
  // (it ran again since): not stuck.
  EXPECT_FALSE(judge_stuck({chan_wait(10), chan_wait(10), chan_wait(1)}, series({3, 3}), 5));
  // 2 at the start, both old, a new one young: stuck.
  EXPECT_TRUE(judge_stuck({chan_wait(10), chan_wait(10), chan_wait(1)}, series({2, 3}), 5));
}

TEST(Stuck, NeverWhenTheCountFellOrOneIsNotBlockedOrAgesUnknown) {
  EXPECT_FALSE(judge_stuck({chan_wait(60), chan_wait(60)}, series({3, 2, 2}), 5)) << "some ended";
  EXPECT_FALSE(judge_stuck({chan_wait(60), {false, 60}}, series({2, 2}), 5))
      << "one sleeps, waits on IO or runs";
  EXPECT_FALSE(judge_stuck({chan_wait(-1), chan_wait(-1)}, series({2, 2}), 5))
      << "no GC cycle saw them blocked: no age, no verdict";
  EXPECT_FALSE(judge_stuck({chan_wait(3), chan_wait(4)}, series({2, 2}), 5)) << "young";
  EXPECT_FALSE(judge_stuck({}, series({0, 0}), 5));
}

}  // namespace
}  // namespace leakhound::collect
