// The report as data: filled by collect/, written by the terminal and JSON
// writers. JSON field names follow the DESIGN.md contract (leakhound.report/v1).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "detect/trend.h"
#include "util/frame.h"

namespace leakhound::report {

struct HeapFinding {
  detect::Trend trend;       // verdict, slope (bytes/s), confidence
  uint64_t inuse_bytes = 0;  // estimated (unsampled), as of the last GC
  uint64_t inuse_objects = 0;
  uint64_t alloc_bytes_window = 0;  // estimated allocations during the window
  uint64_t alloc_objects_window = 0;
  uint64_t free_bytes_window = 0;
  uint64_t free_objects_window = 0;
  std::vector<Frame> stack;           // leaf first
  std::vector<detect::Point> series;  // in-use bytes at each GC cycle seen
};

struct Target {
  int pid = 0;
  std::string exe;
  std::string go_version;
  std::string module_path;
};

struct Report {
  Target target;
  double duration_s = 0;
  uint64_t dropped_events = 0;
  uint64_t gc_cycles = 0;       // GC cycles seen during the window
  bool heap_events = false;     // --heap-events: per-sample probes were on
  uint64_t sampled_allocs = 0;  // heap samples taken during the window
  uint64_t sampled_frees = 0;
  int64_t sample_rate = 0;             // MemProfileRate in effect during the window
  int64_t original_sample_rate = 0;    // before attach
  bool sampler_enabled_by_us = false;  // we switched it on (restored on detach)
  bool read_only = false;
  bool target_exited = false;      // the process went away mid-window
  std::vector<std::string> notes;  // what could not be measured, and why
  std::vector<HeapFinding> heap;   // sorted: leaks, then growth, then size
};

// Sorts findings as the contract says: leaks first, then growing, then stable;
// within a verdict by growth (bytes/s) descending, then in-use bytes descending.
void sort_findings(Report& r);

// The order sort_findings uses (a strict weak ordering), for writers that must
// not reorder the caller's report.
bool finding_before(const HeapFinding& a, const HeapFinding& b);

}  // namespace leakhound::report
