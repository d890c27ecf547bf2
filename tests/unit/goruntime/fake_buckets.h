// Memory-profile buckets as the runtime lays them out (goruntime/buckets.h),
// for tests that put them in fake or in their own memory: the bucket reader's
// and the heap capability's.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "goruntime/profile_layout.h"

namespace leakhound::goruntime::testing {

struct FakeBucket {
  uint64_t addr, allnext, size;
  std::vector<uint64_t> stack;
  uint64_t allocs, frees, alloc_bytes, free_bytes;
  uint64_t typ = 1;  // memProfile
};

inline std::vector<uint8_t> encode(const FakeBucket& b, const ProfileLayout& l) {
  std::vector<uint8_t> out(l.bucket_header + 8 * b.stack.size() + l.memrecord_size);
  auto put = [&](size_t off, uint64_t v) { std::memcpy(out.data() + off, &v, 8); };
  put(l.off_allnext, b.allnext);
  put(l.off_typ, b.typ);
  put(l.off_size, b.size);
  put(l.off_nstk, b.stack.size());
  for (size_t i = 0; i < b.stack.size(); i++) put(l.bucket_header + 8 * i, b.stack[i]);
  size_t rec = l.bucket_header + 8 * b.stack.size();
  put(rec, b.allocs);
  put(rec + 8, b.frees);
  if (l.record_has_bytes) {
    put(rec + 16, b.alloc_bytes);
    put(rec + 24, b.free_bytes);
  }
  return out;
}

}  // namespace leakhound::goruntime::testing
