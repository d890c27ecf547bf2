// The daemon's pending / watched / rejected transitions over a fake host: no
// root, no /proc, no sessions.
#include "daemon/watcher.h"

#include <gtest/gtest.h>

#include <map>

#include "fake_host.h"

namespace leakhound::daemon {
namespace {

struct Fixture {
  FakeHost host;
  Filter filter;
  ProcessTable table;
  std::unique_ptr<Watcher> w;
  explicit Fixture(Filters f = {}, bool native = false, double leak_check_every_s = 0)
      : filter(*Filter::compile(f)) {
    collect::SessionOptions so;
    so.native.mode =
        native ? collect::NativeOptions::Mode::Auto : collect::NativeOptions::Mode::Off;
    w = std::make_unique<Watcher>(host, filter, so, /*settle_s=*/0.5, /*window_s=*/60, table,
                                  leak_check_every_s);
  }
  void cycle() {
    w->rescan();
    w->attach_pending();
  }
};

TEST(Watcher, GoProcessesAreWatchedOthersRejectedOnce) {
  Fixture f;
  f.host.procs[10] = {"/srv/api"};
  f.host.procs[11] = {"/bin/sh", Candidate::Kind::Other};
  f.host.procs[12] = {"/usr/bin/leakhound", Candidate::Kind::Leakhound};
  f.host.procs[13] = {"/proc/13/exe?", Candidate::Kind::Unreadable};
  f.host.procs[1] = {"/usr/bin/leakhound", Candidate::Kind::Leakhound};  // the daemon itself
  f.cycle();
  EXPECT_TRUE(f.w->watched(10));
  for (pid_t p : {11, 12, 13}) EXPECT_TRUE(f.w->rejected(p)) << p;
  EXPECT_FALSE(f.w->rejected(1) || f.w->pending(1) || f.w->watched(1)) << "never looks at itself";
  EXPECT_EQ(f.table.counters().attached_total, 1u);
  EXPECT_EQ(f.table.counters().skipped_total, 3u);
  ProcessEntry e;
  ASSERT_TRUE(f.table.get(10, &e));
  EXPECT_EQ(e.exe, "api");
  EXPECT_EQ(e.go_version, "go1.26.8");

  // A rescan does not look at rejected processes again...
  f.cycle();
  EXPECT_EQ(f.table.counters().skipped_total, 3u);
  EXPECT_EQ(f.host.log.opened[10], 1);
  // ...unless another process took the PID (a new start time).
  f.host.procs[11] = {"/srv/worker", Candidate::Kind::Go, 2};
  f.cycle();
  EXPECT_TRUE(f.w->watched(11));
}

TEST(Watcher, YoungProcessesWaitForTheRuntimeToSettle) {
  Fixture f;
  f.host.procs[20] = {"/srv/api"};
  f.host.procs[20].age_s = 0.1;
  f.cycle();
  EXPECT_TRUE(f.w->pending(20));
  EXPECT_FALSE(f.w->watched(20));
  f.host.procs[20].age_s = 0.6;
  f.w->attach_pending();
  EXPECT_TRUE(f.w->watched(20));
  EXPECT_FALSE(f.w->pending(20));
}

TEST(Watcher, ExecExitAndDeathEndSessions) {
  Fixture f;
  f.host.procs[30] = {"/srv/a"};
  f.host.procs[31] = {"/srv/b"};
  f.host.procs[32] = {"/srv/c"};
  f.cycle();
  ASSERT_TRUE(f.w->watched(30) && f.w->watched(31) && f.w->watched(32));

  // exec: the session ends, the PID is looked at anew (now a shell).
  f.host.procs[30] = {"/bin/sh", Candidate::Kind::Other, 5};
  f.w->exec_seen(30);
  EXPECT_EQ(f.host.log.finished[30], 1);
  EXPECT_TRUE(f.w->pending(30));
  f.w->attach_pending();
  EXPECT_TRUE(f.w->rejected(30));

  // exit event
  f.host.procs[31].alive = false;
  f.w->exit_seen(31);
  EXPECT_EQ(f.host.log.finished[31], 1);
  EXPECT_FALSE(f.w->watched(31));
  ProcessEntry e;
  EXPECT_FALSE(f.table.get(31, &e));

  // an exit the ring buffer lost: found by the poll, then by the rescan
  f.host.procs[32].alive = false;
  f.w->poll_all([] {});
  EXPECT_FALSE(f.w->watched(32));
  EXPECT_EQ(f.host.log.finished[32], 1);
  EXPECT_EQ(f.table.counters().detached_total, 3u);
}

TEST(Watcher, NativeTracksNonGoProcessesOnlyWhenNamed) {
  Filters flt;
  flt.include_exe = {"^/srv/", "^/opt/cprog$"};
  Fixture f(flt, /*native=*/true);
  f.host.procs[40] = {"/srv/api"};
  f.host.procs[41] = {"/opt/cprog", Candidate::Kind::Other};
  f.host.procs[42] = {"/srv/helper.sh", Candidate::Kind::Other};  // named by ^/srv/ too
  f.host.procs[43] = {"/usr/bin/python3", Candidate::Kind::Other};
  f.host.procs[44] = {"/srv/leakhound-copy", Candidate::Kind::Leakhound};
  f.cycle();
  EXPECT_TRUE(f.w->watched(40));
  EXPECT_TRUE(f.w->watched(41));
  EXPECT_TRUE(f.w->watched(42));
  EXPECT_TRUE(f.w->rejected(43));
  EXPECT_TRUE(f.w->rejected(44)) << "a leakhound is never watched, even when named";

  // No --include-exe: every Go process, no other one.
  Fixture host_wide({}, /*native=*/true);
  host_wide.host.procs = f.host.procs;
  host_wide.cycle();
  EXPECT_TRUE(host_wide.w->watched(40));
  for (pid_t p : {41, 42, 43, 44}) EXPECT_TRUE(host_wide.w->rejected(p)) << p;
}

TEST(Watcher, FailedAttachIsCountedAndNotRetried) {
  Fixture f;
  f.host.procs[50] = {"/srv/api"};
  f.host.fail_open.insert(50);
  f.cycle();
  EXPECT_TRUE(f.w->rejected(50));
  EXPECT_EQ(f.table.counters().attach_failures_total, 1u);
  f.cycle();
  EXPECT_EQ(f.host.log.opened[50], 1);
}

TEST(Watcher, NamespaceFilterAndStopAll) {
  Filters flt;
  flt.exclude_namespace = {"kube-system"};
  Fixture f(flt);
  f.host.procs[60] = {"/srv/api"};
  f.host.procs[61] = {"/srv/dns"};
  f.host.procs[61].ns = "kube-system";
  f.cycle();
  EXPECT_TRUE(f.w->watched(60));
  EXPECT_TRUE(f.w->rejected(61));
  f.w->stop_all();
  EXPECT_FALSE(f.w->watched(60));
  EXPECT_EQ(f.host.log.finished[60], 1);
}

TEST(Watcher, LeakCheckAtMostOncePerPeriodPerProcess) {
  Fixture f({}, false, /*leak_check_every_s=*/600);
  f.host.procs[70] = {"/srv/a"};
  f.cycle();
  // The first poll after attach asks; polls every 2 s within the period do not.
  for (int i = 0; i < 10; ++i) {
    f.w->poll_all([] {});
    f.host.now += 2;
  }
  EXPECT_EQ(f.host.log.polled[70], 10);
  EXPECT_EQ(f.host.log.leak_checks[70], 1);

  // A second process attached later has its own schedule.
  f.host.procs[71] = {"/srv/b"};
  f.cycle();
  f.w->poll_all([] {});
  EXPECT_EQ(f.host.log.leak_checks[71], 1);
  EXPECT_EQ(f.host.log.leak_checks[70], 1);

  // 600 s after 70's first request: 70 is due, 71 (asked 20 s later) is not.
  f.host.now = 1000 + 600;
  f.w->poll_all([] {});
  f.w->poll_all([] {});
  EXPECT_EQ(f.host.log.leak_checks[70], 2);
  EXPECT_EQ(f.host.log.leak_checks[71], 1);
  f.host.now = 1020 + 600;
  f.w->poll_all([] {});
  EXPECT_EQ(f.host.log.leak_checks[71], 2);

  // A long stall (the daemon stopped, the host suspended) owes nothing: one
  // request, then the period anew.
  f.host.now += 10 * 600;
  for (int i = 0; i < 3; ++i) f.w->poll_all([] {});
  EXPECT_EQ(f.host.log.leak_checks[70], 3);
  EXPECT_EQ(f.host.log.leak_checks[71], 3);

  // A process that exited and another that took its PID: the new one asks anew.
  f.host.procs[70].alive = false;
  f.w->exit_seen(70);
  f.host.procs[70] = {"/srv/a", Candidate::Kind::Go, 9};
  f.w->exec_seen(70);
  f.w->attach_pending();
  f.w->poll_all([] {});
  EXPECT_EQ(f.host.log.leak_checks[70], 4);
}

TEST(Watcher, LeakCheckOffAsksNothing) {
  Fixture f;  // --leak-check-every 0, or --read-only
  f.host.procs[80] = {"/srv/a"};
  f.cycle();
  for (int i = 0; i < 5; ++i) {
    f.w->poll_all([] {});
    f.host.now += 1000;
  }
  EXPECT_EQ(f.host.log.polled[80], 5);
  EXPECT_EQ(f.host.log.leak_checks[80], 0);
}

}  // namespace
}  // namespace leakhound::daemon
