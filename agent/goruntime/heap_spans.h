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

// A finalizer or cleanup special: a root, as markrootSpans (mgcmark.go)
// makes it. A finalizer's fn (its closure) and everything the finalized
// object points to, not the object itself; a cleanup's function words
// (fn, 1.24-1.25; cleanupFn{call, fn, arg}, 1.26+), not its object.
struct SpecialRoot {
  enum class Kind { Finalizer, Cleanup } kind = Kind::Finalizer;
  uint64_t object = 0;                               // the object it is set on (its base)
  std::vector<std::pair<uint64_t, uint64_t>> words;  // (slot in the special, value)
};

// _KindSpecialFinalizer and _KindSpecialCleanup (mheap.go), 0 when the
// release has none: finalizer 1 up to 1.24, 2 from 1.25 (tiny blocks came
// first); cleanup 6 in 1.24, 7 from 1.25.
uint8_t special_finalizer_kind(int go_minor);
uint8_t special_cleanup_kind(int go_minor);

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
  // the profile specials of every span. With roots, the finalizer and
  // cleanup specials go there; specials of other kinds are skipped.
  Result<std::unordered_map<uint64_t, uint64_t>> sampled_objects(
      const target::MemoryReader& mem, const HeapLayout& layout, HeapSpanLimits limits = {},
      std::vector<SpecialRoot>* roots = nullptr);

 private:
  std::vector<HeapSpan> spans_;  // sorted by base, non-overlapping
  uint64_t in_use_bytes_ = 0;
  uint64_t bytes_read_ = 0;
};

}  // namespace leakhound::goruntime
