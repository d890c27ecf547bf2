#include "daemon/daemon.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <optional>
#include <regex>
#include <sstream>

#include "daemon/http_api.h"
#include "daemon/metrics.h"

namespace leakhound::daemon {
namespace {

TEST(ParseListen, Forms) {
  auto a = parse_listen("127.0.0.1:9464");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->first, "127.0.0.1");
  EXPECT_EQ(a->second, 9464);
  auto b = parse_listen(":9464");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->first, "0.0.0.0");
  auto c = parse_listen("[::1]:80");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->first, "::1");
  EXPECT_EQ(c->second, 80);
  for (const char* bad : {"9464", "host:", "host:x", "host:70000", "host:-1", "", "h:9464 "}) {
    auto r = parse_listen(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("--listen"), std::string::npos);
  }
}

TEST(Filter, IncludeExcludeExecutables) {
  Filters f;
  f.include_exe = {"/srv/"};
  f.exclude_exe = {"-debug$"};
  auto flt = Filter::compile(f);
  ASSERT_TRUE(flt) << flt.error().message;
  EXPECT_TRUE(flt->exe_wanted("/srv/api"));
  EXPECT_FALSE(flt->exe_wanted("/srv/api-debug"));
  EXPECT_FALSE(flt->exe_wanted("/usr/bin/other"));
  Filters none;
  auto all = Filter::compile(none);
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->exe_wanted("/anything"));
}

TEST(Filter, BadRegexIsAClearError) {
  Filters f;
  f.include_exe = {"(unclosed"};
  auto flt = Filter::compile(f);
  ASSERT_FALSE(flt);
  EXPECT_NE(flt.error().message.find("(unclosed"), std::string::npos) << flt.error().message;
}

TEST(Filter, NamespacesAndContainers) {
  Filters f;
  f.exclude_namespace = {"kube-system"};
  auto flt = Filter::compile(f);
  ASSERT_TRUE(flt);
  EXPECT_FALSE(flt->pod_wanted("kube-system", "abc"));
  EXPECT_TRUE(flt->pod_wanted("prod", "abc"));
  EXPECT_TRUE(flt->pod_wanted("", ""));  // a host process
  Filters g;
  g.include_namespace = {"prod"};
  g.include_container = {"ab"};
  auto only = Filter::compile(g);
  ASSERT_TRUE(only);
  EXPECT_TRUE(only->pod_wanted("prod", "abcdef"));
  EXPECT_FALSE(only->pod_wanted("prod", "ffff"));
  EXPECT_FALSE(only->pod_wanted("dev", "abcdef"));
  EXPECT_FALSE(only->pod_wanted("", ""));
}

report::HeapFinding heap_finding(const char* fn, detect::Verdict v, uint64_t bytes) {
  report::HeapFinding f;
  f.trend.verdict = v;
  f.trend.slope_per_s = v == detect::Verdict::Stable ? 0 : 1000;
  f.inuse_bytes = bytes;
  f.stack = {Frame{"runtime.mallocgc", "malloc.go", 1, 0x1}, Frame{fn, "main.go", 7, 0x2}};
  return f;
}

ProcessEntry entry(pid_t pid, size_t heap_findings) {
  ProcessEntry e;
  e.pid = pid;
  e.exe = "app";
  e.exe_path = "/srv/app";
  e.go_version = "go1.26.1";
  e.pod.pod = "api-7d9f\"x";  // quoted in the exposition, never breaks it
  e.pod.ns = "prod";
  auto r = std::make_shared<report::Report>();
  r->target.go_version = "go1.26.1";
  r->goroutines_read = true;
  r->goroutines_user = 42;
  for (size_t i = 0; i < heap_findings; ++i)
    r->heap.push_back(heap_finding(i == 0 ? "main.leak" : "main.other",
                                   i == 0 ? detect::Verdict::Leak : detect::Verdict::Stable,
                                   1000 * (i + 1)));
  e.report = r;
  return e;
}

TEST(Metrics, ExpositionIsGroupedLabelledAndBounded) {
  std::vector<ProcessEntry> procs = {entry(10, 12), entry(11, 2)};
  procs.push_back(ProcessEntry{});  // attached, no report yet
  procs.back().pid = 12;
  AgentCounters c;
  c.attached_total = 3;
  const std::string text = render_metrics(procs, c, AgentSelf{1.5, 1 << 20}, MetricsOptions{5, ""});
  EXPECT_NE(text.find("leakhound_processes_attached 3"), std::string::npos) << text;
  EXPECT_NE(text.find("leakhound_attach_total 3"), std::string::npos);
  // The leak verdict of the first process, with its identity labels.
  EXPECT_TRUE(std::regex_search(
      text, std::regex(R"(leakhound_leak_verdicts\{pid="10",exe="app",.*namespace="prod",)"
                       R"(kind="heap",verdict="leak"\} 1)")))
      << text;
  EXPECT_NE(text.find(R"(pod="api-7d9f\"x")"), std::string::npos);
  EXPECT_NE(text.find("leakhound_goroutines{pid=\"10\""), std::string::npos);
  // Top-K: 5 ranks for the process with 12 stacks, 2 for the other.
  auto count = [&](const std::string& needle) {
    size_t n = 0;
    for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("leakhound_top_stack_inuse_bytes{pid=\"10\""), 5u);
  EXPECT_EQ(count("leakhound_top_stack_inuse_bytes{pid=\"11\""), 2u);
  EXPECT_NE(text.find("function=\"main.leak\",verdict=\"leak\""), std::string::npos);
  // One HELP/TYPE block per family, whatever the number of processes.
  EXPECT_EQ(count("# TYPE leakhound_leak_verdicts gauge"), 1u);
  // The process without a report still has its info series.
  EXPECT_NE(text.find("leakhound_process_info{pid=\"12\""), std::string::npos);
  // Outside Kubernetes no node label; no cgroup read, no memory series.
  EXPECT_EQ(text.find("node="), std::string::npos);
  EXPECT_EQ(text.find("leakhound_memory_"), std::string::npos);
}

report::GoroutineFinding site(const char* fn, int line, uint64_t count, bool system = false) {
  report::GoroutineFinding f;
  f.created_at = Frame{fn, "/src/app/main.go", line, 0x1};
  f.entry = Frame{"main.worker", "/src/app/main.go", 9, 0x2};
  f.count = count;
  f.system = system;
  return f;
}

TEST(Metrics, GoroutineSitesMemoryForecastAndNode) {
  ProcessEntry e = entry(10, 1);
  auto r = std::make_shared<report::Report>(*e.report);
  r->goroutines = {site("main.leaky", 20, 900), site("runtime.gcenable", 3, 2, true),
                   site("main.serve", 30, 40),  site("main.leaky", 20, 100),
                   site("main.a", 1, 5),        site("main.b", 2, 4),
                   site("main.c", 3, 3),        site("main.d", 4, 2)};
  r->memory.read = true;
  r->memory.limited = true;
  r->memory.limit_bytes = 1 << 30;
  r->memory.usage_bytes = 1 << 29;
  r->memory.seconds_to_limit = 128;
  e.report = r;
  ProcessEntry flat = entry(11, 1);  // in a cgroup without a limit
  auto rf = std::make_shared<report::Report>(*flat.report);
  rf->memory.read = true;
  rf->memory.usage_bytes = 4096;
  flat.report = rf;
  const std::string text =
      render_metrics({e, flat}, AgentCounters{}, AgentSelf{}, MetricsOptions{3, "node-a"});
  auto lines = [&](const std::string& prefix) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);)
      if (l.starts_with(prefix)) out.push_back(l);
    return out;
  };
  // Top 3 user sites; one go statement's findings summed under one label.
  auto sites = lines("leakhound_goroutines_by_site{pid=\"10\"");
  ASSERT_EQ(sites.size(), 3u) << text;
  EXPECT_TRUE(sites[0].ends_with(R"x(site="main.leaky (app/main.go:20)",node="node-a"} 1000)x"))
      << sites[0];
  EXPECT_NE(sites[1].find(R"x(site="main.serve (app/main.go:30)")x"), std::string::npos);
  EXPECT_EQ(text.find("runtime.gcenable"), std::string::npos);
  EXPECT_EQ(goroutine_site_label(r->goroutines[0]), "main.leaky (app/main.go:20)");
  // The forecast and the limit only where they exist; usage wherever read.
  ASSERT_EQ(lines("leakhound_memory_limit_forecast_seconds{pid=\"10\"").size(), 1u);
  EXPECT_TRUE(lines("leakhound_memory_limit_forecast_seconds{pid=\"11\"").empty());
  EXPECT_TRUE(lines("leakhound_memory_cgroup_limit_bytes{pid=\"11\"").empty());
  EXPECT_EQ(lines("leakhound_memory_cgroup_usage_bytes{").size(), 2u);
  EXPECT_TRUE(lines("leakhound_memory_limit_forecast_seconds{pid=\"10\"")[0].ends_with(
      R"(node="node-a"} 128)"));
  // The node on every series, agent-wide ones included.
  std::istringstream in(text);
  size_t series = 0;
  for (std::string l; std::getline(in, l);) {
    if (l.empty() || l[0] == '#') continue;
    ++series;
    EXPECT_NE(l.find(R"(node="node-a")"), std::string::npos) << l;
  }
  EXPECT_GT(series, 20u);
}

TEST(Metrics, RssBreakdownPartsAndGoMemLimitForecast) {
  ProcessEntry e = entry(10, 1);
  auto r = std::make_shared<report::Report>(*e.report);
  r->rss.read = true;
  r->rss.rss_per_s = 2048;
  r->rss.heap_live_per_s = 512;
  r->rss.gc_headroom_per_s = 512;
  r->rss.stacks_per_s = 256;
  r->rss.metadata_per_s = 64;
  r->rss.native_tracked = true;
  r->rss.native_per_s = 500;
  r->rss.native_resident = true;
  r->rss.native_allocator_per_s = 150;
  r->rss.unexplained_per_s = 54;
  r->rss.explained = 0.998;
  r->gomemlimit.limited = true;
  r->gomemlimit.seconds_to_spiral = 600;
  e.report = r;
  ProcessEntry go_only = entry(11, 1);  // no native tracking, no GOMEMLIMIT
  auto g = std::make_shared<report::Report>(*go_only.report);
  g->rss.read = true;
  g->rss.rss_per_s = 100;
  g->rss.stacks_per_s = 90;
  g->rss.unexplained_per_s = 10;
  g->rss.explained = 0.9;
  go_only.report = g;
  const std::string text =
      render_metrics({e, go_only, entry(12, 1)}, AgentCounters{}, AgentSelf{}, MetricsOptions{});
  auto value = [&](const std::string& prefix) -> std::optional<double> {
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);)
      if (l.starts_with(prefix)) return std::stod(l.substr(l.rfind(' ') + 1));
    return std::nullopt;
  };
  auto part = [&](int pid, const char* p) {
    return value(fmt::format("leakhound_rss_growth_bytes_per_second{{pid=\"{}\"", pid) +
                 R"(,exe="app",container_id="",pod_uid="",pod="api-7d9f\"x",namespace="prod",)" +
                 fmt::format("part=\"{}\"}}", p));
  };
  // Every part, each the report's; they add up to part="rss".
  EXPECT_EQ(part(10, "rss"), 2048) << text;
  double sum = 0;
  for (const char* p : {"heap_live", "gc_headroom", "stacks", "runtime_metadata", "native",
                        "native_allocator", "unexplained"}) {
    ASSERT_TRUE(part(10, p)) << p << "\n" << text;
    sum += *part(10, p);
  }
  EXPECT_EQ(sum, 2048);
  EXPECT_EQ(part(10, "native_allocator"), 150);
  EXPECT_EQ(value("leakhound_rss_explained_ratio{pid=\"10\""), 0.998);
  EXPECT_EQ(value("leakhound_gomemlimit_forecast_seconds{pid=\"10\""), 600);
  // Parts not measured are absent, not 0; no forecast without GOMEMLIMIT;
  // nothing for a process whose runtime statistics were not read.
  EXPECT_EQ(part(11, "stacks"), 90);
  EXPECT_FALSE(part(11, "native"));
  EXPECT_FALSE(part(11, "native_allocator"));
  EXPECT_FALSE(value("leakhound_gomemlimit_forecast_seconds{pid=\"11\""));
  EXPECT_FALSE(value("leakhound_rss_growth_bytes_per_second{pid=\"12\""));
  EXPECT_FALSE(value("leakhound_rss_explained_ratio{pid=\"12\""));
}

TEST(Metrics, MemoryBudgetAndWhatItShed) {
  std::vector<ProcessEntry> procs = {entry(10, 1), entry(11, 1), ProcessEntry{}};
  procs[1].shed = "native";
  procs[2].pid = 12;
  procs[2].shed = "detached";  // listed by the API, not watched
  AgentCounters c;
  EXPECT_EQ(render_metrics(procs, c, AgentSelf{}, MetricsOptions{}).find("leakhound_agent_memory"),
            std::string::npos)
      << "no budget, no budget series";
  c.memory_bytes = 100 << 20;
  c.memory_budget_bytes = 96 << 20;
  c.window_s = 300;
  c.shed_native_total = 1;
  c.shed_window_total = 1;
  c.shed_detach_total = 1;
  const std::string text = render_metrics(procs, c, AgentSelf{}, MetricsOptions{});
  for (const char* want :
       {"leakhound_processes_attached 2", "leakhound_agent_memory_bytes 104857600",
        "leakhound_agent_memory_budget_bytes 100663296", "leakhound_agent_window_seconds 300",
        "leakhound_shed_total{reason=\"native\"} 1", "leakhound_shed_total{reason=\"window\"} 1",
        "leakhound_shed_total{reason=\"detach\"} 1", "leakhound_shed_recovered_total 0",
        "leakhound_processes_shed{kind=\"native\"} 1",
        "leakhound_processes_shed{kind=\"detached\"} 1"})
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  EXPECT_EQ(text.find("pid=\"12\""), std::string::npos) << "a detached process has no series";
}

TEST(Metrics, ProvenGoroutineLeaksPerSiteTopK) {
  ProcessEntry e = entry(20, 0);
  auto r = std::make_shared<report::Report>(*e.report);
  for (uint64_t i = 0; i < 8; ++i) {
    report::GoroutineFinding f;
    f.count = 100;
    f.created_at = Frame{fmt::format("main.start{}", i), "/src/app/main.go", 10 + int(i), 0x10};
    f.entry = Frame{"main.worker", "/src/app/main.go", 3, 0x20};
    if (i % 2 == 0) {  // 4 proven sites, the others a trend only
      f.evidence = report::Evidence::GcProof;
      f.gc_leaked = i + 1;
      f.trend.verdict = detect::Verdict::Leak;
    }
    r->goroutines.push_back(f);
  }
  e.report = r;
  const std::string text = render_metrics({e}, {}, {}, MetricsOptions{.top_k = 3});
  auto count = [&](const std::string& needle) {
    size_t n = 0;
    for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
    return n;
  };
  // Top 3 of the 4 proven sites, the most leaked first; never a trend-only one.
  EXPECT_EQ(count("leakhound_goroutines_leaked{pid=\"20\""), 3u) << text;
  EXPECT_NE(text.find(R"x(site="main.start6 (app/main.go:16)",function="main.worker"} 7)x"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"x(site="main.start2 (app/main.go:12)",function="main.worker"} 3)x"),
            std::string::npos);
  // Neither the 4th proven site nor a trend-only one.
  std::istringstream lines(text);
  for (std::string l; std::getline(lines, l);) {
    if (!l.starts_with("leakhound_goroutines_leaked{")) continue;
    for (const char* site : {"\"main.start0 ", "\"main.start1 "}) {
      EXPECT_EQ(l.find(site), std::string::npos) << l;
    }
  }
}

}  // namespace
}  // namespace leakhound::daemon
