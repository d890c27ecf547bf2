// Writes the HTML page of a large synthetic report for bench/html_page/run.py:
// 10,000 Go heap stacks (200 of them leaking), 200 goroutine sites, the
// process series and a memory limit, each series 120 points (a 10 min daemon
// window at a 5 s GC pace).
#include <fmt/format.h>

#include <cstdio>
#include <random>

#include "report/folded_writer.h"
#include "report/html_writer.h"

using namespace leakhound;

namespace {

std::vector<detect::Point> series(std::mt19937& rng, double base, double slope) {
  std::normal_distribution<double> noise(0, base * 0.02 + 1);
  std::vector<detect::Point> s;
  for (int i = 0; i < 120; ++i) {
    s.push_back({i * 5.0, std::max(0.0, base + slope * i * 5.0 + noise(rng))});
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT.html\n", argv[0]);
    return 2;
  }
  std::mt19937 rng(42);
  report::Report r;
  r.target = {4242, "/srv/bin/api-gateway", "go1.26.8", "example.com/gateway"};
  r.duration_s = 600;
  r.gc_cycles = 120;
  r.sample_rate = 524288;
  r.goroutines_read = true;
  for (int i = 0; i < 10000; ++i) {
    report::HeapFinding f;
    const bool leak = i < 200;
    f.trend.verdict = leak ? detect::Verdict::Leak : detect::Verdict::Stable;
    f.trend.slope_per_s = leak ? 1000.0 * (200 - i) : 0;
    f.trend.confidence = leak ? 0.9999 : 0.3;
    f.inuse_bytes = leak ? 600000 * (200 - i) : 10000 + 37 * (i % 1000);
    f.inuse_objects = f.inuse_bytes / 64;
    f.stack = {{"runtime.mallocgc", "runtime/malloc.go", 1010, 0},
               {fmt::format("example.com/gateway/store.(*T{}).alloc", i % 700), "store.go",
                100 + i % 50, 0},
               {fmt::format("example.com/gateway/store.load{}", i % 300), "store.go", 40, 0},
               {fmt::format("example.com/gateway/api.handler{}", i % 100), "api.go", 20, 0},
               {"net/http.HandlerFunc.ServeHTTP", "net/http/server.go", 2136, 0},
               {"net/http.(*conn).serve", "net/http/server.go", 2000, 0},
               {"runtime.goexit", "runtime/asm_amd64.s", 1650, 0}};
    f.stack[1].function += fmt::format(".l{}", i);  // 10,000 distinct leaves
    f.series = series(rng, static_cast<double>(f.inuse_bytes) / 2, f.trend.slope_per_s);
    r.heap.push_back(std::move(f));
  }
  for (int i = 0; i < 200; ++i) {
    report::GoroutineFinding g;
    g.trend.verdict = i < 20 ? detect::Verdict::Leak : detect::Verdict::Stable;
    g.trend.slope_per_s = i < 20 ? 2 : 0;
    g.count = 10 + i;
    g.created_at = {fmt::format("example.com/gateway/api.spawn{}", i), "api.go", 70, 0};
    g.entry = {fmt::format("example.com/gateway/api.spawn{}.func1", i), "api.go", 71, 0};
    g.wait_reason = "chan receive";
    g.stack = {{"runtime.gopark", "", 0, 0}, {"runtime.chanrecv", "", 0, 0}, g.entry};
    g.series = series(rng, g.count, g.trend.slope_per_s);
    r.goroutines.push_back(std::move(g));
  }
  for (const char* m :
       {"fds", "fds.socket", "fds.file", "fds.pipe", "fds.anon", "threads", "rss_bytes"}) {
    report::ProcessFinding p;
    p.metric = m;
    p.series = series(rng, 100, 0.1);
    p.value = p.series.back().value;
    r.process.push_back(std::move(p));
  }
  r.memory.read = true;
  r.memory.limited = true;
  r.memory.limit_bytes = 4ull << 30;
  r.memory.usage_bytes = 3ull << 30;
  r.memory.trend.slope_per_s = 1 << 20;
  r.memory.seconds_to_limit = 1024;
  r.memory.series = series(rng, 2.4 * (1 << 30), 1 << 20);
  report::sort_findings(r);
  if (auto w = report::write_text_file(argv[1], report::write_html(r)); !w) {
    std::fprintf(stderr, "%s\n", w.error().message.c_str());
    return 1;
  }
  return 0;
}
