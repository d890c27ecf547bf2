#include "goruntime/heap_spans.h"

#include <algorithm>
#include <cstring>

#include "binary/byte_reader.h"

namespace leakhound::goruntime {
namespace {

constexpr uint8_t kSpanInUse = 1;  // mSpanInUse (mheap.go): mSpanDead, mSpanInUse, mSpanManual
constexpr size_t kBatch = 4096;

uint64_t le(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  std::memcpy(&v, p, std::min<size_t>(n, 8));  // little-endian targets only (amd64, arm64)
  return v;
}

}  // namespace

uint8_t special_finalizer_kind(int go_minor) { return go_minor <= 24 ? 1 : 2; }

uint8_t special_cleanup_kind(int go_minor) {
  if (go_minor < 24) return 0;
  return go_minor == 24 ? 6 : 7;
}

HeapSpans::HeapSpans(std::vector<HeapSpan> spans) : spans_(std::move(spans)) {
  std::sort(spans_.begin(), spans_.end(),
            [](const HeapSpan& a, const HeapSpan& b) { return a.base < b.base; });
  for (const auto& s : spans_) in_use_bytes_ += s.bytes();
}

Result<HeapSpans> HeapSpans::read(const target::MemoryReader& mem, const HeapLayout& l,
                                  uint64_t mheap, HeapSpanLimits limits) {
  uint64_t hdr[2];  // allspans: array, len
  if (auto e = mem.read(mheap + static_cast<uint64_t>(l.mheap_allspans), hdr, sizeof hdr); !e)
    return make_error("reading runtime.mheap_.allspans: {}", e.error().message);
  const uint64_t n = hdr[1];
  if (n > limits.max_spans) return make_error("runtime.mheap_.allspans has {} spans: too many", n);
  HeapSpans out;
  std::vector<uint64_t> ptrs(n);
  for (uint64_t i = 0; i < n; i += kBatch * 16) {
    const uint64_t k = std::min<uint64_t>(n - i, kBatch * 16);
    if (auto e = mem.read(hdr[0] + 8 * i, &ptrs[i], 8 * k); !e)
      return make_error("reading runtime.mheap_.allspans[{}:{}]: {}", i, i + k, e.error().message);
    out.bytes_read_ += 8 * k;
  }
  // Only what the walk reads of each mspan.
  int32_t need = 0;
  for (int32_t off : {l.span_start + 8, l.span_npages + 8, l.span_nelems + l.span_nelems_size,
                      l.span_spanclass + 1, l.span_state + 1, l.span_elemsize + 8,
                      l.span_specials + 8, l.span_large_type + 8})
    need = std::max(need, off);
  const size_t sz = static_cast<size_t>(need);
  std::vector<uint8_t> buf;
  std::vector<target::ReadRequest> reqs;
  for (uint64_t i = 0; i < n; i += kBatch) {
    const size_t k = static_cast<size_t>(std::min<uint64_t>(n - i, kBatch));
    buf.assign(k * sz, 0);
    reqs.assign(k, {});
    for (size_t j = 0; j < k; j++) reqs[j] = {ptrs[i + j], &buf[j * sz], sz, false};
    if (auto e = mem.read_many(reqs); !e) return e.error();
    for (size_t j = 0; j < k; j++) {
      if (!reqs[j].ok) continue;
      out.bytes_read_ += sz;
      const uint8_t* p = &buf[j * sz];
      if (p[l.span_state] != kSpanInUse) continue;
      HeapSpan s;
      s.base = le(p + l.span_start, 8);
      s.npages = le(p + l.span_npages, 8);
      s.nelems = le(p + l.span_nelems, static_cast<size_t>(l.span_nelems_size));
      s.elemsize = le(p + l.span_elemsize, 8);
      s.spanclass = p[l.span_spanclass];
      s.specials = le(p + l.span_specials, 8);
      if (l.span_large_type != kAbsent) s.large_type = le(p + l.span_large_type, 8);
      // A torn or reused span: drop what cannot be a heap span.
      if (!s.base || s.base % HeapSpan::kPageSize || !s.npages || s.npages > (uint64_t{1} << 24) ||
          !s.elemsize || !s.nelems || s.nelems > s.bytes() || s.elemsize > s.bytes() ||
          s.nelems * s.elemsize > s.bytes() || s.base > UINT64_MAX - s.bytes())
        continue;
      s.limit = s.base + s.nelems * s.elemsize;
      out.spans_.push_back(s);
    }
  }
  std::sort(out.spans_.begin(), out.spans_.end(),
            [](const HeapSpan& a, const HeapSpan& b) { return a.base < b.base; });
  // Overlaps mean a span was reused while we read: keep the first.
  std::vector<HeapSpan> kept;
  for (const auto& s : out.spans_) {
    if (!kept.empty() && s.base < kept.back().base + kept.back().bytes()) continue;
    kept.push_back(s);
    out.in_use_bytes_ += s.bytes();
  }
  out.spans_ = std::move(kept);
  return out;
}

const HeapSpan* HeapSpans::find(uint64_t p, uint64_t* object_base) const {
  auto it = std::upper_bound(spans_.begin(), spans_.end(), p,
                             [](uint64_t v, const HeapSpan& s) { return v < s.base; });
  if (it == spans_.begin()) return nullptr;
  --it;
  if (p >= it->limit) return nullptr;
  if (object_base) *object_base = it->base + (p - it->base) / it->elemsize * it->elemsize;
  return &*it;
}

Result<std::unordered_map<uint64_t, uint64_t>> HeapSpans::sampled_objects(
    const target::MemoryReader& mem, const HeapLayout& l, HeapSpanLimits limits,
    std::vector<SpecialRoot>* roots) {
  std::unordered_map<uint64_t, uint64_t> out;
  const uint8_t want = special_profile_kind(l.go_minor);
  const uint8_t fin = special_finalizer_kind(l.go_minor), cln = special_cleanup_kind(l.go_minor);
  // The function words of a finalizer or cleanup special follow its header,
  // as a profile special's bucket does: at specialprofile.b's offset.
  struct Pending {
    SpecialRoot root;
    uint64_t at;
    size_t words;
  };
  std::vector<Pending> pending;
  const size_t sz = static_cast<size_t>(l.specialprofile_bucket) + 8;
  std::vector<uint8_t> buf(sz);
  // One list per span, followed level by level so that a batch of reads
  // serves every span at once (most lists are one or two long).
  struct Cursor {
    const HeapSpan* span;
    uint64_t at;
    size_t steps;
  };
  std::vector<Cursor> live;
  for (const auto& s : spans_)
    if (s.specials) live.push_back({&s, s.specials, 0});
  while (!live.empty()) {
    std::vector<uint8_t> bufs(live.size() * sz);
    std::vector<target::ReadRequest> reqs(live.size());
    for (size_t i = 0; i < live.size(); i++) reqs[i] = {live[i].at, &bufs[i * sz], sz, false};
    if (auto e = mem.read_many(reqs); !e) return e.error();
    std::vector<Cursor> next;
    for (size_t i = 0; i < live.size(); i++) {
      if (!reqs[i].ok) continue;
      bytes_read_ += sz;
      const uint8_t* p = &bufs[i * sz];
      const HeapSpan& s = *live[i].span;
      const uint64_t off = le(p + l.special_offset, static_cast<size_t>(l.special_offset_size));
      // A tiny allocation's special is at its offset inside a 16 B block
      // (malloc.go's tiny allocator): the object is the block.
      const uint8_t kind = p[l.special_kind];
      if (kind == want && off < s.limit - s.base) {
        const uint64_t b = le(p + l.specialprofile_bucket, 8);
        if (b) out.emplace(s.base + off / s.elemsize * s.elemsize, b);
      } else if (roots && (kind == fin || (cln && kind == cln)) && off < s.limit - s.base) {
        SpecialRoot r;
        r.kind = kind == fin ? SpecialRoot::Kind::Finalizer : SpecialRoot::Kind::Cleanup;
        r.object = s.base + off / s.elemsize * s.elemsize;
        const size_t words = kind == fin || l.go_minor < 26 ? 1 : 3;
        pending.push_back(
            {std::move(r), live[i].at + static_cast<uint64_t>(l.specialprofile_bucket), words});
      }
      const uint64_t nx = le(p + l.special_next, 8);
      if (nx && live[i].steps + 1 < limits.max_specials_per_span)
        next.push_back({live[i].span, nx, live[i].steps + 1});
    }
    live = std::move(next);
  }
  if (!pending.empty()) {
    std::vector<uint64_t> vals(pending.size() * 3);
    std::vector<target::ReadRequest> reqs(pending.size());
    for (size_t i = 0; i < pending.size(); i++)
      reqs[i] = {pending[i].at, &vals[3 * i], 8 * pending[i].words, false};
    if (auto e = mem.read_many(reqs); !e) return e.error();
    for (size_t i = 0; i < pending.size(); i++) {
      if (!reqs[i].ok) continue;
      bytes_read_ += 8 * pending[i].words;
      for (size_t k = 0; k < pending[i].words; k++)
        pending[i].root.words.emplace_back(pending[i].at + 8 * k, vals[3 * i + k]);
      roots->push_back(std::move(pending[i].root));
    }
  }
  return out;
}

}  // namespace leakhound::goruntime
