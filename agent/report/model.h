// The report as data: filled by collect/, written by the terminal and JSON
// writers. JSON field names follow the contract in docs/report-format.md
// (leakhound.report/v1).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detect/fdr.h"
#include "detect/trend.h"
#include "util/frame.h"

namespace leakhound::report {

// What holds a heap finding's objects (collect/retention): paths from a GC
// root to its sampled objects, grouped by the names along them.
struct RetentionPath {
  // The global ("main.sessions", or ".bss+0x1f0" when stripped), or the
  // goroutine and the frame whose stack slot holds the first object:
  // "goroutine 42 (created by main.startWorker at worker.go:31), frame main.worker".
  std::string root;
  std::string root_kind;         // "global", "goroutine", "finalizer", "cleanup"
  size_t goroutines = 0;         // goroutine roots: distinct goroutines in the group
  std::vector<std::string> via;  // the objects between the root and the object
  std::string object;            // the sampled object's name
  size_t objects = 0;            // sampled objects reached along this path
  size_t confirmed = 0;          // of those, whose every edge held on a re-read
};

struct Retention {
  size_t sampled_objects = 0;        // live sampled objects of the stack found on the heap
  size_t reached = 0;                // reached from the roots within the budget
  std::vector<RetentionPath> paths;  // most objects first (at most 3)
};

// What the retention walk covered, once per report.
struct RetentionWalk {
  bool ran = false;
  std::string why_not;  // when asked for and not run
  uint64_t heap_bytes = 0, scanned_bytes = 0, bytes_read = 0;
  size_t objects = 0;    // heap objects reached
  size_t no_layout = 0;  // of which the pointer layout was unreadable
  // Goroutine stacks as roots: scanned (not running), skipped because
  // running (their saved SP is stale), their bytes; why none were, if so.
  size_t goroutines = 0, goroutines_running = 0;
  uint64_t stack_bytes = 0;
  std::string stacks_why_not;
  size_t specials = 0;     // finalizer and cleanup specials, roots too
  size_t second_pass = 0;  // wanted objects reached only by a second walk
  double seconds = 0;
  // When it ran (unix us): from the read of the span list to the last re-read;
  // the CPU time leakhound spent on it meanwhile (its reads' copies too).
  int64_t from_us = 0, to_us = 0;
  double cpu_seconds = 0;
  // The pacing: the share of a core allowed (--retainers-cpu), and the time
  // the walk slept to keep to it.
  double cpu_share = 1, paused_seconds = 0;
  bool complete = false;  // every wanted object reached, or the heap exhausted
  std::string stopped;    // else the budget that ran out
  std::string layout_source;
};

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
  // Heap only. A caller finding (non-empty): the stacks below one function,
  // judged as one series because together they leak (collect/heap/heap_verdicts.h).
  // Its stack is the caller and its callers, the figures are its children's
  // sums, its children the stacks themselves.
  std::vector<HeapFinding> children;
  // Heap only: the runtime addresses of its memory-profile buckets (not
  // written), and what retains its objects when the walk ran.
  std::vector<uint64_t> buckets;
  std::optional<Retention> retention;
};

// C allocations (libc malloc family, anonymous mmap) of one stack still
// outstanding, made during the window (what was allocated before attach is
// not seen). Stack: C frames, then for a cgo call the Go frames that made it.
struct NativeFinding : HeapFinding {
  double oldest_age_s = -1;    // age of its oldest outstanding block at the end
  bool go_attributed = false;  // the stack ends in the Go frames of a cgo call
};

// What the native probes saw and what they cost.
struct NativeStats {
  bool tracked = false;
  std::string why_not;    // when not tracked
  std::string allocator;  // the object probed, e.g. /usr/lib/x86_64-linux-gnu/libc.so.6
  size_t probes = 0;
  bool go_attribution = false;  // cgo calls attributed to their Go frames
  std::string why_no_go;        // a Go program where that is off
  uint64_t calls = 0;           // probe hits (entries and returns)
  uint64_t allocs = 0, frees = 0;
  uint64_t frees_unknown = 0;  // of blocks allocated before attach
  uint64_t go_stacks = 0;      // allocations attributed to a goroutine
  uint64_t dropped_table_full = 0, dropped_stack = 0, dropped_go_stack = 0, dropped_pending = 0;
  uint64_t outstanding_bytes = 0, outstanding_allocs = 0;  // at the end, since attach
  // What the allocator keeps resident (collect/native/allocator_resident.h):
  // the RSS of the mappings that held an allocation, at each poll and the last.
  std::vector<detect::Point> resident_series;
  uint64_t resident_bytes = 0;
  size_t resident_mappings = 0;
  uint32_t max_allocs = 0;       // size of the outstanding table
  double cost_ns_per_call = -1;  // one probe hit, measured at attach (-1: not measured)
  // Instants (unix us) bracketing when the entry probes went in, and the read
  // of the outstanding table the figures come from: what was allocated
  // between them is what the findings count (a target's clocked counter can
  // be compared with them exactly).
  int64_t attached_from_us = 0, attached_to_us = 0;
  int64_t read_from_us = 0, read_to_us = 0;
  uint64_t dropped() const {
    return dropped_table_full + dropped_stack + dropped_go_stack + dropped_pending;
  }
};

// What a finding's verdict rests on. Trend: the statistics of its series.
// GcProof: the Go runtime's own GC found goroutines of the site blocked
// forever (status _Gleaked, Go 1.26+): a leak however few and however flat.
// Stuck: where no proof can be had, all goroutines of the site blocked on
// channels or sync objects for longer than --stuck-after and a count that
// never fell (collect/goroutines/stuck.h): a strong hint, never a proof.
enum class Evidence { Trend, GcProof, Stuck };
std::string_view to_string(Evidence e);  // "trend", "gc_proof", "stuck"

// How long the goroutines of a stuck site have been blocked, from the
// runtime's g.waitsince (a lower bound: since the first GC that saw each one
// blocked).
struct StuckEvidence {
  double threshold_s = 0;                             // --stuck-after
  uint64_t blocked = 0;                               // goroutines of the site, all blocked
  uint64_t older = 0;                                 // ... blocked longer than the threshold
  uint64_t unknown_age = 0;                           // ... not yet seen blocked by a GC cycle
  double min_s = 0, p50_s = 0, p90_s = 0, max_s = 0;  // ages of the others
};

// Goroutines of one creation site: a go statement (created_at) and the
// function it runs (entry).
// One goroutine of a creation chain: the one that ran the go statement.
struct Creator {
  uint64_t goid = 0;
  bool alive = false;        // still running at the end of the window
  Frame entry;               // its function (when alive, or its recorded stack's root)
  Frame created_at;          // where it was itself created (unknown: empty)
  std::vector<Frame> stack;  // --goroutine-ancestry: its stack at the go statement, leaf first
};

struct GoroutineFinding {
  Evidence evidence = Evidence::Trend;
  uint64_t gc_leaked = 0;     // goroutines the runtime's GC marked leaked
  std::string evidence_text;  // the proof (or the stuck hint) in words
  StuckEvidence stuck;        // with evidence Stuck
  detect::Trend trend;        // on the live count, goroutines per second
  uint64_t count = 0;         // live at the last snapshot
  uint64_t max_count = 0;
  Frame created_at;         // the go statement
  Frame entry;              // the goroutine's function
  std::string wait_reason;  // most common state: "chan receive", "select", "running", ...
  std::vector<std::pair<std::string, uint64_t>> states;  // state -> goroutines, most first
  double longest_wait_s = -1;   // longest a goroutine of the site has been blocked (-1: unknown)
  std::vector<Frame> stack;     // most common stack among them, leaf first
  uint64_t stack_share = 0;     // goroutines sampled with exactly that stack
  uint64_t stack_sampled = 0;   // goroutines whose stacks were read
  int64_t created_window = -1;  // with --goroutine-events: created during the window
  int64_t exited_window = -1;   // ... and ended during it (-1: probes off)
  bool system = false;          // the runtime's own (not counted by runtime.NumGoroutine)
  std::vector<detect::Point> series;  // live count at each snapshot
  // Who created one of its goroutines (the newest), creator first, then the
  // creator's creator...: from g.parentGoid (Go 1.21+) as far as creators
  // are alive, or from the runtime's own record (--goroutine-ancestry).
  std::vector<Creator> chain;
  std::string chain_source;  // "parent_goid", "ancestry", "" (none)
};

// A per-process resource series from /proc: open fds by kind, threads, RSS.
struct ProcessFinding {
  std::string
      metric;  // "fds", "fds.socket", "fds.file", "fds.pipe", "fds.anon", "threads", "rss_bytes"
  double value = 0;  // at the last snapshot
  detect::Trend trend;
  std::vector<detect::Point> series;
};

// The memory limit of the target's cgroup and when the current growth reaches it.
struct MemoryForecast {
  bool read = false;         // the cgroup could be read
  std::string why_unread;    // when not
  int cgroup_version = 0;    // 1 or 2
  std::string cgroup;        // the process's memory cgroup
  std::string limit_cgroup;  // where the limit is set
  bool limited = false;      // false: no limit anywhere up the hierarchy
  uint64_t limit_bytes = 0;
  uint64_t usage_bytes = 0;      // the cgroup's charge at the last poll
  detect::Trend trend;           // on the usage, bytes/s
  double seconds_to_limit = -1;  // at the current growth; -1: no limit or not growing
  std::vector<detect::Point> series;
};

// Where the RSS growth goes (collect/runtime_memory/rss_breakdown.h): the slope of the
// process's RSS over the window, split into the parts the Go runtime's own
// statistics account for (read from runtime.memstats and runtime.gcController),
// native outstanding from the native capability, and what is left.
struct RssBreakdown {
  bool read = false;    // the runtime's statistics were read at least twice
  std::string why_not;  // when not
  std::string layout;   // where the offsets came from: "DWARF", "table", ...
  double window_s = 0;
  size_t points = 0;
  // Least-squares slopes over the window, bytes/s: the parts add up to rss.
  double rss_per_s = 0;
  double heap_live_per_s = 0;    // live heap after each GC (heapMarked)
  double gc_headroom_per_s = 0;  // heap held beyond it: garbage up to the goal, free pages kept
  double stacks_per_s = 0;       // goroutine stacks in use
  double metadata_per_s = 0;     // spans, mcaches, profiling buckets, GC metadata, other
  double native_per_s = 0;       // native outstanding (the native capability, when it ran)
  // The C allocator's resident mappings less native outstanding: chunk
  // overhead, free chunks kept, blocks from before attach (when measured).
  double native_allocator_per_s = 0;
  double unexplained_per_s = 0;  // rss - the sum of the above
  bool native_tracked = false;
  bool native_resident = false;  // the allocator's mappings were measured
  // Values at the last reading, bytes.
  uint64_t rss_bytes = 0, heap_live_bytes = 0, heap_inuse_bytes = 0, heap_free_bytes = 0;
  uint64_t heap_goal_bytes = 0, stacks_bytes = 0, metadata_bytes = 0, native_bytes = 0;
  uint64_t native_resident_bytes = 0;
  int32_t gogc = 100;          // -1: off
  int64_t gomemlimit = -1;     // -1: none (or Go 1.18, which has none)
  double gc_cpu_fraction = 0;  // the runtime's GCCPUFraction (since the program started)
  // Its least-squares slope over the window, per second: the GC's share of the
  // CPU climbing is how a live heap nearing GOMEMLIMIT shows before the OOM.
  double gc_cpu_fraction_per_s = 0;
  double explained = 0;  // share of rss_per_s the parts explain (0 when RSS is flat)
  // The heap stack growing fastest and its share of the RSS growth.
  std::vector<Frame> top_stack;
  double top_stack_per_s = 0;
  double top_stack_share = 0;
  // The per-reading series (for charts and the daemon): RSS and the heap goal.
  std::vector<detect::Point> rss_series, live_series, goal_series;
  std::vector<detect::Point> gc_cpu_series;  // GCCPUFraction at each reading
};

// GOMEMLIMIT's forecast (collect/runtime_memory/rss_breakdown.h): when the live heap, at its
// fitted slope, leaves the GC no room under the limit.
struct GoMemLimitForecast {
  bool limited = false;  // GOMEMLIMIT is set (Go 1.19+)
  int64_t limit_bytes = 0;
  uint64_t non_heap_bytes = 0;  // what the runtime maps beyond the heap (stacks, metadata, free)
  uint64_t saturation_live_bytes = 0;  // live heap where the GC would run continuously
  uint64_t bound_live_bytes = 0;       // live heap from which the limit, not GOGC, sets the goal
  double live_per_s = 0;               // the live heap's fitted slope
  double seconds_to_bound = -1;        // -1: not growing, or already there (see bound)
  double seconds_to_saturation = -1;
  bool bound_now = false;  // the limit already sets the goal
  // The pacer's runway (what it expects allocated during a mark) at the last
  // reading, and its median share of the live heap over the readings.
  uint64_t runway_bytes = 0;
  double runway_share = 0;
  // Live heap from which the room under the limit's goal is no more than the
  // runway (scaled with the live heap): each cycle starts as the last ends.
  uint64_t spiral_live_bytes = 0;
  double seconds_to_spiral = -1;
};

// The Go runtime's goroutine leak detector (Go 1.26+), asked to run from
// outside (goruntime/leak_check.h).
struct GoroutineLeakCheck {
  bool available = false;      // Go 1.26+ and its flag was found
  std::string why_not;         // when it was not asked to run
  int requests = 0;            // detections leakhound asked for
  bool ran = false;            // a GC cycle took up a request in the window
  int64_t runtime_count = -1;  // goroutineLeak.count after the last detection (-1: unread)
  uint64_t proven_sites = 0, proven_goroutines = 0;
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
  int64_t sample_rate = 0;             // MemProfileRate in effect at the end of the window
  int64_t original_sample_rate = 0;    // before attach
  bool sampler_enabled_by_us = false;  // we switched it on (restored on detach)
  // The sample budget (collect/heap/sample_budget.h), when leakhound chose the rate:
  // every rate set, from when (series time, s); the allocation rate it was
  // chosen from and what sampling costs the target at it (fraction of a core).
  struct SampleRatePeriod {
    double from_s = 0;
    int64_t rate = 0;
  };
  std::vector<SampleRatePeriod> sample_rates;
  double sample_budget_per_s = 0;  // 0: a fixed rate (the program's, or --sample-rate)
  double alloc_bytes_per_s = 0;    // last measured (0: not measured)
  double sampling_cost = 0;
  bool read_only = false;
  bool target_exited = false;      // the process went away mid-window
  std::vector<std::string> notes;  // what could not be measured, and why
  std::vector<HeapFinding> heap;   // sorted: leaks, then growth, then size
  // The heap's false-discovery control: every stack and caller judged at once.
  detect::FdrResult heap_fdr;
  size_t heap_stacks_judged = 0;
  size_t heap_callers_judged = 0;
  // The slowest leak of objects smaller than the sampling rate that this
  // window would call a leak 9 times in 10 (collect/heap/sample_budget.h);
  // 0 when nothing was sampled.
  double heap_leak_floor_bytes_per_s = 0;
  // Goroutines, one finding per creation site (system sites last).
  bool goroutines_read = false;   // the allgs walk worked at least once
  bool goroutine_events = false;  // --goroutine-events: creation/exit probes were on
  // --goroutine-ancestry: the runtime kept creators' stacks (depth; 0: off).
  int32_t goroutine_ancestry = 0;
  uint64_t goroutines_total = 0;  // live at the last snapshot, system ones included
  uint64_t goroutines_user = 0;   // what runtime.NumGoroutine would say
  uint64_t goroutine_snapshots = 0;
  std::vector<GoroutineFinding> goroutines;  // sorted like heap findings, by count
  GoroutineLeakCheck leak_check;
  NativeStats native_stats;
  std::vector<NativeFinding> native;    // sorted like heap findings
  std::vector<ProcessFinding> process;  // fds and threads series
  MemoryForecast memory;
  RssBreakdown rss;
  RetentionWalk retention_walk;
  GoMemLimitForecast gomemlimit;
};

// How many findings have each verdict: the one count behind the writers'
// headlines, the JSON summary, the metrics and the daemon's watch list.
struct VerdictTally {
  size_t leak = 0;
  size_t growing = 0;
  size_t stable = 0;
  size_t flagged() const { return leak + growing; }  // leak or growing
};

template <typename Finding>
VerdictTally tally_verdicts(const std::vector<Finding>& findings) {
  VerdictTally t;
  for (const Finding& f : findings) {
    switch (f.trend.verdict) {
      case detect::Verdict::Leak:
        ++t.leak;
        break;
      case detect::Verdict::Growing:
        ++t.growing;
        break;
      case detect::Verdict::Stable:
        ++t.stable;
        break;
    }
  }
  return t;
}

// The allocation stacks of heap findings: a caller finding stands for its
// children (profiles and folded stacks list each stack once, by its own frames).
std::vector<const HeapFinding*> heap_stacks(const std::vector<HeapFinding>& findings);

// Sorts findings as the contract says: leaks first (goroutines: proven ones
// first of all), then growing, then stable;
// within a verdict by growth (bytes/s) descending, then in-use bytes descending.
void sort_findings(Report& r);

// The order sort_findings uses (a strict weak ordering), for writers that must
// not reorder the caller's report.
bool finding_before(const HeapFinding& a, const HeapFinding& b);
bool finding_before(const GoroutineFinding& a, const GoroutineFinding& b);

}  // namespace leakhound::report
