// Loader for bpf/go_heap.bpf.c: a uprobe on the Go runtime's heap-profile
// publication (mProf_Flush, once per GC cycle) and, optionally, on its
// profiled allocation (setprofilebucket) and free (mProf_Free) paths, counting
// events per memory-profile bucket.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "leakhound/abi/go_heap.h"
#include "probes/bpf_link.h"
#include "probes/link_reaper.h"
#include "util/result.h"

struct go_heap;  // the generated skeleton

namespace leakhound::probes {

static_assert(sizeof(lh_bucket_key) == 16);
static_assert(sizeof(lh_bucket_counts) == 16);
static_assert(sizeof(lh_gc_state) == 24);

struct GoHeapConfig {
  std::string binary;                    // path the uprobes attach to, e.g. /proc/PID/exe
  int pid = -1;                          // -1: every process running the binary
  uint64_t mprof_flush_offset = 0;       // file offsets of the function entries
  uint64_t setprofilebucket_offset = 0;  // needed with sample_events only
  uint64_t mprof_free_offset = 0;
  bool sample_events = false;  // probe every profiled allocation and free
  uint32_t max_buckets = 65536;
};

struct GcState {
  uint64_t cycles = 0;   // GC cycles (profile publications) since attach
  uint64_t last_ns = 0;  // CLOCK_MONOTONIC time of the latest one
  uint64_t prev_ns = 0;  // of the one before it (0: before attach)
};

struct BucketCounts {
  uint64_t allocs = 0;
  uint64_t frees = 0;
};

// The loaded BPF object: programs and maps. Its maps are keyed by process, so
// one object serves every executable the daemon probes: loading (BTF, the
// verifier, map creation) is paid once, a new executable costs only its links.
class GoHeapObject {
 public:
  // max_processes: watched processes at once (the GC map's size).
  static Result<std::shared_ptr<GoHeapObject>> load(bool sample_events, uint32_t max_buckets,
                                                    uint32_t max_processes);
  ~GoHeapObject();
  GoHeapObject(const GoHeapObject&) = delete;
  GoHeapObject& operator=(const GoHeapObject&) = delete;

  // The uprobes of cfg (its binary, pid and offsets) on this object's programs.
  Result<std::vector<Link>> attach(const GoHeapConfig& cfg) const;

  // Starts / stops counting for process tgid: probes attached to a binary
  // (pid -1) count only the processes watched.
  Result<void> watch(uint32_t tgid) const;
  void forget(uint32_t tgid) const;
  Result<GcState> read_gc(uint32_t tgid) const;
  bool sample_events() const { return sample_events_; }
  uint32_t max_buckets() const { return max_buckets_; }
  Result<std::unordered_map<uint64_t, BucketCounts>> read_counts(uint32_t tgid) const;
  uint64_t dropped() const;

 private:
  GoHeapObject() = default;
  struct SkelDeleter {
    void operator()(go_heap* s) const;
  };
  std::unique_ptr<go_heap, SkelDeleter> skel_;
  bool sample_events_ = false;
  uint32_t max_buckets_ = 0;
};

// What the heap capability reads from its probes, per process: behind an
// interface so that the capability runs on fakes in tests (the probes go when
// the last owner drops it).
class HeapEvents {
 public:
  virtual ~HeapEvents() = default;
  // Stops counting process tgid (a shared set stays for its other processes).
  virtual void forget(uint32_t tgid) const = 0;
  // GC cycles of process tgid since attach.
  virtual Result<GcState> read_gc(uint32_t tgid) const = 0;
  virtual bool sample_events() const = 0;
  // Events per bucket address of process tgid since attach (sample_events only).
  virtual Result<std::unordered_map<uint64_t, BucketCounts>> read_counts(uint32_t tgid) const = 0;
  // Events lost (map full), summed over CPUs (every process of the object).
  virtual uint64_t dropped() const = 0;
};

// One set of uprobes (on one binary, or one process of it) and the object
// whose programs they run.
class GoHeapProbes final : public HeapEvents {
 public:
  // With an object of its own (attach: one process).
  static Result<GoHeapProbes> attach(const GoHeapConfig& cfg);
  // On a shared object (the daemon: one set per executable); with a reaper,
  // the links are detached on its thread when this set goes.
  static Result<GoHeapProbes> attach(const GoHeapConfig& cfg, std::shared_ptr<GoHeapObject> obj,
                                     LinkReaper* reaper = nullptr);

  GoHeapProbes(GoHeapProbes&&) noexcept;
  GoHeapProbes& operator=(GoHeapProbes&&) noexcept;
  ~GoHeapProbes() override;

  // attach() watches cfg.pid itself.
  Result<void> watch(uint32_t tgid) const { return obj_->watch(tgid); }
  void forget(uint32_t tgid) const override { obj_->forget(tgid); }
  Result<GcState> read_gc(uint32_t tgid) const override { return obj_->read_gc(tgid); }
  bool sample_events() const override { return obj_->sample_events(); }
  Result<std::unordered_map<uint64_t, BucketCounts>> read_counts(uint32_t tgid) const override {
    return obj_->read_counts(tgid);
  }
  uint64_t dropped() const override { return obj_->dropped(); }

 private:
  GoHeapProbes() = default;
  std::shared_ptr<GoHeapObject> obj_;
  std::vector<Link> links_;  // destroyed before the object (declared after)
  LinkReaper* reaper_ = nullptr;
};

}  // namespace leakhound::probes
