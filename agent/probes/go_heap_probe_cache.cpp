#include "probes/go_heap_probe_cache.h"

#include "util/log.h"

namespace leakhound::probes {

Result<std::shared_ptr<GoHeapProbes>> GoHeapProbeCache::get(const GoHeapConfig& cfg, uint64_t dev,
                                                            uint64_t ino) {
  std::lock_guard lock(mu_);
  for (auto it = sets_.begin(); it != sets_.end();)  // sets whose processes all went
    it = it->second.expired() ? sets_.erase(it) : std::next(it);
  const Key key{dev,
                ino,
                cfg.mprof_flush_offset,
                cfg.setprofilebucket_offset,
                cfg.mprof_free_offset,
                cfg.sample_events};
  if (auto it = sets_.find(key); it != sets_.end()) {
    if (auto p = it->second.lock()) return p;
  }
  auto obj = object(cfg.sample_events, cfg.max_buckets);
  if (!obj) return obj.error();
  GoHeapConfig all = cfg;
  all.pid = -1;
  auto p = GoHeapProbes::attach(all, std::move(*obj), &reaper_);
  if (!p) return p.error();
  auto shared = std::make_shared<GoHeapProbes>(std::move(*p));
  sets_[key] = shared;
  spdlog::debug("go_heap: new probe set for {} (dev {} inode {})", cfg.binary, dev, ino);
  return shared;
}

Result<std::shared_ptr<GoHeapObject>> GoHeapProbeCache::object(bool sample_events,
                                                               uint32_t max_buckets) {
  auto& o = objects_[{sample_events, max_buckets}];
  if (!o) {
    auto loaded = GoHeapObject::load(sample_events, max_buckets, kMaxProcesses);
    if (!loaded) return loaded.error();
    o = std::move(*loaded);
  }
  return o;
}

Result<void> GoHeapProbeCache::preload(bool sample_events, uint32_t max_buckets) {
  std::lock_guard lock(mu_);
  auto o = object(sample_events, max_buckets);
  if (!o) return o.error();
  return {};
}

size_t GoHeapProbeCache::live_sets() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [k, w] : sets_) n += !w.expired();
  return n + reaper_.pending();
}

}  // namespace leakhound::probes
