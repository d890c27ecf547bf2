// go_heap probe sets shared by every watched process of one executable, for
// the daemon: 50 processes of one binary cost one set of uprobes, attached to
// the file (pid -1); the GC map's set of watched PIDs filters (GoHeapProbes::
// watch/forget). A set is detached when its last process is forgotten. Every
// set runs the programs of one BPF object, loaded on first use and kept.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "probes/go_heap_probes.h"

namespace leakhound::probes {

class GoHeapProbeCache {
 public:
  // The set for the file (dev, ino) with cfg's offsets, attached on first use
  // through cfg.binary (cfg.pid is ignored).
  Result<std::shared_ptr<GoHeapProbes>> get(const GoHeapConfig& cfg, uint64_t dev, uint64_t ino);
  // Loads the BPF object now (the daemon, at start): the first Go process
  // then waits for its uprobe only, and a kernel that refuses fails at once.
  Result<void> preload(bool sample_events, uint32_t max_buckets);
  // Sets attached, counting those whose links are still being detached.
  size_t live_sets() const;

  // Processes watched at once, over every executable (the GC map's size).
  static constexpr uint32_t kMaxProcesses = 8192;

 private:
  Result<std::shared_ptr<GoHeapObject>> object(bool sample_events, uint32_t max_buckets);
  using Key = std::tuple<uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, bool>;
  mutable std::mutex mu_;
  std::map<Key, std::weak_ptr<GoHeapProbes>> sets_;
  std::map<std::pair<bool, uint32_t>, std::shared_ptr<GoHeapObject>> objects_;
  LinkReaper reaper_;  // last: drains before the objects go
};

}  // namespace leakhound::probes
