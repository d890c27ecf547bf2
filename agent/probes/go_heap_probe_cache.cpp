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
  GoHeapConfig all = cfg;
  all.pid = -1;
  auto p = GoHeapProbes::attach(all);
  if (!p) return p.error();
  auto shared = std::make_shared<GoHeapProbes>(std::move(*p));
  sets_[key] = shared;
  spdlog::debug("go_heap: new probe set for {} (dev {} inode {})", cfg.binary, dev, ino);
  return shared;
}

size_t GoHeapProbeCache::live_sets() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [k, w] : sets_) n += !w.expired();
  return n;
}

}  // namespace leakhound::probes
