#include "collect/heap/heap_collector.h"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "collect/heap/heap_verdicts.h"
#include "collect/session.h"
#include "util/clock.h"
#include "util/log.h"

namespace leakhound::collect {

Unsampled unsample(double count, double bytes, int64_t rate) {
  if (count <= 0 || bytes <= 0) return {};
  if (rate <= 1) return {count, bytes};
  double avg = bytes / count;
  double scale = 1 / (1 - std::exp(-avg / static_cast<double>(rate)));
  return {count * scale, bytes * scale};
}

HeapCollector::HeapCollector(const GoTarget& t, HeapOptions opts, std::function<int64_t()> now_ns)
    : t_(t), opts_(opts), now_ns_(std::move(now_ns)) {}

HeapCollector::~HeapCollector() {
  release_probes();  // detach before the sampler is restored
}

void HeapCollector::release_probes() {
  if (probes_ && opts_.probe_cache) probes_->forget(static_cast<uint32_t>(t_.proc.pid()));
  probes_.reset();
}

Result<std::unique_ptr<HeapCollector>> HeapCollector::start(const GoTarget& t,
                                                            const target::ProcessMemory& mem,
                                                            const HeapOptions& opts,
                                                            report::Report& r) {
  const auto& s = t.syms;
  auto attach = [&]() -> Result<std::shared_ptr<probes::HeapEvents>> {
    // Offsets into the executable file, where uprobes attach.
    auto file_offset = [&](uint64_t addr) -> Result<uint64_t> {
      if (addr == 0) return uint64_t{0};
      return t.elf.vaddr_to_offset(addr);
    };
    auto off_flush = file_offset(s.fn_mprof_flush);
    auto off_spb = file_offset(opts.sample_events ? s.fn_setprofilebucket : 0);
    auto off_free = file_offset(opts.sample_events ? s.fn_mprof_free : 0);
    if (!off_flush || !off_spb || !off_free)
      return make_error("PID {}: cannot map probe addresses to the file", t.proc.pid());
    probes::GoHeapConfig pc{t.proc.exe_link(), t.proc.pid(),       *off_flush,      *off_spb,
                            *off_free,         opts.sample_events, opts.max_buckets};
    // Shared per file; an executable that could not be stat'ed gets its own set.
    if (opts.probe_cache && t.proc.exe_ino() != 0) {
      auto shared = opts.probe_cache->get(pc, t.proc.exe_dev(), t.proc.exe_ino());
      if (!shared) return shared.error();
      if (auto w = (*shared)->watch(static_cast<uint32_t>(t.proc.pid())); !w) return w.error();
      return std::shared_ptr<probes::HeapEvents>(std::move(*shared));
    }
    auto probes = probes::GoHeapProbes::attach(pc);
    if (!probes) return probes.error();
    return std::shared_ptr<probes::HeapEvents>(
        std::make_shared<probes::GoHeapProbes>(std::move(*probes)));
  };
  return start_with(t, mem, opts, attach, monotonic_ns, r);
}

Result<std::unique_ptr<HeapCollector>> HeapCollector::over(
    const GoTarget& t, const target::ProcessMemory& mem, const HeapOptions& opts,
    std::shared_ptr<probes::HeapEvents> events, std::function<int64_t()> now_ns,
    report::Report& r) {
  return start_with(
      t, mem, opts, [&]() -> Result<std::shared_ptr<probes::HeapEvents>> { return events; },
      std::move(now_ns), r);
}

Result<std::unique_ptr<HeapCollector>> HeapCollector::start_with(
    const GoTarget& t, const target::ProcessMemory& mem, const HeapOptions& opts,
    const AttachFn& attach, std::function<int64_t()> now_ns, report::Report& r) {
  std::unique_ptr<HeapCollector> c(new HeapCollector(t, opts, std::move(now_ns)));
  const auto& s = t.syms;
  if (!s.mem_profile_rate || !s.mbuckets)
    return make_error("PID {}: the runtime's heap-profile variables were not found", t.proc.pid());
  if (!s.fn_mprof_flush)
    return make_error("PID {}: runtime.mProf_Flush not found in the binary", t.proc.pid());
  if (opts.sample_events && (!s.fn_setprofilebucket || !s.fn_mprof_free))
    return make_error("PID {}: runtime.setprofilebucket / runtime.mProf_Free not found",
                      t.proc.pid());

  auto sampler = goruntime::SamplerControl::open(t.proc, mem, t.runtime_addr(s.mem_profile_rate),
                                                 t.runtime_addr(s.disable_memory_profiling));
  if (!sampler) return sampler.error();
  c->sampler_.emplace(std::move(*sampler));
  r.original_sample_rate = c->sampler_->original_rate();
  c->rate_ = c->sampler_->original_rate();
  if (c->sampler_->left_over()) {
    const int64_t left = c->sampler_->written();
    r.notes.push_back(fmt::format(
        "MemProfileRate={} was left in the target by a leakhound that did not exit cleanly (the "
        "program's own value is {}){}",
        left, c->sampler_->original_rate(),
        opts.read_only ? fmt::format(": run `leakhound restore {}` to undo it", t.proc.pid())
                       : ": it is restored on exit"));
    if (opts.read_only) {
      c->sampler_->disown();  // read-only: measure with it, never write
      c->rate_ = left;
    }
  }
  if (c->rate_ == 0) {
    std::string why = c->sampler_->linker_disabled()
                          ? "the linker switched it off: the program never reads its heap profile"
                          : "the program set runtime.MemProfileRate = 0";
    if (opts.read_only) {
      r.notes.push_back(fmt::format(
          "Go heap not measured: the runtime's heap sampler is off ({}) and --read-only forbids "
          "switching it on",
          why));
      return c;
    }
    c->budget_on_ = !opts.fixed_rate && !opts.sample_events;
    const int64_t first = c->budget_on_ ? opts.budget.calibration_rate : opts.enable_rate;
    if (auto e = c->sampler_->enable(first); !e) return e.error();
    c->rate_ = c->sampler_->written();  // a left-over rate stays as it is
    r.sampler_enabled_by_us = true;
    c->sampled_since_attach_ = true;
    r.notes.push_back(fmt::format(
        "the heap sampler was off ({}): heap figures cover allocations since attach only", why));
  }
  r.sample_rate = c->rate_;

  auto probes = attach();
  if (!probes) return probes.error();
  c->probes_ = std::move(*probes);

  c->reader_ = std::make_unique<goruntime::BucketReader>(mem, t.layout, t.runtime_addr(s.mbuckets));
  c->active_ = true;
  c->start_ns_ = static_cast<uint64_t>(c->now_ns_());
  c->epochs_.push_back({0, c->rate_});
  if (c->budget_on_) {
    // The buckets may hold samples of an earlier leakhound's window: the
    // calibration counts from here.
    if (auto e = c->reader_->poll(true); !e) spdlog::debug("bucket walk: {}", e.error().message);
    std::tie(c->budget_epoch_bytes_, c->budget_epoch_samples_) = c->epoch_totals();
  }
  if (auto e = c->snapshot(0); !e) return e.error();
  return c;
}

Result<void> HeapCollector::restore() {
  if (!sampler_) return {};
  return sampler_->restore();
}

double HeapCollector::now_s() const {
  const auto now = static_cast<uint64_t>(now_ns_());
  return now > start_ns_ ? static_cast<double>(now - start_ns_) / 1e9 : 0;
}

Result<void> HeapCollector::poll() {
  if (!active_) return {};
  if (budget_on_) run_budget();
  auto gc = probes_->read_gc(static_cast<uint32_t>(t_.proc.pid()));
  if (!gc) return gc.error();
  if (gc->cycles == gc_cycles_) return {};  // no GC since the last point: nothing new
  gc_cycles_ = gc->cycles;
  // Time the point at the GC whose heap it shows: the one before the GC that
  // published it. A sample taken in cycle N is published at the end of cycle
  // N+2 and a free found by cycle N's sweep at the end of N+1, so what the
  // end of cycle N+1 publishes is the heap as cycle N marked it. Timed at the
  // publishing GC instead, the points would lag by one GC interval, and
  // that interval lengthens as a leak grows the heap (GOGC): growth read
  // low by up to the leak's share of the allocation rate (-24% at 1 MB/s
  // leaked of 3 MB/s, heap_e2e's gc-paced case). The first publication
  // after attach shows a GC before it: time 0, where it replaces the
  // attach-time point.
  double t_s = gc->prev_ns > start_ns_ ? static_cast<double>(gc->prev_ns - start_ns_) / 1e9 : 0;
  return snapshot(std::max(t_s, last_t_));
}

Result<void> HeapCollector::snapshot(double t_s) {
  if (auto r = reader_->poll(); !r) {
    // A torn or garbage bucket list: keep what was read, the next poll retries.
    if (!t_.proc.alive()) return r;
    spdlog::debug("bucket walk: {}", r.error().message);
  }
  for (auto& [key, g] : groups_) {
    g.inuse = {};
    g.allocated_bytes = 0;
  }
  for (const auto& [addr, b] : reader_->buckets()) {
    auto it = bucket_group_.find(addr);
    if (it == bucket_group_.end()) {
      std::string key(reinterpret_cast<const char*>(b.stack.data()), b.stack.size() * 8);
      auto [git, fresh] = groups_.try_emplace(key);
      if (fresh) {
        git->second.pcs = b.stack;
        // A stack first seen mid-window had nothing outstanding before.
        if (have_snapshot_) {
          git->second.series.push_back({last_t_, 0});
          git->second.allocated.push_back({last_t_, 0});
        }
      }
      git->second.buckets.push_back(addr);
      it = bucket_group_.emplace(addr, key).first;
      baseline_[addr] = have_snapshot_ || !b.record_ok ? goruntime::BucketRecord{} : b.record;
      // Born after the last switch (a switch marks every bucket it sees).
      marks_.try_emplace(addr, epochs_.size() - 1, 0);
    }
    if (!b.record_ok) continue;
    Group& g = groups_[it->second];
    if (g.first_free_t < 0 && b.record.frees > baseline_[addr].frees) g.first_free_t = t_s;
    // Frees taken as oldest first: the live objects are the newest ones.
    // With the sampler switched on at attach, the samples a bucket already
    // held are an earlier leakhound's (the program's sampler was off), taken
    // at rates this window never knew: weighed at this window's first rate
    // they made a re-attached leak a 50 MB plateau. Its figures count
    // allocations since attach only, as the report says.
    const double avg = b.record.allocs ? static_cast<double>(b.record.alloc_bytes) /
                                             static_cast<double>(b.record.allocs)
                                       : 0;
    const uint64_t live_from =
        sampled_since_attach_ ? std::max(b.record.frees, baseline_[addr].allocs) : b.record.frees;
    Unsampled u = live_from < b.record.allocs
                      ? unsample_bucket(addr, live_from, b.record.allocs, avg)
                      : Unsampled{};
    g.inuse.objects += u.objects;
    g.inuse.bytes += u.bytes;
    // What the warm-up fit needs (detect/warmup.h): allocations since the
    // bucket was first seen, as published with the in-use.
    const uint64_t from = baseline_[addr].allocs;
    if (b.record.allocs > from)
      g.allocated_bytes += unsample_bucket(addr, from, b.record.allocs, avg).bytes;
  }
  // A publication timed where the last one was (see poll) replaces it.
  auto put = [t_s](std::vector<detect::Point>& s, double v) {
    if (!s.empty() && s.back().t_s >= t_s)
      s.back().value = v;
    else
      s.push_back({t_s, v});
  };
  for (auto& [key, g] : groups_) {
    put(g.series, g.inuse.bytes);
    put(g.allocated, g.allocated_bytes);
  }
  if (calibration_end_gc_ != 0 && gc_cycles_ >= calibration_end_gc_) {
    calibrated_at_ = t_s;
    calibration_end_gc_ = 0;
  }
  last_t_ = t_s;
  have_snapshot_ = true;
  return {};
}

void HeapCollector::stop(report::Report& r) {
  if (active_) contribute(r);
  if (probes_) r.dropped_events += probes_->dropped();
  release_probes();
  // A target that exited has nothing left to restore.
  if (auto e = restore(); !e && t_.proc.alive()) r.notes.push_back(e.error().message);
  active_ = false;
}

void HeapCollector::trim(double keep_s) {
  window_from_ = std::max(window_from_, last_t_ - keep_s);
  for (auto& [key, g] : groups_) {
    detect::trim_series(g.series, last_t_ - keep_s);
    detect::trim_series(g.allocated, last_t_ - keep_s);
  }
}

// With a sampler we switched on at attach, objects allocated before are never
// sampled: a stack's in-use series starts near zero and climbs while those
// unseen objects are replaced by sampled ones, for as long as they live. A
// cache that fills and flushes would look like it grows during its first
// fill. Once one of the stack's sampled objects has been freed, the stack has
// turned over and its series from there on is its real in-use; a stack that
// never frees (a leak, a warm-up that keeps everything) is judged on all of it.
double HeapCollector::judged_from(const Group& g) const {
  if (!sampled_since_attach_ || g.first_free_t < 0) return -std::numeric_limits<double>::infinity();
  return g.first_free_t;  // judged on all of it when too few points remain (heap_verdicts)
}

void HeapCollector::contribute(report::Report& r) {
  if (!active_) return;
  std::unordered_map<uint64_t, probes::BucketCounts> counts;
  const bool probes_events = probes_ && probes_->sample_events();
  r.heap_events = probes_events;
  if (probes_events) {
    if (auto c = probes_->read_counts(static_cast<uint32_t>(t_.proc.pid())); c)
      counts = std::move(*c);
    else
      r.notes.push_back("probe counters unreadable: " + c.error().message);
  }
  r.gc_cycles = gc_cycles_;

  // Sampled allocations and frees of one bucket during the window: as they
  // happened (--heap-events) or as published by the GC cycles seen.
  const auto& buckets = reader_->buckets();
  auto window = [&](uint64_t addr, const goruntime::Bucket& b) {
    goruntime::BucketRecord w;
    if (probes_events) {
      auto cit = counts.find(addr);
      if (cit == counts.end()) return w;
      return goruntime::BucketRecord{cit->second.allocs, cit->second.frees,
                                     cit->second.allocs * b.size, cit->second.frees * b.size};
    }
    const goruntime::BucketRecord& base = baseline_[addr];
    auto delta = [](uint64_t now, uint64_t then) { return now > then ? now - then : 0; };
    return goruntime::BucketRecord{
        delta(b.record.allocs, base.allocs), delta(b.record.frees, base.frees),
        delta(b.record.alloc_bytes, base.alloc_bytes), delta(b.record.free_bytes, base.free_bytes)};
  };
  std::vector<StackSeries> stacks;
  stacks.reserve(groups_.size());
  for (auto& [key, g] : groups_) {
    report::HeapFinding f;
    f.inuse_bytes = static_cast<uint64_t>(std::max(0.0, std::round(g.inuse.bytes)));
    f.inuse_objects = static_cast<uint64_t>(std::max(0.0, std::round(g.inuse.objects)));
    for (uint64_t addr : g.buckets) {
      auto bit = buckets.find(addr);
      if (bit == buckets.end()) continue;
      const goruntime::BucketRecord w = window(addr, bit->second);
      r.sampled_allocs += w.allocs;
      r.sampled_frees += w.frees;
      // The window's allocations are the bucket's newest; its frees, taken
      // as oldest first, the ones after those freed before the window.
      const goruntime::BucketRecord& base = baseline_[addr];
      const double avg = w.allocs
                             ? static_cast<double>(w.alloc_bytes) / static_cast<double>(w.allocs)
                             : static_cast<double>(bit->second.size);
      const double favg =
          w.frees ? static_cast<double>(w.free_bytes) / static_cast<double>(w.frees) : avg;
      Unsampled a = probes_events ? unsample(static_cast<double>(w.allocs),
                                             static_cast<double>(w.alloc_bytes), rate_)
                                  : unsample_bucket(addr, base.allocs, base.allocs + w.allocs, avg);
      Unsampled fr = probes_events ? unsample(static_cast<double>(w.frees),
                                              static_cast<double>(w.free_bytes), rate_)
                                   : unsample_bucket(addr, base.frees, base.frees + w.frees, favg);
      f.alloc_objects_window += static_cast<uint64_t>(a.objects);
      f.alloc_bytes_window += static_cast<uint64_t>(a.bytes);
      f.free_objects_window += static_cast<uint64_t>(fr.objects);
      f.free_bytes_window += static_cast<uint64_t>(fr.bytes);
    }
    f.stack = t_.symbolize_stack(g.pcs);
    f.series = g.series;
    f.buckets = g.buckets;
    // With the sampler switched on at attach, the warm-up fit judges the
    // stack while its series still starts there (detect/warmup.h); after
    // the daemon's window has moved on, from its first free.
    const bool warmup = sampled_since_attach_ && window_from_ <= 0;
    stacks.push_back({std::move(f), judged_from(g),
                      warmup ? g.allocated : std::vector<detect::Point>{}, calibrated_at_});
  }
  VerdictOptions vo{opts_.trend,
                    opts_.fdr,
                    opts_.min_retained_fraction,
                    last_t_,
                    [](std::string_view fn) { return !is_runtime_function(fn); },
                    [module = std::string_view(t_.build.module_path)](std::string_view fn) {
                      return in_main_module(fn, module);
                    }};
  HeapVerdicts v = judge_heap(std::move(stacks), vo);
  r.sample_rate = rate_;
  if (budget_on_) {
    r.sample_rates.clear();
    for (const RateEpoch& e : epochs_) r.sample_rates.push_back({e.from_s, e.rate});
    r.sample_budget_per_s = opts_.budget.samples_per_s;
    r.alloc_bytes_per_s = alloc_rate_;
    r.sampling_cost = sampling_cost(alloc_rate_, rate_);
  }
  r.heap_leak_floor_bytes_per_s =
      leak_floor_bytes_per_s(epochs_, std::max(window_from_, calibrated_at_), last_t_);
  r.heap_fdr = v.fdr;
  r.heap_stacks_judged = v.stacks_judged;
  r.heap_callers_judged = v.callers_judged;
  for (auto& f : v.findings) r.heap.push_back(std::move(f));
}

Unsampled HeapCollector::unsample_bucket(uint64_t addr, uint64_t lo, uint64_t hi,
                                         double avg_size) const {
  auto m = marks_.find(addr);
  static const std::vector<uint64_t> kNone;
  UnsampledRange u =
      unsample_range(lo, hi, avg_size, m == marks_.end() ? kNone : m->second, epochs_);
  return {u.objects, u.bytes};
}

// Unsampled bytes and samples allocated in the current epoch so far (as of the
// last poll(true)).
std::pair<double, uint64_t> HeapCollector::epoch_totals() const {
  double bytes = 0;
  uint64_t samples = 0;
  for (const auto& [addr, bk] : reader_->buckets()) {
    if (!bk.record_ok) continue;
    auto m = marks_.find(addr);
    const uint64_t mark = m == marks_.end() || m->second.empty() ? 0 : m->second.back();
    const uint64_t total = bk.record.allocs + bk.pending.allocs;
    if (total <= mark) continue;
    const double avg = static_cast<double>(bk.record.alloc_bytes + bk.pending.alloc_bytes) /
                       static_cast<double>(total);
    bytes +=
        unsample(static_cast<double>(total - mark), static_cast<double>(total - mark) * avg, rate_)
            .bytes;
    samples += total - mark;
  }
  return {bytes, samples};
}

// Measures how fast the target allocates from the samples of the current
// epoch (published and pending: the runtime publishes a cycle's samples only
// two GCs later), then lets the budget pick the rate. First after a short
// calibration at the runtime's default rate, then every recheck_s.
void HeapCollector::run_budget() {
  const SampleBudget& b = opts_.budget;
  const double t = now_s();
  const bool calibrating = !calibrated_;
  if (calibrating ? t < b.calibration_s : t - budget_check_t_ < b.recheck_s) return;
  if (auto e = reader_->poll(true); !e) {
    if (!t_.proc.alive()) return;
    spdlog::debug("bucket walk: {}", e.error().message);
  }
  const auto [bytes, samples] = epoch_totals();
  const double since = epochs_.back().from_s;
  if (calibrating && samples - budget_epoch_samples_ < b.calibration_samples &&
      t - since < b.calibration_max_s)
    return;  // too few samples yet to tell the rate
  const double from = std::max(since, budget_check_t_);
  alloc_rate_ = t > from ? (bytes - budget_epoch_bytes_) / (t - from) : 0;
  budget_check_t_ = t;
  budget_epoch_bytes_ = bytes;
  budget_epoch_samples_ = samples;
  const int64_t want = budget_rate(alloc_rate_, b);
  // Calibration always settles on the budget's rate; later the rate moves only
  // on a large change in the allocation rate.
  calibrated_ = true;
  if (want == rate_ || (!calibrating && !should_retune(rate_, want, b))) return;
  if (auto e = switch_rate(want, t); !e) {
    spdlog::warn("PID {}: sample budget: {}", t_.proc.pid(), e.error().message);
    budget_on_ = false;  // the program's value now, or unwritable: leave it
  }
}

Result<void> HeapCollector::switch_rate(int64_t rate, double t_s) {
  // Every bucket the runtime has now gets its mark (the poll above walked the
  // new ones): its samples so far were taken at the old rate.
  for (const auto& [addr, bk] : reader_->buckets()) {
    auto [it, fresh] = marks_.try_emplace(addr, epochs_.size() - 1, 0);
    it->second.push_back(bk.record.allocs + bk.pending.allocs);
  }
  if (auto e = sampler_->retune(rate); !e) {
    for (auto& [addr, m] : marks_) m.pop_back();
    return e;
  }
  epochs_.push_back({t_s, rate});
  // The calibration's few samples at 512 KiB weigh up to 64 times more
  // than the fine rate's: a stack's series jumps by them and then climbs
  // slowly. Its warm-up is judged from the third GC cycle after the first
  // switch: a sample is published two cycles after the one it was taken in.
  if (epochs_.size() == 2 && rate < epochs_.front().rate) calibration_end_gc_ = gc_cycles_ + 3;
  rate_ = rate;
  budget_epoch_bytes_ = 0;
  budget_epoch_samples_ = 0;
  budget_check_t_ = t_s;
  return {};
}

Result<std::unique_ptr<Capability>> open_heap(OpenContext& ctx, report::Report& r) {
  if (!ctx.go) return std::unique_ptr<Capability>();
  HeapOptions opts = ctx.opts.heap;
  opts.read_only = ctx.opts.read_only;
  auto h = HeapCollector::start(*ctx.go, ctx.mem, opts, r);
  if (!h) return h.error();
  return std::unique_ptr<Capability>(std::move(*h));
}

}  // namespace leakhound::collect
