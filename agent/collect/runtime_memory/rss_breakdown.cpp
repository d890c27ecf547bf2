#include "collect/runtime_memory/rss_breakdown.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace leakhound::collect {

double ols_slope(const std::vector<detect::Point>& s) {
  if (s.size() < 2) return 0;
  double mt = 0, mv = 0;
  for (const auto& p : s) mt += p.t_s, mv += p.value;
  mt /= static_cast<double>(s.size());
  mv /= static_cast<double>(s.size());
  double num = 0, den = 0;
  for (const auto& p : s) {
    num += (p.t_s - mt) * (p.value - mv);
    den += (p.t_s - mt) * (p.t_s - mt);
  }
  return den > 0 ? num / den : 0;
}

// The native findings' outstanding bytes summed at each poll: the slope of
// the sum, as for the other parts (per-stack Theil-Sen slopes do not add up).
// A stack has 0 before its first point (nothing of it was outstanding since
// attach) and keeps its last value after its last one.
std::vector<detect::Point> native_total(const std::vector<report::NativeFinding>& fs) {
  std::map<double, double> total;
  for (const auto& f : fs)
    for (const auto& p : f.series) total[p.t_s];
  for (const auto& f : fs) {
    size_t i = 0;
    double last = 0;
    for (auto& [t, sum] : total) {
      while (i < f.series.size() && f.series[i].t_s <= t) last = f.series[i++].value;
      sum += last;
    }
  }
  std::vector<detect::Point> out;
  out.reserve(total.size());
  for (const auto& [t, v] : total) out.push_back({t, v});
  return out;
}

void reconcile_rss(const std::vector<RuntimeMemReading>& rd, const report::Report& r,
                   report::RssBreakdown& b) {
  b.points = rd.size();
  if (rd.size() < 2) {
    b.read = false;
    if (b.why_not.empty()) b.why_not = "fewer than two readings of the runtime's statistics";
    return;
  }
  b.read = true;
  b.window_s = rd.back().t_s - rd.front().t_s;
  std::vector<detect::Point> rss, live, headroom, stacks, meta;
  b.rss_series.clear();
  b.live_series.clear();
  b.goal_series.clear();
  for (const auto& x : rd) {
    const double held = static_cast<double>(x.ms.heap_inuse + x.ms.heap_free);
    const double lv = static_cast<double>(x.ms.heap_marked);
    rss.push_back({x.t_s, static_cast<double>(x.rss)});
    live.push_back({x.t_s, lv});
    headroom.push_back({x.t_s, held - lv});
    stacks.push_back({x.t_s, static_cast<double>(x.ms.stack_inuse)});
    meta.push_back({x.t_s, static_cast<double>(x.ms.metadata)});
    b.goal_series.push_back({x.t_s, static_cast<double>(x.ms.heap_goal)});
    b.gc_cpu_series.push_back({x.t_s, x.ms.gc_cpu_fraction});
  }
  b.gc_cpu_fraction_per_s = ols_slope(b.gc_cpu_series);
  b.rss_series = rss;
  b.live_series = live;
  b.rss_per_s = ols_slope(rss);
  b.heap_live_per_s = ols_slope(live);
  b.gc_headroom_per_s = ols_slope(headroom);
  b.stacks_per_s = ols_slope(stacks);
  b.metadata_per_s = ols_slope(meta);
  b.native_tracked = r.native_stats.tracked;
  b.native_per_s = 0;
  b.native_bytes = 0;
  b.native_resident = false;
  b.native_allocator_per_s = 0;
  b.native_resident_bytes = 0;
  if (b.native_tracked) {
    b.native_per_s = ols_slope(native_total(r.native));
    b.native_bytes = r.native_stats.outstanding_bytes;
    // The allocator pays more than was asked of it: what its mappings hold
    // resident beyond the outstanding bytes (chunk overhead, free chunks it
    // keeps in its arenas, blocks from before attach).
    if (r.native_stats.resident_series.size() >= 2) {
      b.native_resident = true;
      b.native_allocator_per_s = ols_slope(r.native_stats.resident_series) - b.native_per_s;
      b.native_resident_bytes = r.native_stats.resident_bytes;
    }
  }
  const double others = b.heap_live_per_s + b.gc_headroom_per_s + b.stacks_per_s + b.native_per_s +
                        b.native_allocator_per_s;
  // The runtime counts its metadata when it maps it (persistentalloc's
  // 256 KiB chunks whole, GC bitmaps as the heap grows); it becomes resident
  // as it is touched. Its growth is an upper bound on what it adds to the
  // RSS, so it explains no more than the RSS leaves for it (a CI run: +30.7
  // KiB/s of metadata over a cgo leak whose native parts matched the RSS
  // alone, read as 114% explained).
  const double metadata = b.metadata_per_s > 0
                              ? std::clamp(b.rss_per_s - others, 0.0, b.metadata_per_s)
                              : b.metadata_per_s;
  b.unexplained_per_s = b.rss_per_s - others - metadata;
  b.explained =
      b.rss_per_s > 0 ? std::max(0.0, 1.0 - std::fabs(b.unexplained_per_s) / b.rss_per_s) : 0;

  const auto& last = rd.back();
  b.rss_bytes = last.rss;
  b.heap_live_bytes = last.ms.heap_marked;
  b.heap_inuse_bytes = last.ms.heap_inuse;
  b.heap_free_bytes = last.ms.heap_free;
  b.heap_goal_bytes = last.ms.heap_goal;
  b.stacks_bytes = last.ms.stack_inuse;
  b.metadata_bytes = last.ms.metadata;
  b.gogc = last.ms.gc_percent;
  b.gomemlimit = -1;
  if (last.ms.memory_limit && *last.ms.memory_limit < std::numeric_limits<int64_t>::max())
    b.gomemlimit = *last.ms.memory_limit;
  b.gc_cpu_fraction = last.ms.gc_cpu_fraction;

  b.top_stack.clear();
  b.top_stack_per_s = b.top_stack_share = 0;
  for (const report::HeapFinding* f : report::heap_stacks(r.heap)) {
    if (f->trend.slope_per_s > b.top_stack_per_s) {
      b.top_stack_per_s = f->trend.slope_per_s;
      b.top_stack = f->stack;
    }
  }
  if (b.rss_per_s > 0) b.top_stack_share = b.top_stack_per_s / b.rss_per_s;
}

void forecast_gomemlimit(const std::vector<RuntimeMemReading>& rd, int go_minor,
                         report::GoMemLimitForecast& f) {
  f = {};
  if (rd.empty()) return;
  const auto& last = rd.back().ms;
  if (!last.memory_limit || *last.memory_limit == std::numeric_limits<int64_t>::max() ||
      *last.memory_limit <= 0)
    return;
  f.limited = true;
  f.limit_bytes = *last.memory_limit;
  // mgcpacer.go memoryLimitHeapGoal: non-heap = mappedReady - heapFree - heapAlloc,
  // assumed to stay as it is now.
  const uint64_t used = last.heap_free + last.heap_alloc;
  f.non_heap_bytes = last.mapped_ready > used ? last.mapped_ready - used : 0;
  // The live heap at which the limit's goal equals it: no room for garbage.
  f.saturation_live_bytes =
      goruntime::memory_limit_heap_goal(go_minor, f.limit_bytes, f.non_heap_bytes, 0, 0, 0);
  const double gogc = last.gc_percent < 0 ? -1 : last.gc_percent / 100.0;
  f.bound_live_bytes =
      gogc < 0 ? 0
               : static_cast<uint64_t>(static_cast<double>(f.saturation_live_bytes) / (1 + gogc));
  f.bound_now = last.heap_goal < last.gogc_goal || gogc < 0;
  std::vector<detect::Point> live;
  live.reserve(rd.size());
  for (const auto& x : rd) live.push_back({x.t_s, static_cast<double>(x.ms.heap_marked)});
  f.live_per_s = ols_slope(live);
  const double now = static_cast<double>(last.heap_marked);
  auto eta = [&](uint64_t target) {
    const double left = static_cast<double>(target) - now;
    if (left <= 0) return 0.0;
    return f.live_per_s > 0 ? left / f.live_per_s : -1.0;
  };
  f.seconds_to_saturation = eta(f.saturation_live_bytes);
  f.seconds_to_bound = eta(f.bound_live_bytes);
  // runway = consMark x 3 x (heap + stack + globals scan work), mgcpacer.go:
  // it grows with the live heap, so its share of it carries over to the
  // spiral; the median of the readings' shares (each is one cycle's estimate).
  f.runway_bytes = last.runway;
  std::vector<double> shares;
  for (const auto& x : rd)
    if (x.ms.heap_marked > 0 && x.ms.runway > 0)
      shares.push_back(static_cast<double>(x.ms.runway) / static_cast<double>(x.ms.heap_marked));
  if (!shares.empty()) {
    auto mid = shares.begin() + static_cast<std::ptrdiff_t>(shares.size() / 2);
    std::nth_element(shares.begin(), mid, shares.end());
    f.runway_share = *mid;
  }
  // live + share x live = saturation.
  f.spiral_live_bytes =
      static_cast<uint64_t>(static_cast<double>(f.saturation_live_bytes) / (1 + f.runway_share));
  f.seconds_to_spiral = eta(f.spiral_live_bytes);
}

}  // namespace leakhound::collect
