// A report as collect/ would fill it, shared by the report writer tests.
#pragma once

#include "report/model.h"

namespace leakhound::report::testing {

inline HeapFinding finding(detect::Verdict v, double slope, uint64_t inuse, std::string leaf) {
  HeapFinding f;
  f.trend.verdict = v;
  f.trend.slope_per_s = slope;
  f.trend.confidence = v == detect::Verdict::Leak ? 0.9995 : 0.95;
  f.trend.p_value = 1 - f.trend.confidence;
  f.trend.n = 3;
  f.inuse_bytes = inuse;
  f.inuse_objects = inuse / 64;
  f.stack = {
      {"runtime.mallocgc", "/usr/local/go/src/runtime/malloc.go", 1010, 0x40a1b2},
      {"internal/runtime/maps.newarray", "/usr/local/go/src/internal/runtime/maps/map.go", 20, 0},
      {"runtime.makeslice", "/usr/local/go/src/runtime/slice.go", 103, 0},
      {leaf, "/src/app/cache.go", 42, 0x4a1b2c},
      {"main.handler", "/src/app/main.go", 88, 0},
      {"net/http.HandlerFunc.ServeHTTP", "/usr/local/go/src/net/http/server.go", 2136, 0},
      {"runtime.goexit", "/usr/local/go/src/runtime/asm_amd64.s", 1650, 0},
  };
  f.series = {{0, double(inuse) / 2}, {1.5, double(inuse) * 0.75}, {3, double(inuse)}};
  return f;
}

// A leak split over two stacks under main.handler (as collect/heap/heap_verdicts
// makes it): the caller's frames, the children's sums, the children inside.
inline HeapFinding caller(std::vector<HeapFinding> children) {
  HeapFinding f;
  f.trend.verdict = detect::Verdict::Leak;
  f.trend.confidence = 0.9999;
  f.trend.p_value = 0.0001;
  f.trend.n = 3;
  for (const HeapFinding& c : children) {
    f.inuse_bytes += c.inuse_bytes;
    f.inuse_objects += c.inuse_objects;
    f.trend.slope_per_s += c.trend.slope_per_s;
  }
  f.stack.assign(children.front().stack.end() - 3, children.front().stack.end());
  f.series = {{0, 1}, {1.5, 2}, {3, 3}};
  f.children = std::move(children);
  return f;
}

inline GoroutineFinding goroutine(detect::Verdict v, double slope, uint64_t count,
                                  std::string creator, int line, std::string reason) {
  GoroutineFinding f;
  f.trend.verdict = v;
  f.trend.slope_per_s = slope;
  f.trend.confidence = v == detect::Verdict::Leak ? 0.9995 : 0.5;
  f.trend.n = 3;
  f.count = count;
  f.max_count = count;
  f.created_at = {creator, "/src/app/main.go", line, 0x4a0010};
  f.entry = {creator + ".func1", "/src/app/main.go", line, 0x4a0100};
  f.wait_reason = reason;
  f.states = {{reason, count}};
  f.longest_wait_s = 125;
  f.stack = {
      {"runtime.gopark", "/usr/local/go/src/runtime/proc.go", 425, 0x43a000},
      {"runtime.chanrecv", "/usr/local/go/src/runtime/chan.go", 664, 0x405000},
      {creator + ".func1", "/src/app/main.go", line + 1, 0x4a0120},
      {"runtime.goexit", "/usr/local/go/src/runtime/asm_amd64.s", 1700, 0x470000},
  };
  f.stack_share = std::min<uint64_t>(count, 64);
  f.stack_sampled = std::min<uint64_t>(count, 64);
  f.series = {{0, double(count) / 2}, {1.5, double(count) * 0.75}, {3, double(count)}};
  return f;
}

inline Report sample_report() {
  Report r;
  r.target = {4242, "/usr/bin/app", "go1.22.1", "example.com/app"};
  r.duration_s = 30;
  r.dropped_events = 3;
  r.gc_cycles = 61;
  r.sampled_allocs = 2001;
  r.sampled_frees = 1960;
  r.sample_rate = 65536;
  r.original_sample_rate = 0;
  r.sampler_enabled_by_us = true;
  r.notes = {"native allocations were not traced"};
  // Deliberately out of contract order.
  r.heap = {
      finding(detect::Verdict::Stable, 0, 900 << 20, "main.stableThing"),
      finding(detect::Verdict::Growing, 4096, 1 << 20, "main.slowGrow"),
      finding(detect::Verdict::Leak, 1 << 20, 12 << 20, "main.(*cache).add"),
      finding(detect::Verdict::Leak, 2 << 20, 3 << 20, "main.fastLeak"),
  };
  r.heap[2].alloc_bytes_window = 50 << 20;
  r.heap[2].free_bytes_window = 38 << 20;
  r.goroutines_read = true;
  r.goroutine_snapshots = 7;
  r.goroutines = {
      goroutine(detect::Verdict::Stable, 0, 8, "main.startPool", 30, "chan receive"),
      goroutine(detect::Verdict::Leak, 20, 1234, "main.handle", 77, "select"),
  };
  r.goroutines_total = 1242 + 4;
  r.goroutines_user = 1242;
  ProcessFinding fds;
  fds.metric = "fds.socket";
  fds.value = 480;
  fds.trend.verdict = detect::Verdict::Leak;
  fds.trend.slope_per_s = 40;
  fds.series = {{0, 80}, {5, 280}, {10, 480}};
  r.process = {fds};
  return r;
}

}  // namespace leakhound::report::testing
