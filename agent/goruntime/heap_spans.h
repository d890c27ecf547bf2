// The Go heap's in-use spans and the sampled objects on them, read from
// outside while the program runs (goruntime/heap_layout.h gives the offsets).
// Every sampled allocation has a profile special on its span's specials list
// (mprof.go's mProf_Malloc → setprofilebucket) pointing at its bucket, so the
// objects of one allocation stack can be found: span base + special offset.
// Reads race the program: a span freed or reused under us reads as garbage
// that the checks drop; nothing here can loop or grow without bound.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "goruntime/heap_layout.h"
#include "target/memory.h"
#include "util/result.h"

namespace leakhound::goruntime {

struct HeapSpan {
  uint64_t base = 0, limit = 0;  // [base, base + nelems * elemsize)
  uint64_t npages = 0, elemsize = 0, nelems = 0;
  uint8_t spanclass = 0;  // size class << 1 | noscan
  uint64_t large_type = 0;
  uint64_t specials = 0;
  bool noscan() const { return spanclass & 1; }
  uint8_t size_class() const { return spanclass >> 1; }
  uint64_t bytes() const { return npages * kPageSize; }
  static constexpr uint64_t kPageSize = 8192;  // runtime._PageSize
};

struct HeapSpanLimits {
  size_t max_spans = size_t{1} << 24;  // 128 GiB of 8 KiB spans
  size_t max_specials_per_span = size_t{1} << 14;
};

class HeapSpans {
 public:
  // Reads mheap_.allspans and every in-use span. mheap: runtime address.
  static Result<HeapSpans> read(const target::MemoryReader& mem, const HeapLayout& layout,
                                uint64_t mheap, HeapSpanLimits limits = {});
  // For tests: spans given directly (sorted here).
  explicit HeapSpans(std::vector<HeapSpan> spans);
  HeapSpans() = default;

  const std::vector<HeapSpan>& spans() const { return spans_; }
  // The span holding p and the base of p's object in it, or nullptr.
  const HeapSpan* find(uint64_t p, uint64_t* object_base) const;
  uint64_t in_use_bytes() const { return in_use_bytes_; }
  uint64_t bytes_read() const { return bytes_read_; }

  // Sampled objects: object address → its bucket (runtime addresses), from
  // the profile specials of every span. Specials of other kinds are skipped.
  Result<std::unordered_map<uint64_t, uint64_t>> sampled_objects(const target::MemoryReader& mem,
                                                                 const HeapLayout& layout,
                                                                 HeapSpanLimits limits = {});

 private:
  std::vector<HeapSpan> spans_;  // sorted by base, non-overlapping
  uint64_t in_use_bytes_ = 0;
  uint64_t bytes_read_ = 0;
};

}  // namespace leakhound::goruntime
