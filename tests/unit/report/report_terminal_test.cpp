#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "report/terminal_writer.h"
#include "sample_report.h"

namespace leakhound::report {
namespace {

std::string render(const Report& r, TerminalOptions opt = {}) {
  std::ostringstream out;
  write_terminal(out, r, opt);
  return out.str();
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(TerminalReport, Header) {
  const std::string s = render(testing::sample_report());
  EXPECT_TRUE(contains(s, "pid 4242")) << s;
  EXPECT_TRUE(contains(s, "/usr/bin/app"));
  EXPECT_TRUE(contains(s, "go1.22.1"));
  EXPECT_TRUE(contains(s, "example.com/app"));
  EXPECT_TRUE(contains(s, "window 30.0 s, 61 GC cycles"));
  EXPECT_TRUE(contains(s, "2,001 sampled allocations"));
  EXPECT_TRUE(contains(s,
                       "heap sampler: off in the program; leakhound switched it on at 64 KiB for "
                       "the window and restored it"));
  EXPECT_TRUE(contains(s, "dropped events: 3"));
  EXPECT_TRUE(contains(s, "note: native allocations were not traced"));
}

TEST(TerminalReport, SamplerStates) {
  Report r = testing::sample_report();
  r.sampler_enabled_by_us = false;
  r.sample_rate = 524288;
  EXPECT_TRUE(contains(render(r), "heap sampler: on at rate 512 KiB (the program's own setting)"));
  r.sample_rate = 0;
  r.read_only = true;
  const std::string s = render(r);
  EXPECT_TRUE(contains(s, "read-only: nothing was written into the target")) << s;
  EXPECT_TRUE(contains(s, "Go heap growth was not measured"));
  r.target_exited = true;
  EXPECT_TRUE(contains(render(r), "exited during the window"));
}

TEST(TerminalReport, FindingsRankedWithUnits) {
  const std::string s = render(testing::sample_report());
  EXPECT_TRUE(contains(s, "Go heap: 2 leaks, 1 growing, 4 stacks tracked")) << s;
  const size_t first = s.find("#1");
  const size_t second = s.find("#2");
  const size_t third = s.find("#3");
  ASSERT_NE(first, std::string::npos);
  ASSERT_NE(third, std::string::npos);
  EXPECT_LT(s.find("main.fastLeak"), s.find("main.(*cache).add"));
  EXPECT_TRUE(contains(s.substr(first, second - first), "LEAK"));
  EXPECT_TRUE(contains(s.substr(first, second - first), "3.0 MiB in use"));
  EXPECT_TRUE(contains(s.substr(first, second - first), "+2.0 MiB/s"));
  EXPECT_TRUE(contains(s.substr(first, second - first), "confidence 99.9%"));
  EXPECT_TRUE(contains(s.substr(second, third - second), "12.0 MiB in use (196,608 objects)"));
  EXPECT_TRUE(contains(s.substr(second, third - second), "50.0 MiB allocated, 38.0 MiB freed"));
  EXPECT_TRUE(contains(s.substr(third), "GROWING"));
  EXPECT_TRUE(contains(s.substr(third), "+4.0 KiB/s"));
  EXPECT_FALSE(contains(s, "main.stableThing"));  // stable hidden by default
  EXPECT_TRUE(
      contains(render(testing::sample_report(), {.show_stable = true}), "main.stableThing"));
}

TEST(TerminalReport, StackLeafFirstWithRuntimeCollapsed) {
  const std::string s = render(testing::sample_report());
  const size_t at = s.find("#1");
  const std::string block = s.substr(at, s.find("#2") - at);
  // The three allocator frames on top become one line, runtime.goexit another.
  EXPECT_TRUE(contains(block, "… 3 runtime frames")) << block;
  EXPECT_TRUE(contains(block, "… 1 runtime frame\n"));
  EXPECT_FALSE(contains(block, "runtime.mallocgc"));
  EXPECT_FALSE(contains(block, "internal/runtime"));
  EXPECT_LT(block.find("… 3 runtime frames"), block.find("main.fastLeak"));
  EXPECT_LT(block.find("main.fastLeak"), block.find("main.handler"));
  EXPECT_TRUE(contains(block, "app/cache.go:42"));
  EXPECT_TRUE(contains(block, "http/server.go:2136"));
  EXPECT_FALSE(contains(block, "/src/app/cache.go"));
}

TEST(TerminalReport, StackLines) {
  const std::vector<Frame> stack = {{"runtime.mallocgc", "/r/malloc.go", 1, 0},
                                    {"runtime.newobject", "/r/malloc.go", 2, 0},
                                    {"main.a", "/x/y/z.go", 3, 0},
                                    {"internal/runtime/atomic.Load", "", 0, 0},
                                    {"main.b", "", 0, 0}};
  const std::vector<StackLine> lines = stack_lines(stack);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].collapsed, 2u);
  EXPECT_EQ(lines[1].function, "main.a");
  EXPECT_EQ(lines[1].location, "y/z.go:3");
  EXPECT_EQ(lines[2].collapsed, 1u);
  EXPECT_EQ(lines[3].location, "?");
  EXPECT_EQ(short_file("/src/app/main.go"), "app/main.go");
  EXPECT_EQ(short_file("main.go"), "main.go");
  EXPECT_EQ(short_file("/main.go"), "/main.go");
  EXPECT_FALSE(is_runtime_frame({"runtimeish.F", "", 0, 0}));
}

TEST(TerminalReport, MaxFramesAndFindings) {
  Report r = testing::sample_report();
  const std::string s = render(r, {.max_findings = 1, .max_frames = 1});
  EXPECT_TRUE(contains(s, "main.fastLeak"));
  EXPECT_FALSE(contains(s, "main.handler"));
  EXPECT_TRUE(contains(s, "… 3 more frames")) << s;  // handler, ServeHTTP, goexit
  EXPECT_FALSE(contains(s, "#2"));
  EXPECT_TRUE(contains(s, "… 2 more findings not shown"));
}

TEST(TerminalReport, NothingGrowing) {
  Report r = testing::sample_report();
  r.heap.resize(1);  // only the stable one
  r.goroutines.resize(1);
  const std::string s = render(r);
  EXPECT_TRUE(contains(s, "No growing heap stack was found in the window.")) << s;
  EXPECT_FALSE(contains(s, "#1"));
  Report empty;
  empty.target.go_version = "go1.26.8";
  EXPECT_TRUE(contains(render(empty), "No growing heap stack was found in the window."));
}

TEST(TerminalReport, NativeFindings) {
  Report r;
  r.target = {77, "/usr/bin/cprog", "", ""};
  r.duration_s = 10;
  r.native_stats.tracked = true;
  r.native_stats.allocator = "/usr/lib/x86_64-linux-gnu/libc.so.6";
  r.native_stats.calls = 30000;
  r.native_stats.cost_ns_per_call = 2000;
  r.native_stats.allocs = 10000;
  r.native_stats.frees = 9000;
  NativeFinding f;
  f.trend.verdict = detect::Verdict::Leak;
  f.trend.slope_per_s = 1024;
  f.trend.confidence = 0.999;
  f.inuse_bytes = 10240;
  f.inuse_objects = 10;
  f.oldest_age_s = 9.5;
  f.stack = {{"leaky_parse_record", "/src/libleaky.c", 17, 0x7f0000001000},
             {"main", "/src/cleak.c", 80, 0x401000}};
  r.native.push_back(f);
  const std::string s = render(r);
  // A C program: no Go sections.
  EXPECT_TRUE(contains(s, "not a Go program: native (C) allocations only")) << s;
  EXPECT_FALSE(contains(s, "Go heap")) << s;
  EXPECT_TRUE(contains(s, "Native (C) allocations: 1 leak, 0 growing, 1 stack tracked")) << s;
  // 3,000 hits/s at 2 µs each: 0.6% of a CPU.
  EXPECT_TRUE(contains(s, "30,000 probe hits (3,000/s, ~2.0 µs each (≈0.6% of a CPU))")) << s;
  EXPECT_TRUE(contains(s, "10.0 KiB outstanding (10 blocks)")) << s;
  EXPECT_TRUE(contains(s, "leaky_parse_record")) << s;
  EXPECT_TRUE(contains(s, "libleaky.c:17")) << s;
  EXPECT_FALSE(contains(s, "dropped: ")) << s;
  r.native_stats.dropped_table_full = 5;
  r.native_stats.max_allocs = 64;
  EXPECT_TRUE(contains(render(r), "dropped: 5 (5 table full at 64 blocks")) << render(r);
  r.native_stats = {};
  r.native_stats.why_not = "off (--no-native)";
  EXPECT_TRUE(contains(render(r), "Native allocations: off (--no-native)")) << render(r);
}

TEST(TerminalReport, Goroutines) {
  const std::string s = render(testing::sample_report());
  EXPECT_TRUE(contains(s,
                       "Goroutines: 1 leak, 0 growing; 1,246 live (1,242 user) from 2 creation "
                       "sites"))
      << s;
  EXPECT_TRUE(contains(s, "1,234 goroutines  +20 goroutines/s")) << s;
  EXPECT_TRUE(contains(s, "created by main.handle  app/main.go:77")) << s;
  EXPECT_TRUE(contains(s, "runs       main.handle.func1")) << s;
  EXPECT_TRUE(contains(s, "state: select (1,234); longest wait 2.1 min")) << s;
  EXPECT_TRUE(contains(s, "stack of 64 of the 64 read:")) << s;
  EXPECT_TRUE(contains(s, "main.handle.func1  app/main.go:78")) << s;
  // The stable pool is context, not a finding.
  EXPECT_TRUE(contains(s, "Largest stable sites:")) << s;
  EXPECT_TRUE(contains(s, "main.startPool  app/main.go:30  (chan receive)")) << s;
}

TEST(TerminalReport, StuckSiteWithItsAges) {
  Report r = testing::sample_report();
  GoroutineFinding& f = *std::find_if(r.goroutines.begin(), r.goroutines.end(), [](const auto& g) {
    return g.trend.verdict == detect::Verdict::Leak;
  });
  f.evidence = Evidence::Stuck;
  f.evidence_text = "stuck: all 1234 goroutines blocked on select";
  f.stuck = {300, 1234, 1200, 4, 301, 420, 900, 3600};
  const std::string s = render(r);
  EXPECT_TRUE(contains(s, "Goroutines: 1 leak (1 stuck), 0 growing")) << s;
  EXPECT_TRUE(contains(s, "STUCK  1,234 goroutines")) << s;
  EXPECT_FALSE(contains(s, "PROVEN")) << s;
  EXPECT_TRUE(contains(s, "stuck: all 1234 goroutines blocked on select")) << s;
  EXPECT_TRUE(contains(s,
                       "wait ages: min 5.0 min, median 7.0 min, p90 15.0 min, max 60.0 min; 4 "
                       "unknown"))
      << s;
}

TEST(TerminalReport, NoGoroutineSectionWhenNotRead) {
  Report r = testing::sample_report();
  r.goroutines_read = false;
  EXPECT_FALSE(contains(render(r), "Goroutines:"));
}

TEST(TerminalReport, ProcessSection) {
  const std::string s = render(testing::sample_report());
  EXPECT_TRUE(contains(s, "Process (/proc)")) << s;
  EXPECT_TRUE(contains(s, "LEAK     fds.socket         480  +40/s")) << s;
}

TEST(TerminalReport, MemoryForecast) {
  Report r = testing::sample_report();
  r.memory.read = true;
  r.memory.cgroup_version = 2;
  r.memory.cgroup = "/kubepods/pod1/app";
  r.memory.limit_cgroup = "/kubepods/pod1";
  r.memory.limited = true;
  r.memory.limit_bytes = 1ULL << 30;
  r.memory.usage_bytes = 256ULL << 20;
  r.memory.trend.slope_per_s = 64 * 1024;
  r.memory.seconds_to_limit = 3 * 3600 + 40 * 60;
  EXPECT_TRUE(contains(render(r),
                       "memory limit: 1.0 GiB (cgroup v2 /kubepods/pod1/app, set on "
                       "/kubepods/pod1), usage 256.0 MiB (25.0%); growing +64.0 KiB/s: at this "
                       "rate the limit is reached in ~3h40m"))
      << render(r);
  r.memory.seconds_to_limit = -1;
  EXPECT_TRUE(contains(render(r), "(25.0%); not growing")) << render(r);
  r.memory.limited = false;
  EXPECT_TRUE(contains(render(r),
                       "memory limit: none (cgroup v2 /kubepods/pod1/app; usage 256.0 "
                       "MiB): the process can grow until the node runs out"))
      << render(r);
  r.memory = {};
  r.memory.why_unread = "PID 1 is in no cgroup with a memory controller that is mounted here";
  EXPECT_TRUE(contains(render(r), "memory limit: unknown (PID 1 is in no cgroup"));
}

TEST(TerminalReport, ColorOnlyWhenAsked) {
  const std::string plain = render(testing::sample_report(), {.color = false});
  EXPECT_EQ(plain.find('\033'), std::string::npos);
  const std::string colored = render(testing::sample_report(), {.color = true});
  EXPECT_TRUE(contains(colored, "\033[1;31mLEAK"));
  EXPECT_TRUE(contains(colored, "\033[1;33mGROWING"));
}

TEST(TerminalReport, CallerFindingListsItsChildren) {
  Report r = testing::sample_report();
  r.heap = {testing::caller({
      testing::finding(detect::Verdict::Growing, 3 << 20, 5 << 20, "main.decodeBody"),
      testing::finding(detect::Verdict::Stable, 1 << 20, 2 << 20, "main.parseHeader"),
  })};
  r.heap_stacks_judged = 6;
  r.heap_callers_judged = 2;
  r.heap_fdr = {8, 0.05, 0.0004, 1};
  const std::string out = render(r);
  EXPECT_NE(out.find("6 stacks and 2 callers judged at once: leak at p <= 0.0004; at most 5% of "
                     "the leaks reported are expected to be false (0.05 of 1)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("in 2 stacks below one caller, judged together:"), std::string::npos) << out;
  const size_t caller = out.find("main.handler");
  const size_t child = out.find("main.decodeBody");
  ASSERT_NE(caller, std::string::npos);
  ASSERT_NE(child, std::string::npos);
  EXPECT_LT(caller, child);  // the caller's frames first, then one line per child
  EXPECT_NE(out.find("growing"), std::string::npos);
  EXPECT_NE(out.find("main.parseHeader"), std::string::npos);
}

}  // namespace
}  // namespace leakhound::report
