#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "report/json_writer.h"
#include "sample_report.h"

namespace leakhound::report {
namespace {

using nlohmann::json;

TEST(JsonReport, ContractTopLevel) {
  const json j = json::parse(write_json(testing::sample_report()));
  EXPECT_EQ(j.at("schema"), "leakhound.report/v1");
  EXPECT_EQ(j.at("target").at("pid"), 4242);
  EXPECT_EQ(j.at("target").at("exe"), "/usr/bin/app");
  EXPECT_EQ(j.at("target").at("go_version"), "go1.22.1");
  EXPECT_EQ(j.at("target").at("module"), "example.com/app");
  EXPECT_DOUBLE_EQ(j.at("window").at("duration_s").get<double>(), 30.0);
  EXPECT_EQ(j.at("dropped_events"), 3);
  EXPECT_TRUE(j.at("heap").is_array());
  EXPECT_EQ(j.at("heap").size(), 4u);
  EXPECT_EQ(j.at("native"), json::array());
  EXPECT_EQ(j.at("goroutines").size(), 2u);
}

TEST(JsonReport, ContractGoroutineFinding) {
  const json j = to_json(testing::sample_report());
  const json& g = j.at("goroutines").at(0);  // the leak first
  EXPECT_EQ(g.at("verdict"), "leak");
  EXPECT_EQ(g.at("count"), 1234);
  EXPECT_DOUBLE_EQ(g.at("growth_per_s").get<double>(), 20);
  EXPECT_EQ(g.at("created_at").at("function"), "main.handle");
  EXPECT_EQ(g.at("created_at").at("line"), 77);
  EXPECT_EQ(g.at("entry").at("function"), "main.handle.func1");
  EXPECT_EQ(g.at("wait_reason"), "select");
  EXPECT_EQ(g.at("stack").at(0).at("function"), "runtime.gopark");
  EXPECT_EQ(g.at("states").at("select"), 1234);
  EXPECT_DOUBLE_EQ(g.at("longest_wait_s").get<double>(), 125);
  EXPECT_EQ(g.at("system"), false);
  EXPECT_FALSE(g.contains("created_window"));  // probes were off
  EXPECT_EQ(g.at("series").size(), 3u);
  EXPECT_TRUE(g.at("trend").contains("first_half_growth_goroutines_per_s"));
  EXPECT_EQ(j.at("goroutines").at(1).at("verdict"), "stable");
  EXPECT_EQ(j.at("summary").at("goroutine_leaks"), 1);
  EXPECT_EQ(j.at("goroutine_stats").at("user"), 1242);
  EXPECT_EQ(j.at("goroutine_stats").at("events"), false);
}

TEST(JsonReport, GoroutineEventsCounts) {
  Report r = testing::sample_report();
  r.goroutines[1].created_window = 200;
  r.goroutines[1].exited_window = 3;
  const json g = to_json(r).at("goroutines").at(0);
  EXPECT_EQ(g.at("created_window"), 200);
  EXPECT_EQ(g.at("exited_window"), 3);
}

TEST(JsonReport, StuckEvidenceAndAges) {
  Report r = testing::sample_report();
  GoroutineFinding& f = *std::find_if(r.goroutines.begin(), r.goroutines.end(), [](const auto& g) {
    return g.trend.verdict == detect::Verdict::Leak;
  });
  f.evidence = Evidence::Stuck;
  f.evidence_text = "stuck: ...";
  f.stuck = {2, 5, 4, 1, 1.5, 3, 6, 9};
  const json j = to_json(r);
  const json& g = j.at("goroutines").at(0);
  EXPECT_EQ(g.at("evidence"), "stuck");
  EXPECT_EQ(g.at("evidence_text"), "stuck: ...");
  EXPECT_FALSE(g.contains("gc_leaked"));
  const json& st = g.at("stuck");
  EXPECT_EQ(st.at("threshold_s"), 2);
  EXPECT_EQ(st.at("blocked"), 5);
  EXPECT_EQ(st.at("older"), 4);
  EXPECT_EQ(st.at("unknown_age"), 1);
  EXPECT_EQ(st.at("age_s").at("p90"), 6);
  EXPECT_EQ(j.at("summary").at("goroutine_stuck"), 1);
  EXPECT_EQ(j.at("summary").at("goroutine_proven"), 0);
  EXPECT_FALSE(j.at("goroutines").at(1).contains("stuck"));
}

TEST(JsonReport, MemoryForecast) {
  Report r = testing::sample_report();
  EXPECT_EQ(to_json(r).at("memory").at("read"), false);
  r.memory.read = true;
  r.memory.cgroup_version = 1;
  r.memory.cgroup = "/app";
  r.memory.limit_cgroup = "/app";
  r.memory.limited = true;
  r.memory.limit_bytes = 1 << 30;
  r.memory.usage_bytes = 1 << 29;
  r.memory.trend.verdict = detect::Verdict::Leak;
  r.memory.trend.slope_per_s = 1 << 20;
  r.memory.seconds_to_limit = 512;
  json m = to_json(r).at("memory");
  EXPECT_EQ(m.at("limit_bytes"), 1 << 30);
  EXPECT_EQ(m.at("verdict"), "leak");
  EXPECT_DOUBLE_EQ(m.at("seconds_to_limit").get<double>(), 512);
  r.memory.limited = false;
  r.memory.seconds_to_limit = -1;
  m = to_json(r).at("memory");
  EXPECT_TRUE(m.at("limit_bytes").is_null());
  EXPECT_TRUE(m.at("seconds_to_limit").is_null());
}

TEST(JsonReport, ProcessSeries) {
  const json p = to_json(testing::sample_report()).at("process");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].at("metric"), "fds.socket");
  EXPECT_EQ(p[0].at("verdict"), "leak");
  EXPECT_DOUBLE_EQ(p[0].at("value").get<double>(), 480);
  EXPECT_DOUBLE_EQ(p[0].at("growth_per_s").get<double>(), 40);
  EXPECT_EQ(p[0].at("series").size(), 3u);
}

TEST(JsonReport, ContractFinding) {
  const json j = to_json(testing::sample_report());
  const json& f = j.at("heap").at(0);  // sorted: the 2 MiB/s leak first
  EXPECT_EQ(f.at("verdict"), "leak");
  EXPECT_EQ(f.at("inuse_bytes"), 3u << 20);
  EXPECT_EQ(f.at("inuse_objects"), (3u << 20) / 64);
  EXPECT_DOUBLE_EQ(f.at("growth_bytes_per_s").get<double>(), 2 << 20);
  const json& stack = f.at("stack");
  ASSERT_EQ(stack.size(), 7u);
  // Leaf first; every frame has exactly the contract names (plus pc when known).
  EXPECT_EQ(stack[0].at("function"), "runtime.mallocgc");
  EXPECT_EQ(stack[0].at("file"), "/usr/local/go/src/runtime/malloc.go");
  EXPECT_EQ(stack[0].at("line"), 1010);
  EXPECT_EQ(stack[0].at("pc"), "0x40a1b2");
  EXPECT_EQ(stack[3].at("function"), "main.fastLeak");
  EXPECT_FALSE(stack[4].contains("pc"));
}

TEST(JsonReport, VerdictsInContractOrder) {
  const json j = to_json(testing::sample_report());
  std::vector<std::string> verdicts;
  for (const json& f : j.at("heap")) verdicts.push_back(f.at("verdict"));
  EXPECT_EQ(verdicts, (std::vector<std::string>{"leak", "leak", "growing", "stable"}));
  EXPECT_EQ(j.at("heap").at(1).at("stack").at(3).at("function"), "main.(*cache).add");
}

TEST(JsonReport, AddedFields) {
  const json j = to_json(testing::sample_report());
  EXPECT_EQ(j.at("gc_cycles"), 61);
  EXPECT_EQ(j.at("window").at("gc_cycles"), 61);
  EXPECT_EQ(j.at("sampled_allocs"), 2001);
  EXPECT_EQ(j.at("sampled_frees"), 1960);
  EXPECT_EQ(j.at("sampler").at("rate"), 65536);
  EXPECT_EQ(j.at("sampler").at("original_rate"), 0);
  EXPECT_EQ(j.at("sampler").at("enabled_by_leakhound"), true);
  EXPECT_EQ(j.at("read_only"), false);
  EXPECT_EQ(j.at("target_exited"), false);
  EXPECT_EQ(j.at("notes"), json::array({"native allocations were not traced"}));
  EXPECT_EQ(j.at("summary").at("heap_leaks"), 2);
  EXPECT_EQ(j.at("summary").at("heap_growing"), 1);

  const json& f = j.at("heap").at(1);
  EXPECT_NEAR(f.at("confidence").get<double>(), 0.9995, 1e-12);
  EXPECT_NEAR(f.at("p_value").get<double>(), 0.0005, 1e-12);
  EXPECT_EQ(f.at("alloc_bytes_window"), 50u << 20);
  EXPECT_EQ(f.at("free_bytes_window"), 38u << 20);
  ASSERT_EQ(f.at("series").size(), 3u);
  EXPECT_EQ(f.at("series").at(2), json::array({3.0, double(12 << 20)}));
  EXPECT_EQ(f.at("trend").at("points"), 3);
}

TEST(JsonReport, DoesNotReorderTheCallersReport) {
  const Report r = testing::sample_report();
  (void)to_json(r);
  EXPECT_EQ(r.heap[0].stack[3].function, "main.stableThing");
}

TEST(JsonReport, EmptyReportIsValid) {
  const json j = json::parse(write_json(Report{}));
  EXPECT_EQ(j.at("heap"), json::array());
  EXPECT_EQ(j.at("target").at("exe"), "");
  EXPECT_EQ(j.at("target").at("pid"), 0);
}

TEST(JsonReport, NonFiniteNumbersBecomeZero) {
  Report r;
  r.duration_s = std::numeric_limits<double>::infinity();
  r.heap.push_back(testing::finding(detect::Verdict::Stable, NAN, 1, "x"));
  const std::string text = write_json(r);
  EXPECT_EQ(text.find("null"), std::string::npos);
  const json j = json::parse(text);
  EXPECT_EQ(j.at("window").at("duration_s"), 0.0);
  EXPECT_EQ(j.at("heap").at(0).at("growth_bytes_per_s"), 0.0);
}

TEST(JsonReport, EscapesStrings) {
  Report r;
  r.target.exe = "/tmp/we\"ird\\path\n";
  EXPECT_EQ(json::parse(write_json(r)).at("target").at("exe"), "/tmp/we\"ird\\path\n");
}

TEST(JsonReport, SchemaComesFirst) {
  // Keys keep the contract's order, so a human reading the JSON sees the schema first.
  const std::string text = write_json(testing::sample_report());
  EXPECT_EQ(text.rfind("{\n  \"schema\": \"leakhound.report/v1\"", 0), 0u) << text.substr(0, 80);
}

TEST(JsonReport, NativeFramesNameTheirModule) {
  const json c = frame_to_json(
      Frame{"leaky_parse_record", "/src/libleaky.c", 17, 0x7f0010, "/opt/lib/libleaky.so"});
  EXPECT_EQ(c.at("module"), "/opt/lib/libleaky.so");
  EXPECT_EQ(c.at("function"), "leaky_parse_record");
  EXPECT_FALSE(frame_to_json(Frame{"main.f", "/src/main.go", 3, 0x401000}).contains("module"));
}

TEST(JsonReport, CallerFindingWithChildren) {
  Report r = testing::sample_report();
  r.heap.push_back(testing::caller({
      testing::finding(detect::Verdict::Growing, 3 << 20, 5 << 20, "main.decodeBody"),
      testing::finding(detect::Verdict::Stable, 1 << 20, 2 << 20, "main.parseHeader"),
  }));
  r.heap_stacks_judged = 6;
  r.heap_callers_judged = 2;
  r.heap_fdr = {8, 0.05, 0.0004, 3};
  const json j = to_json(r);
  const json& f = j.at("heap").at(0);  // 4 MiB/s: the fastest leak
  EXPECT_EQ(f.at("kind"), "caller");
  EXPECT_EQ(f.at("verdict"), "leak");
  EXPECT_EQ(f.at("inuse_bytes"), 7u << 20);
  EXPECT_EQ(f.at("stack").at(0).at("function"), "main.handler");
  ASSERT_EQ(f.at("children").size(), 2u);
  EXPECT_EQ(f.at("children").at(0).at("kind"), "stack");
  EXPECT_EQ(f.at("children").at(0).at("verdict"), "growing");
  EXPECT_EQ(f.at("children").at(0).at("stack").at(3).at("function"), "main.decodeBody");
  EXPECT_FALSE(f.at("children").at(0).contains("children"));
  EXPECT_EQ(j.at("heap").at(1).at("kind"), "stack");
  EXPECT_FALSE(j.at("heap").at(1).contains("children"));
  const json& v = j.at("heap_verdicts");
  EXPECT_EQ(v.at("stacks_judged"), 6);
  EXPECT_EQ(v.at("callers_judged"), 2);
  EXPECT_DOUBLE_EQ(v.at("p_threshold").get<double>(), 0.0004);
  EXPECT_EQ(v.at("leaks"), 3);
  EXPECT_NEAR(v.at("expected_false_leaks").get<double>(), 0.15, 1e-12);
  EXPECT_NEAR(v.at("expected_false_leaks_if_none").get<double>(), 0.0032, 1e-12);
}

}  // namespace
}  // namespace leakhound::report
