// The heap sampler's rate when leakhound switches it on: chosen from the
// target's measured allocation rate so that it takes a bounded number of
// samples per second, instead of one fixed rate that starves a 10 MB/s service
// of samples and costs a GB/s one several percent. Pure policy, no I/O.
#pragma once

#include <cstdint>
#include <vector>

namespace leakhound::collect {

// What one sampled allocation costs the target inside the runtime (a stack
// walk and a profile record under a lock): ~4-5 µs, from bench/go_alloc_overhead
// (3% of one core at ~7,000 samples/s; docs/benchmarks.md). Rounded up.
inline constexpr double kSampleCostS = 5e-6;

struct SampleBudget {
  // Samples per second aimed at: 1,000 x 5 µs = 0.5% of one core.
  double samples_per_s = 1000;
  int64_t min_rate = 4096;  // bounds the number of records in a quiet program
  int64_t max_rate = int64_t{64} << 20;
  // Rate used to measure the allocation rate before the budget's is known:
  // the runtime's own default.
  int64_t calibration_rate = 512 * 1024;
  double calibration_s = 1.0;         // at least this long ...
  uint64_t calibration_samples = 50;  // ... and this many samples, or
  double calibration_max_s = 5.0;     // this long, whichever comes first
  double recheck_s = 10.0;            // how often the allocation rate is re-measured
  double retune_factor = 4.0;         // the budget's rate must differ this much to switch
};

// The finest rate (a whole KiB, within [min_rate, max_rate]) at which an
// allocation rate of `alloc_bytes_per_s` gives at most the budget's samples.
int64_t budget_rate(double alloc_bytes_per_s, const SampleBudget& b);

// Whether the rate in force should give way to `wanted` (hysteresis: a
// fluctuating allocation rate must not rewrite the target's rate each check).
bool should_retune(int64_t current, int64_t wanted, const SampleBudget& b);

// Fraction of one core the runtime spends sampling at `rate` when the program
// allocates `alloc_bytes_per_s`.
double sampling_cost(double alloc_bytes_per_s, int64_t rate);

// One period of a sampling rate. Sampled objects keep the rate in force when
// they were taken; the runtime's records do not, so the heap capability keeps
// the history and, per bucket, the allocation count at each switch.
struct RateEpoch {
  double from_s = 0;  // series time the rate was set at
  int64_t rate = 0;
};

// The slowest leak of small objects (below the rate) that a window judged
// from `from_s` to `to_s` under `epochs` would call a leak 9 times in 10:
// detect::kSamplesForLeak over the time each rate was in force divided by
// the rate. 0 when nothing was sampled in the span.
double leak_floor_bytes_per_s(const std::vector<RateEpoch>& epochs, double from_s, double to_s);

// Unsamples the sampled objects with allocation ordinals (lo, hi] of one
// bucket (objects of `avg_size` bytes; ordinal k is its k-th sampled
// allocation). marks[i] is the bucket's allocation count when epochs[i+1]
// began, so ordinals up to marks[0] were taken at epochs[0].rate, and so on.
// Frees carry no ordinal: the runtime frees a bucket's sampled objects in no
// known order, and the caller treats them as oldest first (exact for a stack
// that never frees, and for short-lived objects once they have turned over).
struct UnsampledRange {
  double objects = 0, bytes = 0;
};
UnsampledRange unsample_range(uint64_t lo, uint64_t hi, double avg_size,
                              const std::vector<uint64_t>& marks,
                              const std::vector<RateEpoch>& epochs);

}  // namespace leakhound::collect
