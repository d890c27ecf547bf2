#include "collect/heap/sample_budget.h"

#include <algorithm>
#include <cmath>

#include "detect/trend.h"

namespace leakhound::collect {

int64_t budget_rate(double alloc_bytes_per_s, const SampleBudget& b) {
  if (!(alloc_bytes_per_s > 0) || !(b.samples_per_s > 0)) return b.min_rate;
  const double want = alloc_bytes_per_s / b.samples_per_s;
  if (!(want < static_cast<double>(b.max_rate))) return b.max_rate;
  // `want` rounded up to a whole KiB: at most the budget, and all of it. (A
  // power of two, as first chosen, left 30% of the budget unused on average
  // and up to half: 10 MB/s got 16 KiB, ~610 samples/s.)
  const int64_t rate = (static_cast<int64_t>(std::ceil(want)) + 1023) / 1024 * 1024;
  return std::clamp(rate, b.min_rate, b.max_rate);
}

bool should_retune(int64_t current, int64_t wanted, const SampleBudget& b) {
  if (current <= 0 || wanted <= 0) return false;
  const double ratio = static_cast<double>(std::max(current, wanted)) /
                       static_cast<double>(std::min(current, wanted));
  return ratio >= b.retune_factor;
}

double sampling_cost(double alloc_bytes_per_s, int64_t rate) {
  if (rate <= 0 || !(alloc_bytes_per_s > 0)) return 0;
  return alloc_bytes_per_s / static_cast<double>(rate) * kSampleCostS;
}

UnsampledRange unsample_range(uint64_t lo, uint64_t hi, double avg_size,
                              const std::vector<uint64_t>& marks,
                              const std::vector<RateEpoch>& epochs) {
  UnsampledRange out;
  if (hi <= lo || epochs.empty() || !(avg_size > 0)) return out;
  uint64_t begin = 0;  // ordinals (begin, end] belong to epoch i
  for (size_t i = 0; i < epochs.size(); i++) {
    const bool last = i + 1 == epochs.size() || i >= marks.size();
    const uint64_t end = last ? UINT64_MAX : std::max(marks[i], begin);
    const uint64_t a = std::max(lo, begin), z = std::min(hi, end);
    if (z > a) {
      const double n = static_cast<double>(z - a);
      const int64_t rate = epochs[i].rate;
      const double scale =
          rate <= 1 ? 1 : 1 / (1 - std::exp(-avg_size / static_cast<double>(rate)));
      out.objects += n * scale;
      out.bytes += n * avg_size * scale;
    }
    if (last) break;
    begin = end;
  }
  return out;
}

double leak_floor_bytes_per_s(const std::vector<RateEpoch>& epochs, double from_s, double to_s) {
  // Samples per leaked byte/s: the sum over the span of dt / rate.
  double per_bps = 0;
  for (size_t i = 0; i < epochs.size(); ++i) {
    const double a = std::max(epochs[i].from_s, from_s);
    const double b = std::min(i + 1 < epochs.size() ? epochs[i + 1].from_s : to_s, to_s);
    if (b > a && epochs[i].rate > 0) per_bps += (b - a) / static_cast<double>(epochs[i].rate);
  }
  return per_bps > 0 ? detect::kSamplesForLeak / per_bps : 0;
}

}  // namespace leakhound::collect
