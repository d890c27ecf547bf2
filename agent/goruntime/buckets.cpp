#include "goruntime/buckets.h"

#include <cstring>

namespace leakhound::goruntime {

BucketReader::BucketReader(const target::MemoryReader& mem, ProfileLayout layout,
                           uint64_t mbuckets_addr, BucketLimits limits)
    : mem_(mem), layout_(layout), mbuckets_addr_(mbuckets_addr), limits_(limits) {}

Result<void> BucketReader::poll(bool with_pending) {
  if (auto r = walk_new(); !r) return r;
  return refresh_records(with_pending);
}

Result<void> BucketReader::walk_new() {
  auto head = mem_.read_value<uint64_t>(mbuckets_addr_);
  if (!head) return head.error();
  uint64_t b = *head;
  size_t seen = 0;
  // Stop at the first known bucket: everything after it was read before.
  // A cycle in garbage memory also ends here, since each new bucket becomes known.
  while (b != 0 && !buckets_.contains(b)) {
    if (++seen > limits_.max_new_per_poll || buckets_.size() >= limits_.max_buckets) {
      return make_error("bucket list longer than {} entries: giving up on the rest",
                        limits_.max_buckets);
    }
    uint8_t hdr[64];
    static_assert(sizeof hdr >= 48);
    if (auto r = mem_.read(b, hdr, layout_.bucket_header); !r) {
      rejected_++;
      return r;  // a broken link: keep what we have, try again next poll
    }
    auto field = [&](uint32_t off) {
      uint64_t v;
      std::memcpy(&v, hdr + off, 8);
      return v;
    };
    uint64_t typ = field(layout_.off_typ), nstk = field(layout_.off_nstk);
    uint64_t next = field(layout_.off_allnext);
    if (typ != layout_.mem_profile_typ || nstk > layout_.max_stack) {
      rejected_++;
      return make_error("bucket at {:#x} is not a heap-profile bucket (typ {}, nstk {})", b, typ,
                        nstk);
    }
    Bucket bk;
    bk.addr = b;
    bk.size = field(layout_.off_size);
    bk.stack.resize(nstk);
    if (nstk > 0) {
      if (auto r = mem_.read(b + layout_.bucket_header, bk.stack.data(), nstk * 8); !r) {
        rejected_++;
        return r;
      }
    }
    buckets_.emplace(b, std::move(bk));
    b = next;
  }
  return {};
}

Result<void> BucketReader::refresh_records(bool with_pending) {
  // memRecord: active, then future[3], each a memRecordCycle.
  const uint32_t bytes = with_pending ? layout_.memrecord_size : layout_.cycle_size;
  const size_t words = bytes / 8, cycle_words = layout_.cycle_size / 8;
  std::vector<uint64_t> raw(buckets_.size() * words);
  std::vector<target::ReadRequest> reqs;
  std::vector<Bucket*> order;
  reqs.reserve(buckets_.size());
  order.reserve(buckets_.size());
  size_t i = 0;
  for (auto& [addr, bk] : buckets_) {
    reqs.push_back({record_addr(bk), &raw[i * words], bytes, false});
    order.push_back(&bk);
    i++;
  }
  if (auto r = mem_.read_many(reqs); !r) return r;
  auto cycle = [&](const uint64_t* v, const Bucket& bk) {
    BucketRecord rec{v[0], v[1], 0, 0};
    if (layout_.record_has_bytes) {
      rec.alloc_bytes = v[2];
      rec.free_bytes = v[3];
    } else {
      rec.alloc_bytes = rec.allocs * bk.size;
      rec.free_bytes = rec.frees * bk.size;
    }
    return rec;
  };
  for (size_t k = 0; k < order.size(); k++) {
    Bucket& bk = *order[k];
    bk.record_ok = reqs[k].ok;
    if (!reqs[k].ok) continue;
    const uint64_t* v = &raw[k * words];
    bk.record = cycle(v, bk);
    if (!with_pending) continue;
    bk.pending = {};
    for (size_t c = 1; c * cycle_words < words; c++) {
      BucketRecord f = cycle(v + c * cycle_words, bk);
      bk.pending.allocs += f.allocs;
      bk.pending.frees += f.frees;
      bk.pending.alloc_bytes += f.alloc_bytes;
      bk.pending.free_bytes += f.free_bytes;
    }
  }
  return {};
}

}  // namespace leakhound::goruntime
