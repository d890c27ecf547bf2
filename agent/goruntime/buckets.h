// Reads the runtime's memory-profile buckets (runtime.mbuckets) from the
// target: per allocation stack, sampled allocations and frees as of the last
// completed GC cycle, since process start. Buckets are never freed by the
// runtime and new ones are prepended, so each poll walks only the new head of
// the list and then re-reads the counters of every known bucket in a batch.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "goruntime/profile_layout.h"
#include "target/memory.h"
#include "util/result.h"

namespace leakhound::goruntime {

struct BucketRecord {  // memRecord.active
  uint64_t allocs = 0, frees = 0;
  uint64_t alloc_bytes = 0, free_bytes = 0;
};

struct Bucket {
  uint64_t addr = 0;
  uint64_t size = 0;            // object (slot) size recorded by the runtime
  std::vector<uint64_t> stack;  // return PCs, leaf first (runtime addresses)
  BucketRecord record;
  // Sampled allocations and frees made but not yet published by a GC cycle
  // (memRecord.future): read only by poll(true).
  BucketRecord pending;
  bool record_ok = false;  // the last read of its counters succeeded
};

struct BucketLimits {
  size_t max_buckets = 1 << 20;  // bounds a walk over hostile memory
  size_t max_new_per_poll = 1 << 18;
};

class BucketReader {
 public:
  BucketReader(const target::MemoryReader& mem, ProfileLayout layout, uint64_t mbuckets_addr,
               BucketLimits limits = {});

  // Picks up new buckets and refreshes every bucket's counters; with
  // `with_pending`, also the counters not yet published (4x the bytes read).
  Result<void> poll(bool with_pending = false);
  const std::unordered_map<uint64_t, Bucket>& buckets() const { return buckets_; }
  // Buckets whose headers failed validation (garbage or a torn read).
  size_t rejected() const { return rejected_; }

 private:
  Result<void> walk_new();
  Result<void> refresh_records(bool with_pending);
  uint64_t record_addr(const Bucket& b) const {
    return b.addr + layout_.bucket_header + 8 * b.stack.size();
  }

  const target::MemoryReader& mem_;
  ProfileLayout layout_;
  uint64_t mbuckets_addr_;
  BucketLimits limits_;
  std::unordered_map<uint64_t, Bucket> buckets_;
  size_t rejected_ = 0;
};

}  // namespace leakhound::goruntime
