// The process capability through the daemon's sequence (report, report,
// trim, stop) without root: this test process is the target, its own pipes
// the fd leak, and a fake clock spaces the polls a second apart.
#include "collect/process/process_collector.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <vector>

namespace leakhound::collect {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

const report::ProcessFinding* metric(const report::Report& r, const std::string& m) {
  for (const auto& f : r.process)
    if (f.metric == m) return &f;
  return nullptr;
}

TEST(ProcessCollector, ReportsJudgeTheWindowTrimCutsItStopEndsIt) {
  int64_t now = 50 * kSecond;
  ProcessCollector c(getpid(), ProcessOptions{}, [&] { return now; });
  std::vector<int> fds;
  // Each poll a second later, with one pipe (two fds) more than the last.
  auto tick = [&](int polls) {
    for (int i = 0; i < polls; i++) {
      now += kSecond;
      int p[2];
      ASSERT_EQ(pipe(p), 0);
      fds.insert(fds.end(), {p[0], p[1]});
      ASSERT_TRUE(c.poll());
    }
  };

  tick(10);
  report::Report r1;
  c.contribute(r1);
  const auto* pipes1 = metric(r1, "fds.pipe");
  ASSERT_NE(pipes1, nullptr);
  EXPECT_EQ(pipes1->trend.verdict, detect::Verdict::Leak) << pipes1->trend.reason;
  EXPECT_NEAR(pipes1->trend.slope_per_s, 2, 1e-9);
  ASSERT_EQ(pipes1->series.size(), 10u);
  EXPECT_DOUBLE_EQ(pipes1->series.back().t_s - pipes1->series.front().t_s, 9);
  const auto* threads1 = metric(r1, "threads");
  ASSERT_NE(threads1, nullptr);
  EXPECT_EQ(threads1->trend.verdict, detect::Verdict::Stable);

  // A second report judges everything held, and takes nothing away.
  tick(4);
  report::Report r2;
  c.contribute(r2);
  const auto* pipes2 = metric(r2, "fds.pipe");
  ASSERT_NE(pipes2, nullptr);
  EXPECT_EQ(pipes2->series.size(), 14u);
  EXPECT_DOUBLE_EQ(pipes2->value - pipes1->value, 8);

  // The rolling window: 5 s before the newest point.
  c.trim(5);
  report::Report r3;
  c.contribute(r3);
  const auto* pipes3 = metric(r3, "fds.pipe");
  ASSERT_NE(pipes3, nullptr);
  ASSERT_EQ(pipes3->series.size(), 6u);
  EXPECT_DOUBLE_EQ(pipes3->series.back().t_s - pipes3->series.front().t_s, 5);

  // Polls resume after the trim; stop reports the window as it stands.
  tick(3);
  report::Report r4;
  c.stop(r4);
  const auto* pipes4 = metric(r4, "fds.pipe");
  ASSERT_NE(pipes4, nullptr);
  EXPECT_EQ(pipes4->series.size(), 9u);
  EXPECT_EQ(pipes4->trend.verdict, detect::Verdict::Leak) << pipes4->trend.reason;
  EXPECT_DOUBLE_EQ(pipes4->value, pipes3->value + 6);
  for (int fd : fds) close(fd);
}

}  // namespace
}  // namespace leakhound::collect
