#include "collect/heap_collector.h"

#include <algorithm>
#include <cmath>

#include "util/log.h"

namespace leakhound::collect {

Unsampled unsample(double count, double bytes, int64_t rate) {
  if (count <= 0 || bytes <= 0) return {};
  if (rate <= 1) return {count, bytes};
  double avg = bytes / count;
  double scale = 1 / (1 - std::exp(-avg / static_cast<double>(rate)));
  return {count * scale, bytes * scale};
}

HeapCollector::HeapCollector(const GoTarget& t, const target::ProcessMemory& mem, HeapOptions opts)
    : t_(t), mem_(mem), opts_(std::move(opts)) {}

HeapCollector::~HeapCollector() {
  probes_.reset();  // detach before the sampler is restored
}

Result<std::unique_ptr<HeapCollector>> HeapCollector::start(const GoTarget& t,
                                                            const target::ProcessMemory& mem,
                                                            const HeapOptions& opts,
                                                            report::Report& r) {
  std::unique_ptr<HeapCollector> c(new HeapCollector(t, mem, opts));
  const auto& s = t.syms;
  if (!s.mem_profile_rate || !s.mbuckets || !s.mprof_cycle)
    return make_error("PID {}: the runtime's heap-profile variables were not found", t.proc.pid());
  if (!s.fn_setprofilebucket || !s.fn_mprof_free)
    return make_error("PID {}: runtime.setprofilebucket / runtime.mProf_Free not found",
                      t.proc.pid());

  auto sampler = goruntime::SamplerControl::open(mem, t.runtime_addr(s.mem_profile_rate),
                                                 t.runtime_addr(s.disable_memory_profiling));
  if (!sampler) return sampler.error();
  c->sampler_.emplace(std::move(*sampler));
  r.original_sample_rate = c->sampler_->original_rate();
  c->rate_ = c->sampler_->original_rate();
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
    if (auto e = c->sampler_->enable(opts.enable_rate); !e) return e.error();
    c->rate_ = opts.enable_rate;
    r.sampler_enabled_by_us = true;
    r.notes.push_back(fmt::format(
        "the heap sampler was off ({}): heap figures cover allocations since attach only", why));
  }
  r.sample_rate = c->rate_;

  // Offsets into the executable file, where uprobes attach.
  auto off_spb = t.elf.vaddr_to_offset(s.fn_setprofilebucket);
  auto off_free = t.elf.vaddr_to_offset(s.fn_mprof_free);
  if (!off_spb || !off_free) return make_error("PID {}: cannot map probe addresses to the file",
                                               t.proc.pid());
  probes::GoHeapConfig pc{t.proc.exe_link(), t.proc.pid(), *off_spb, *off_free, opts.max_buckets};
  auto probes = probes::GoHeapProbes::attach(pc);
  if (!probes) return probes.error();
  c->probes_.emplace(std::move(*probes));

  c->reader_ = std::make_unique<goruntime::BucketReader>(mem, t.layout, t.runtime_addr(s.mbuckets));
  c->active_ = true;
  if (auto e = c->snapshot(0); !e) return e.error();
  return c;
}

Result<void> HeapCollector::restore() {
  if (!sampler_) return {};
  return sampler_->restore();
}

Result<void> HeapCollector::poll(double t_s) {
  if (!active_) return {};
  auto cycle = goruntime::read_mprof_cycle(mem_, t_.layout, t_.runtime_addr(t_.syms.mprof_cycle));
  if (!cycle) return cycle.error();
  if (!first_cycle_) first_cycle_ = *cycle;
  if (last_cycle_ && *cycle == *last_cycle_) return {};
  last_cycle_ = *cycle;
  return snapshot(t_s);
}

Result<void> HeapCollector::snapshot(double t_s) {
  if (auto r = reader_->poll(); !r) {
    // A torn or garbage bucket list: keep what was read, the next poll retries.
    if (!t_.proc.alive()) return r;
    spdlog::debug("bucket walk: {}", r.error().message);
  }
  for (auto& [key, g] : groups_) g.inuse = {};
  for (const auto& [addr, b] : reader_->buckets()) {
    auto it = bucket_group_.find(addr);
    if (it == bucket_group_.end()) {
      std::string key(reinterpret_cast<const char*>(b.stack.data()), b.stack.size() * 8);
      auto [git, fresh] = groups_.try_emplace(key);
      if (fresh) {
        git->second.pcs = b.stack;
        // A stack first seen mid-window had nothing outstanding before.
        if (have_snapshot_) git->second.series.push_back({last_t_, 0});
      }
      git->second.buckets.push_back(addr);
      it = bucket_group_.emplace(addr, key).first;
    }
    if (!b.record_ok) continue;
    Group& g = groups_[it->second];
    double live = static_cast<double>(b.record.allocs) - static_cast<double>(b.record.frees);
    double bytes =
        static_cast<double>(b.record.alloc_bytes) - static_cast<double>(b.record.free_bytes);
    Unsampled u = unsample(live, bytes, rate_);
    g.inuse.objects += u.objects;
    g.inuse.bytes += u.bytes;
  }
  for (auto& [key, g] : groups_) g.series.push_back({t_s, g.inuse.bytes});
  last_t_ = t_s;
  have_snapshot_ = true;
  return {};
}

void HeapCollector::finish(report::Report& r) {
  if (!active_) {
    auto ignored = restore();
    (void)ignored;
    return;
  }
  std::unordered_map<uint64_t, probes::BucketCounts> counts;
  if (probes_) {
    if (auto c = probes_->read_counts(static_cast<uint32_t>(t_.proc.pid())); c)
      counts = std::move(*c);
    else
      r.notes.push_back("probe counters unreadable: " + c.error().message);
    r.dropped_events += probes_->dropped();
  }
  probes_.reset();
  // A target that exited has nothing left to restore.
  if (auto e = restore(); !e && t_.proc.alive()) r.notes.push_back(e.error().message);
  if (first_cycle_ && last_cycle_) r.gc_cycles = *last_cycle_ - *first_cycle_;

  for (const auto& [addr, c] : counts) {
    r.sampled_allocs += c.allocs;
    r.sampled_frees += c.frees;
  }
  const auto& buckets = reader_->buckets();
  for (auto& [key, g] : groups_) {
    report::HeapFinding f;
    f.trend = detect::analyze(g.series, opts_.trend);
    f.inuse_bytes = static_cast<uint64_t>(std::max(0.0, std::round(g.inuse.bytes)));
    f.inuse_objects = static_cast<uint64_t>(std::max(0.0, std::round(g.inuse.objects)));
    for (uint64_t addr : g.buckets) {
      auto bit = buckets.find(addr);
      auto cit = counts.find(addr);
      if (bit == buckets.end() || cit == counts.end()) continue;
      double sz = static_cast<double>(bit->second.size);
      Unsampled a = unsample(static_cast<double>(cit->second.allocs),
                             static_cast<double>(cit->second.allocs) * sz, rate_);
      Unsampled fr = unsample(static_cast<double>(cit->second.frees),
                              static_cast<double>(cit->second.frees) * sz, rate_);
      f.alloc_objects_window += static_cast<uint64_t>(a.objects);
      f.alloc_bytes_window += static_cast<uint64_t>(a.bytes);
      f.free_objects_window += static_cast<uint64_t>(fr.objects);
      f.free_bytes_window += static_cast<uint64_t>(fr.bytes);
    }
    if (f.inuse_bytes == 0 && f.alloc_objects_window == 0 &&
        f.trend.verdict == detect::Verdict::Stable)
      continue;
    f.stack = t_.symbolize_stack(g.pcs);
    f.series = std::move(g.series);
    r.heap.push_back(std::move(f));
  }
  report::sort_findings(r);
  if (r.heap.size() > opts_.max_findings) r.heap.resize(opts_.max_findings);
}

}  // namespace leakhound::collect
