// The daemon's memory budget: the policy alone (daemon/budget.h), then driven
// by the Watcher over a fake host whose memory is a model of the work held.
#include "daemon/budget.h"

#include <gtest/gtest.h>

#include "fake_host.h"

namespace leakhound::daemon {
namespace {

using K = BudgetAction::Kind;
constexpr uint64_t kMiB = 1 << 20;

BudgetOptions options(uint64_t budget_mib) {
  BudgetOptions o;
  o.budget_bytes = budget_mib * kMiB;
  o.recover_ticks = 3;
  o.window_s = 600;
  o.min_window_s = 60;
  return o;
}

TEST(Budget, ShedsNativeThenWindowThenProcessesLeastGrowingFirst) {
  Budget b(options(100));
  // 12 grew most recently, 11 never, 10 a while ago.
  std::vector<BudgetProcess> procs{{10, true, 500}, {11, true, 100}, {12, false, 900}};
  const uint64_t over = 101 * kMiB;
  EXPECT_TRUE(b.admitting());
  auto a = b.tick(over, procs);
  EXPECT_EQ(a.kind, K::ShedNative);
  EXPECT_EQ(a.pid, 11);
  EXPECT_FALSE(b.admitting()) << "nothing new while over";
  procs[1].native = false;
  a = b.tick(over, procs);
  EXPECT_EQ(a.kind, K::ShedNative);
  EXPECT_EQ(a.pid, 10);
  procs[0].native = false;
  // 600 s halved to 300, 150, 75, then the 60 s floor.
  for (double w : {300.0, 150.0, 75.0, 60.0}) {
    a = b.tick(over, procs);
    EXPECT_EQ(a.kind, K::ShrinkWindow);
    EXPECT_DOUBLE_EQ(b.window_s(), w);
  }
  a = b.tick(over, procs);
  EXPECT_EQ(a.kind, K::Detach);
  EXPECT_EQ(a.pid, 11);
  procs.erase(procs.begin() + 1);
  a = b.tick(over, procs);
  EXPECT_EQ(a.kind, K::Detach);
  EXPECT_EQ(a.pid, 10);
  procs.erase(procs.begin());
  EXPECT_EQ(b.tick(over, procs).kind, K::Detach);
  procs.clear();
  EXPECT_EQ(b.tick(over, procs).kind, K::None) << "nothing left: the daemon's floor";
  EXPECT_EQ(b.detached(), 3u);
  EXPECT_EQ(b.native_shed(), 0u) << "a detached process comes back whole";

  Budget idle(options(100));
  EXPECT_EQ(idle.tick(over, {}).kind, K::None) << "no process: the window is kept";
  EXPECT_DOUBLE_EQ(idle.window_s(), 600);
  EXPECT_FALSE(idle.admitting()) << "a budget under the daemon's floor attaches nothing";
}

TEST(Budget, TakesBackInReverseOrderWithHysteresis) {
  Budget b(options(100));
  std::vector<BudgetProcess> procs{{10, true, 1}, {11, false, 2}};
  // Every step but the detach freed nothing (the memory stayed at 120); the
  // detach freed 30 MiB, so it fits below 60.
  const uint64_t over = 120 * kMiB, band = 90 * kMiB, well_under = 55 * kMiB;
  ASSERT_EQ(b.tick(over, procs).kind, K::ShedNative);
  procs[0].native = false;
  ASSERT_EQ(b.tick(over, procs).kind, K::ShrinkWindow);
  ASSERT_EQ(b.tick(over, procs).kind, K::ShrinkWindow);
  ASSERT_EQ(b.tick(over, procs).kind, K::ShrinkWindow);
  ASSERT_EQ(b.tick(over, procs).kind, K::ShrinkWindow);
  ASSERT_EQ(b.tick(over, procs).kind, K::Detach);  // 10: grew least recently
  procs.erase(procs.begin());
  // Under the budget but above 80% of it: held as is, however long.
  for (int i = 0; i < 20; ++i) EXPECT_EQ(b.tick(band, procs).kind, K::None);
  EXPECT_FALSE(b.admitting()) << "a process is still detached";
  // Well under: one step back every 3 ticks, the last shed first.
  auto settle = [&] {
    EXPECT_EQ(b.tick(well_under, procs).kind, K::None);
    EXPECT_EQ(b.tick(well_under, procs).kind, K::None);
    return b.tick(well_under, procs);
  };
  auto a = settle();
  EXPECT_EQ(a.kind, K::Readmit);
  EXPECT_EQ(a.pid, 10);
  EXPECT_TRUE(b.admitting());
  procs.push_back({10, true, 1});  // attached again, whole
  for (double w : {75.0, 150.0, 300.0, 600.0}) {
    EXPECT_EQ(settle().kind, K::GrowWindow);
    EXPECT_DOUBLE_EQ(b.window_s(), w);
  }
  EXPECT_EQ(settle().kind, K::None) << "native of PID 10 went with its detach";

  // Over again right after a recovery: the next recovery waits twice as long.
  EXPECT_EQ(b.tick(over, procs).kind, K::ShedNative);
  EXPECT_EQ(b.tick(95 * kMiB, procs).kind, K::None);  // it freed 25 MiB: 55 + 25 fits
  for (int i = 0; i < 5; ++i) EXPECT_EQ(b.tick(well_under, procs).kind, K::None) << i;
  a = b.tick(well_under, procs);
  EXPECT_EQ(a.kind, K::ResumeNative);
  EXPECT_EQ(a.pid, 10);
}

TEST(Budget, TakesAStepBackOnlyWhenWhatItFreedFits) {
  Budget b(options(100));  // well under below 80 MiB; a step back must land under 90
  std::vector<BudgetProcess> procs{{10, true, 1}};
  EXPECT_EQ(b.tick(120 * kMiB, procs).kind, K::ShedNative);
  procs[0].native = false;
  EXPECT_EQ(b.tick(70 * kMiB, procs).kind, K::None);
  EXPECT_EQ(b.next_cost(), 50 * kMiB) << "measured on the tick after the shed";
  // Well under, but 70 + 50 would be over again: held, however long.
  for (int i = 0; i < 100; ++i) EXPECT_EQ(b.tick(70 * kMiB, procs).kind, K::None) << i;
  // The memory fell: the step is guessed to cost less (what it held shrank too).
  EXPECT_EQ(b.tick(63 * kMiB, procs).kind, K::None);  // 63 + 50 x 63/70 = 108
  EXPECT_EQ(b.next_cost(), 45 * kMiB);
  auto a = b.tick(49 * kMiB, procs);  // 49 + 35 <= 90: back at once
  EXPECT_EQ(a.kind, K::ResumeNative);
  EXPECT_EQ(b.next_cost(), 0u) << "nothing left shed";

  // A process refused while over never attached: it is guessed at the most a
  // detach freed.
  BudgetOptions o = options(100);
  o.window_s = o.min_window_s = 60;
  Budget d(o);
  std::vector<BudgetProcess> two{{10, false, 1}, {11, false, 2}};
  EXPECT_EQ(d.tick(130 * kMiB, two).kind, K::Detach);  // 10
  two.erase(two.begin());
  EXPECT_EQ(d.tick(110 * kMiB, two).kind, K::Detach);  // 11
  d.refused(12);
  EXPECT_EQ(d.tick(100 * kMiB, {}).kind, K::None);
  EXPECT_EQ(d.next_cost(), 10 * kMiB) << "11 freed 10 MiB";
  for (int i = 0; i < 6; ++i) d.tick(60 * kMiB, {});  // 11, then 10 (20 MiB) back
  EXPECT_EQ(d.detached(), 1u);
  EXPECT_EQ(d.next_cost(), 20 * kMiB) << "12: as much as 10 freed";
}

TEST(Budget, ForgetsProcessesThatWent) {
  Budget b(options(100));
  std::vector<BudgetProcess> procs{{10, true, 1}};
  b.tick(200 * kMiB, procs);  // native of 10
  b.refused(20);
  EXPECT_EQ(b.native_shed(), 1u);
  EXPECT_EQ(b.detached(), 1u);
  b.forget(10);
  b.forget(20);
  EXPECT_EQ(b.native_shed(), 0u);
  EXPECT_EQ(b.detached(), 0u);
}

TEST(Budget, AShortWindowIsNotShrunk) {
  BudgetOptions o = options(100);
  o.window_s = 30;
  o.min_window_s = 30;
  Budget b(o);
  std::vector<BudgetProcess> procs{{10, false, 1}};
  EXPECT_EQ(b.tick(200 * kMiB, procs).kind, K::Detach);
  EXPECT_DOUBLE_EQ(b.window_s(), 30);
}

// The Watcher applying the policy: 20 MiB base, 10 MiB a session at the full
// window, 8 MiB a native tracking.
struct Node {
  FakeHost host;
  Filter filter = *Filter::compile({});
  ProcessTable table;
  std::unique_ptr<Watcher> w;
  std::unique_ptr<Budget> budget;
  explicit Node(uint64_t budget_mib) {
    collect::SessionOptions so;
    so.native.mode = collect::NativeOptions::Mode::Auto;
    w = std::make_unique<Watcher>(host, filter, so, 0.5, 600, table);
    budget = std::make_unique<Budget>(options(budget_mib));
    w->set_budget(budget.get());
  }
  void tick() {
    host.unix += 2;
    w->rescan();
    w->attach_pending();
    w->poll_all([] {});
    w->publish([] {});
    w->enforce_budget();
  }
  std::string shed(pid_t pid) {
    ProcessEntry e;
    return table.get(pid, &e) ? e.shed : "(not in table)";
  }
};

// Every step shed or taken back over a run.
uint64_t transitions(const Node& n) {
  const AgentCounters c = n.table.counters();
  return c.shed_native_total + c.shed_window_total + c.shed_detach_total + c.recovered_total;
}

TEST(BudgetWatcher, StaysUnderItsBudgetInTheDocumentedOrderAndComesBack) {
  // 4 processes: 20 + 4 x 10 + 2 x 8 = 76 MiB of work against 50 MiB.
  Node n(50);
  n.host.procs[10] = {"/srv/a"};
  n.host.procs[11] = {"/srv/b"};
  n.host.procs[12] = {"/srv/c"};
  n.host.procs[13] = {"/srv/d"};
  n.host.procs[10].cgo = n.host.procs[12].cgo = true;
  n.host.procs[12].growing = true;  // the interesting one
  n.tick();
  ASSERT_EQ(n.host.open_watches.size(), 4u);
  EXPECT_EQ(n.table.counters().memory_bytes, 76 * kMiB) << "read before the step";

  // Native first, the process that has not grown (10) before the one that grows (12).
  EXPECT_EQ(n.host.log.native_shed[10], 1);
  EXPECT_EQ(n.host.log.native_shed[12], 0);
  EXPECT_EQ(n.shed(10), "native");
  n.tick();
  EXPECT_EQ(n.host.log.native_shed[12], 1);
  EXPECT_EQ(n.table.counters().shed_native_total, 2u);
  EXPECT_EQ(n.host.log.finished.size(), 0u) << "no process detached yet";
  // Then the window: 60 MiB of work, halved to 40 at 300 s.
  n.tick();
  EXPECT_EQ(n.table.counters().shed_window_total, 1u);
  EXPECT_DOUBLE_EQ(n.budget->window_s(), 300);
  EXPECT_EQ(n.host.self_memory(), 40 * kMiB);
  for (int i = 0; i < 10; ++i) n.tick();
  EXPECT_EQ(n.table.counters().shed_window_total, 1u) << "under the budget: nothing more";
  EXPECT_EQ(n.table.counters().shed_detach_total, 0u);
  EXPECT_LE(n.host.self_memory(), 50 * kMiB);

  // The work grows (a bigger heap in every session): window to its floor, then
  // the least growing processes go, cleanly.
  n.host.mem.per_session = 200 << 20;
  for (int i = 0; i < 12 && n.host.self_memory() > 50 * kMiB; ++i) n.tick();
  EXPECT_LE(n.host.self_memory(), 50 * kMiB);
  EXPECT_DOUBLE_EQ(n.budget->window_s(), 60);
  const uint64_t detached = n.table.counters().shed_detach_total;
  EXPECT_GE(detached, 1u);
  EXPECT_TRUE(n.w->shed(10)) << "10 grew least recently (ties: the lower PID)";
  EXPECT_EQ(n.host.log.finished[10], 1) << "detached cleanly";
  EXPECT_FALSE(n.w->shed(12)) << "the growing process is kept";
  EXPECT_TRUE(n.w->watched(12));
  EXPECT_EQ(n.shed(10), "detached");
  EXPECT_EQ(n.table.counters().memory_budget_bytes, 50 * kMiB);
  EXPECT_EQ(n.table.counters().window_s, 60);
  EXPECT_GE(n.host.released, 4) << "freed memory handed back after each step";

  // A new process while some are detached waits with them.
  n.host.procs[14] = {"/srv/e"};
  n.tick();
  EXPECT_TRUE(n.w->shed(14));
  EXPECT_EQ(n.host.log.opened[14], 0);
  EXPECT_EQ(n.shed(14), "detached");
  // A detached process that exits leaves nothing behind.
  n.host.procs[14].alive = false;
  n.w->exit_seen(14);
  EXPECT_EQ(n.shed(14), "(not in table)");

  // The work shrinks back: the steps are taken back in the reverse order, as
  // long as what each freed fits. Halving the window from 150 s freed 100 MiB
  // while every heap was 20 times larger: even scaled by how the memory fell
  // since (120 -> 28.5 MiB: 24 MiB) it would not fit under 45, so the window
  // stays at 75 s, and native tracking (the step before it) stays shed.
  n.host.mem.per_session = 1 << 20;
  const uint64_t shed_before = transitions(n) - n.table.counters().recovered_total;
  for (int i = 0; i < 2000; ++i) {
    n.tick();
    ASSERT_LE(n.host.self_memory(), 50 * kMiB) << i;
  }
  EXPECT_EQ(n.host.open_watches.size(), 4u);
  for (pid_t p : {10, 11, 13}) {
    EXPECT_TRUE(n.w->watched(p)) << p;
    EXPECT_EQ(n.shed(p), "") << p;
  }
  EXPECT_EQ(n.host.log.opened[10], 2) << "attached again";
  EXPECT_DOUBLE_EQ(n.budget->window_s(), 75);
  EXPECT_EQ(n.host.self_memory(), 28.5 * kMiB) << "20 + 4 x 1 x 75/600 + PID 10's native 8";
  EXPECT_EQ(n.budget->next_cost(), 23.75 * kMiB);
  EXPECT_EQ(n.shed(12), "native");
  EXPECT_EQ(n.table.counters().recovered_total, detached + 1);
  EXPECT_EQ(transitions(n) - n.table.counters().recovered_total, shed_before) << "no flapping";
}

TEST(BudgetWatcher, AStepThatDoesNotFitIsNotTakenBack) {
  // 20 + 10 + 25 (native) = 55 MiB against 40: without native tracking 30,
  // under 80% of the budget, but taking it back would make it 55 again.
  Node n(40);
  n.host.mem.per_native = 25 << 20;
  n.host.procs[10] = {"/srv/a"};
  n.host.procs[10].cgo = true;
  for (int i = 0; i < 2000; ++i) n.tick();  // more than 40 waits of the longest backoff
  EXPECT_EQ(transitions(n), 1u) << "shed once, never taken back";
  EXPECT_EQ(n.host.log.native_shed[10], 1);
  EXPECT_EQ(n.host.log.native_resumed[10], 0);
  EXPECT_EQ(n.host.self_memory(), 30 * kMiB);
  EXPECT_EQ(n.budget->next_cost(), 25 * kMiB);
}

TEST(BudgetWatcher, AStepThatFitsComesBack) {
  // 20 + 10 + 8 = 38 MiB against 50, until something else in the daemon
  // holds 20 MiB more for a while.
  Node n(50);
  n.host.procs[10] = {"/srv/a"};
  n.host.procs[10].cgo = true;
  for (int i = 0; i < 10; ++i) n.tick();
  EXPECT_EQ(transitions(n), 0u);
  n.host.mem.base = 40 << 20;
  for (int i = 0; i < 10; ++i) n.tick();
  EXPECT_EQ(transitions(n), 1u) << "58 MiB: native tracking shed, 50 left";
  EXPECT_EQ(n.host.log.native_shed[10], 1);
  EXPECT_EQ(n.budget->next_cost(), 8 * kMiB);
  n.host.mem.base = 20 << 20;
  for (int i = 0; i < 2000; ++i) n.tick();
  EXPECT_EQ(n.host.log.native_resumed[10], 1) << "30 + 8 x 30/50 fits under 45";
  EXPECT_EQ(transitions(n), 2u) << "shed once, taken back once";
  EXPECT_EQ(n.shed(10), "");
  EXPECT_EQ(n.host.self_memory(), 38 * kMiB);
}

TEST(BudgetWatcher, NoBudgetNoShedding) {
  FakeHost host;
  Filter filter = *Filter::compile({});
  ProcessTable table;
  Watcher w(host, filter, {}, 0.5, 600, table);
  host.mem.base = 1ull << 40;
  host.procs[10] = {"/srv/a"};
  w.rescan();
  w.attach_pending();
  w.enforce_budget();
  EXPECT_TRUE(w.watched(10));
  EXPECT_EQ(table.counters().memory_budget_bytes, 0u);
}

}  // namespace
}  // namespace leakhound::daemon
