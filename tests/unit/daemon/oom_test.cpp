// OOM records: the victim's entry found while watched or just retired, its
// identity checked, the records and the metric's label sets bounded.
#include "daemon/oom.h"

#include <gtest/gtest.h>

#include "daemon/metrics.h"

namespace leakhound::daemon {
namespace {

ProcessEntry entry(pid_t pid, uint64_t start, const std::string& exe, bool with_report = true) {
  ProcessEntry e;
  e.pid = pid;
  e.start_time = start;
  e.exe = exe;
  e.exe_path = "/srv/" + exe;
  e.go_version = "go1.26.0";
  e.pod.ns = "shop";
  if (with_report) {
    auto r = std::make_shared<report::Report>();
    r->target.pid = pid;
    r->memory.read = true;
    r->memory.cgroup = "/leakhound-test";
    r->memory.limited = true;
    r->memory.limit_cgroup = "/leakhound-test";
    r->memory.limit_bytes = 64 << 20;
    e.report = r;
    e.report_at = 100;
  }
  return e;
}

probes::OomKill kill(pid_t pid, uint64_t start) {
  probes::OomKill k;
  k.pid = pid;
  k.start_time = start;
  k.unix_time = 123;
  k.anon_rss_bytes = 60 << 20;
  k.constraint = probes::OomKill::Constraint::Cgroup;
  k.comm = "heapleak";
  return k;
}

void set_keep(ProcessTable& t, size_t keep) {
  OomStatus s;
  s.available = true;
  s.constraint_known = true;
  s.keep = keep;
  t.set_oom_status(s);
}

TEST(Oom, WatchedOrJustRetiredIsRecordedWithItsLastReport) {
  ProcessTable t;
  set_keep(t, 8);
  t.put(entry(10, 500, "api"));
  t.put(entry(11, 600, "worker"));
  EXPECT_TRUE(record_oom(t, kill(10, 500)));
  // The exit handled before the kill: the retired entry still has the report.
  t.retire(11, 1000);
  EXPECT_TRUE(record_oom(t, kill(11, 600)));
  auto recs = t.ooms();
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].kill.pid, 11);  // newest first
  ASSERT_TRUE(recs[0].process.report);
  EXPECT_EQ(recs[0].process.report->target.pid, 11);
  EXPECT_EQ(recs[1].process.exe, "api");
}

// The kernel's mark_victim fires for each thread of the victim that meets
// the OOM while it dies (a CI run: two events 2 ms apart): one kill.
TEST(Oom, EachProcessIsRecordedAndCountedOnce) {
  ProcessTable t;
  set_keep(t, 8);
  t.put(entry(10, 500, "api"));
  EXPECT_TRUE(record_oom(t, kill(10, 500)));
  EXPECT_FALSE(record_oom(t, kill(10, 500)));
  ASSERT_EQ(t.ooms().size(), 1u);
  ASSERT_EQ(t.oom_counts().size(), 1u);
  EXPECT_EQ(t.oom_counts()[0].kills, 1u);
  // Not kept (--oom-keep 0): still counted once.
  ProcessTable u;
  set_keep(u, 0);
  u.put(entry(10, 500, "api"));
  EXPECT_TRUE(record_oom(u, kill(10, 500)));
  EXPECT_FALSE(record_oom(u, kill(10, 500)));
  EXPECT_EQ(u.oom_counts()[0].kills, 1u);
}

TEST(Oom, AnotherProcessOrAnUnwatchedOneIsNot) {
  ProcessTable t;
  set_keep(t, 8);
  t.put(entry(10, 500, "api"));
  EXPECT_FALSE(record_oom(t, kill(10, 501)));  // the PID reused
  EXPECT_FALSE(record_oom(t, kill(12, 500)));
  EXPECT_TRUE(t.ooms().empty());
  EXPECT_TRUE(t.oom_counts().empty());
}

TEST(Oom, RetiredEntriesAreBoundedInNumberAndAge) {
  ProcessTable t;
  set_keep(t, 8);
  for (pid_t p = 1; p <= static_cast<pid_t>(ProcessTable::kRetired) + 1; ++p) {
    t.put(entry(p, 1, "x"));
    t.retire(p, 1000);
  }
  ProcessEntry e;
  EXPECT_FALSE(t.find_recent(1, 1, &e));  // the oldest went
  EXPECT_TRUE(t.find_recent(2, 1, &e));
  t.put(entry(100, 1, "y"));
  t.retire(100, 1000 + ProcessTable::kRetiredS + 1);
  EXPECT_FALSE(t.find_recent(2, 1, &e));  // too old
  EXPECT_TRUE(t.find_recent(100, 1, &e));
}

TEST(Oom, RecordsKeptAreBoundedKillsAllCounted) {
  ProcessTable t;
  set_keep(t, 2);
  for (pid_t p = 1; p <= 5; ++p) {
    t.put(entry(p, 1, "api"));
    ASSERT_TRUE(record_oom(t, kill(p, 1)));
  }
  auto recs = t.ooms();
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].kill.pid, 5);
  EXPECT_EQ(recs[1].kill.pid, 4);
  auto counts = t.oom_counts();
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0].kills, 5u);
  EXPECT_EQ(counts[0].constraint, "cgroup");
  EXPECT_EQ(counts[0].ns, "shop");
}

TEST(Oom, MetricLabelSetsAreBounded) {
  ProcessTable t;
  set_keep(t, 0);
  const size_t n = ProcessTable::kMaxOomCounts + 10;
  for (size_t i = 0; i < n; ++i) {
    t.put(entry(static_cast<pid_t>(i + 1), 1, "exe" + std::to_string(i)));
    record_oom(t, kill(static_cast<pid_t>(i + 1), 1));
  }
  auto counts = t.oom_counts();
  EXPECT_EQ(counts.size(), ProcessTable::kMaxOomCounts + 1);
  EXPECT_EQ(counts.back().exe, "(other)");
  EXPECT_EQ(counts.back().kills, 10u);
  EXPECT_TRUE(t.ooms().empty());  // --oom-keep 0: counted, nothing kept
  const std::string text = render_metrics({}, {}, {}, {}, t.oom_status(), counts);
  EXPECT_NE(text.find("leakhound_oom_kills_total{exe=\"exe0\",namespace=\"shop\",constraint="
                      "\"cgroup\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("leakhound_oom_watch_available 1"), std::string::npos);
}

TEST(Oom, Json) {
  ProcessTable t;
  set_keep(t, 4);
  t.put(entry(10, 500, "api"));
  t.put(entry(11, 500, "fresh", /*with_report=*/false));
  record_oom(t, kill(10, 500));
  record_oom(t, kill(11, 500));
  auto j = oom_list_json(t.oom_status(), t.ooms());
  EXPECT_EQ(j["available"], true);
  EXPECT_TRUE(j["reason"].is_null());
  ASSERT_EQ(j["kills"].size(), 2u);
  const auto& fresh = j["kills"][0];
  EXPECT_EQ(fresh["pid"], 11);
  EXPECT_TRUE(fresh["report"].is_null());
  EXPECT_TRUE(fresh["cgroup"].is_null());
  const auto& api = j["kills"][1];
  EXPECT_EQ(api["exe"], "/srv/api");
  EXPECT_EQ(api["constraint"], "cgroup");
  EXPECT_EQ(api["cgroup"], "/leakhound-test");
  EXPECT_EQ(api["limit_bytes"], 64 << 20);
  EXPECT_EQ(api["memory"]["anon_rss_bytes"], 60 << 20);
  EXPECT_EQ(api["time"], 123.0);
  EXPECT_EQ(api["report"]["target"]["pid"], 10);

  OomStatus off;
  off.reason = "cannot attach";
  auto none = oom_list_json(off, {});
  EXPECT_EQ(none["available"], false);
  EXPECT_EQ(none["reason"], "cannot attach");
}

}  // namespace
}  // namespace leakhound::daemon
