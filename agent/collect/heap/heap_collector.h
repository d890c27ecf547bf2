// Go heap capability: outstanding sampled heap per allocation stack, from the
// runtime's memory-profile buckets (post-GC view, history since process
// start), read right after each GC cycle that the go_heap probe on
// runtime.mProf_Flush reports; with --heap-events also the profiled
// allocations and frees during the window, per bucket, as they happen.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "collect/capability.h"
#include "collect/go_target.h"
#include "collect/heap/sample_budget.h"
#include "detect/fdr.h"
#include "detect/trend.h"
#include "goruntime/buckets.h"
#include "goruntime/sampler.h"
#include "probes/go_heap_probe_cache.h"
#include "report/model.h"
#include "target/memory.h"

namespace leakhound::collect {

struct HeapOptions {
  bool read_only = false;
  // When the program's sampler is off: leakhound picks the rate from the
  // sample budget, unless `fixed_rate` (--sample-rate, or --heap-events, whose
  // per-sample probes count samples without knowing their rate) says to use
  // enable_rate throughout.
  int64_t enable_rate = goruntime::kEnableRate;
  bool fixed_rate = false;
  SampleBudget budget;
  bool sample_events = false;    // --heap-events: probe every profiled allocation and free
  uint32_t max_buckets = 65536;  // BPF map size
  detect::TrendConfig trend;
  detect::FdrConfig fdr;  // over every stack and caller judged (collect/heap/heap_verdicts.h)
  // Growth below this share of the stack's allocations in the window is churn
  // (detect::require_retention). 1%: a leaking stack in a test target keeps
  // ~100%, churning stacks ~0.03% (tests/targets/go/heapleak).
  double min_retained_fraction = 0.01;
  // The daemon's: probes shared by every process of one executable. Null: a
  // probe set of this process's own.
  probes::GoHeapProbeCache* probe_cache = nullptr;
};

// Unsamples a heap-profile count the way pprof does: each sampled object of
// average size s stands for 1 / (1 - e^(-s/rate)) objects.
struct Unsampled {
  double objects = 0, bytes = 0;
};
Unsampled unsample(double count, double bytes, int64_t rate);

// Registration (collect/session.cpp): the heap of a Go target. Required: its
// failure ends the session.
Result<std::unique_ptr<Capability>> open_heap(OpenContext& ctx, report::Report& r);

class HeapCollector final : public Capability {
 public:
  // Reads the sampler state, switches it on if needed (unless read-only),
  // attaches the probes and takes the first snapshot. Notes for the report go
  // into `r`.
  static Result<std::unique_ptr<HeapCollector>> start(const GoTarget& t,
                                                      const target::ProcessMemory& mem,
                                                      const HeapOptions& opts, report::Report& r);
  // The same over probes already in place (tests: fake GC events and a fake
  // CLOCK_MONOTONIC), the sampler in `mem` read and written as by start.
  static Result<std::unique_ptr<HeapCollector>> over(const GoTarget& t,
                                                     const target::ProcessMemory& mem,
                                                     const HeapOptions& opts,
                                                     std::shared_ptr<probes::HeapEvents> events,
                                                     std::function<int64_t()> now_ns,
                                                     report::Report& r);
  ~HeapCollector() override;

  std::string_view name() const override { return "heap"; }
  // Takes a series point, timed at the GC, when a GC cycle ended since the last poll.
  Result<void> poll() override;
  void trim(double keep_s) override;
  // Heap findings, GC and event counts over what was gathered so far.
  void contribute(report::Report& r) override;
  // The same, then the probes are detached and the sampler restored.
  void stop(report::Report& r) override;
  // Puts the sampler back now (also done by finish and the destructor).
  Result<void> restore();

 private:
  struct Group {  // buckets sharing one stack (they differ in object size)
    std::vector<uint64_t> pcs;
    std::vector<uint64_t> buckets;
    std::vector<detect::Point> series;     // unsampled in-use bytes
    std::vector<detect::Point> allocated;  // unsampled bytes allocated since first seen
    Unsampled inuse;
    double allocated_bytes = 0;
    // Time of the first point that saw one of its sampled objects freed (-1:
    // none yet); see judged_from.
    double first_free_t = -1;
  };
  using AttachFn = std::function<Result<std::shared_ptr<probes::HeapEvents>>()>;
  HeapCollector(const GoTarget& t, HeapOptions opts, std::function<int64_t()> now_ns);
  // start and over: the sampler, then the probes from `attach`, then the
  // first snapshot.
  static Result<std::unique_ptr<HeapCollector>> start_with(
      const GoTarget& t, const target::ProcessMemory& mem, const HeapOptions& opts,
      const AttachFn& attach, std::function<int64_t()> now_ns, report::Report& r);
  Result<void> snapshot(double t_s);
  double now_s() const;
  // The sample budget: measures the allocation rate and moves the sampler's
  // rate when the budget's differs enough (a new epoch).
  void run_budget();
  Result<void> switch_rate(int64_t rate, double t_s);
  std::pair<double, uint64_t> epoch_totals() const;
  // Unsampled objects with allocation ordinals (lo, hi] of one bucket.
  Unsampled unsample_bucket(uint64_t addr, uint64_t lo, uint64_t hi, double avg_size) const;
  double judged_from(const Group& g) const;  // where its judged series starts

  const GoTarget& t_;
  HeapOptions opts_;
  std::optional<goruntime::SamplerControl> sampler_;
  std::function<int64_t()> now_ns_;  // CLOCK_MONOTONIC ns (the probes' clock)
  std::shared_ptr<probes::HeapEvents> probes_;
  void release_probes();  // stops counting this process; detaches a set of its own
  std::unique_ptr<goruntime::BucketReader> reader_;
  int64_t rate_ = 0;
  bool active_ = false;                // false: sampler off and read-only, nothing to measure
  bool sampled_since_attach_ = false;  // we switched the sampler on: nothing older is sampled
  double window_from_ = 0;             // where the series start (> 0: trimmed past attach)
  uint64_t calibration_end_gc_ = 0;    // GC cycle from which calibrated_at_ is set (switch_rate)
  double calibrated_at_ = -std::numeric_limits<double>::infinity();
  uint64_t start_ns_ = 0;  // CLOCK_MONOTONIC at start: series time 0
  uint64_t gc_cycles_ = 0;
  double last_t_ = 0;
  bool have_snapshot_ = false;
  std::unordered_map<std::string, Group> groups_;  // key: raw PC bytes
  std::unordered_map<uint64_t, std::string> bucket_group_;
  // Each bucket's counters when first seen (zero for buckets born in the
  // window): the window's allocations and frees are the difference.
  std::unordered_map<uint64_t, goruntime::BucketRecord> baseline_;
  // Rates in force over the window (one, unless the budget moved it) and, per
  // bucket, its allocation count at each switch (sample_budget.h).
  std::vector<RateEpoch> epochs_;
  std::unordered_map<uint64_t, std::vector<uint64_t>> marks_;
  bool budget_on_ = false;
  bool calibrated_ = false;        // the first measure is done
  double budget_check_t_ = 0;      // when the current measure began
  double budget_epoch_bytes_ = 0;  // unsampled bytes allocated in the epoch by then
  uint64_t budget_epoch_samples_ = 0;
  double alloc_rate_ = 0;  // bytes/s, last measured
};

}  // namespace leakhound::collect
