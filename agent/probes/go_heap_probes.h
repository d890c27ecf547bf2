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
#include "util/result.h"

struct go_heap;  // the generated skeleton

namespace leakhound::probes {

static_assert(sizeof(lh_bucket_key) == 16);
static_assert(sizeof(lh_bucket_counts) == 16);
static_assert(sizeof(lh_gc_state) == 16);

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
};

struct BucketCounts {
  uint64_t allocs = 0;
  uint64_t frees = 0;
};

class GoHeapProbes {
 public:
  static Result<GoHeapProbes> attach(const GoHeapConfig& cfg);

  GoHeapProbes(GoHeapProbes&&) noexcept;
  GoHeapProbes& operator=(GoHeapProbes&&) noexcept;
  ~GoHeapProbes();

  // Starts / stops counting for process tgid: the probes attached to a binary
  // (pid -1) count only the processes watched. attach() watches cfg.pid itself.
  Result<void> watch(uint32_t tgid) const;
  void forget(uint32_t tgid) const;
  // GC cycles of process tgid since attach.
  Result<GcState> read_gc(uint32_t tgid) const;
  bool sample_events() const { return sample_events_; }
  // Events per bucket address of process tgid since attach (sample_events only).
  Result<std::unordered_map<uint64_t, BucketCounts>> read_counts(uint32_t tgid) const;
  // Events lost (map full), summed over CPUs.
  uint64_t dropped() const;

 private:
  GoHeapProbes() = default;
  struct SkelDeleter {
    void operator()(go_heap* s) const;
  };
  std::unique_ptr<go_heap, SkelDeleter> skel_;
  std::vector<Link> links_;  // destroyed before the skeleton (declared after)
  bool sample_events_ = false;
};

}  // namespace leakhound::probes
