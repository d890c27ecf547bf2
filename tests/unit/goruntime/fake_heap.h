// A fake Go heap in fake memory (target::FakeMemory), for the retention
// walk's tests and the retention capability's.
#pragma once

#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "goruntime/heap_layout.h"
#include "goruntime/heap_spans.h"
#include "target/memory.h"

namespace leakhound::goruntime::testing {

// A fake heap laid out as Go 1.22 (and 1.27, the green tea GC's inline mark
// bits) keeps it: one global → a 16 B object (heap bits) → a 1 KiB object
// with an allocation header naming main.Session, sampled into bucket kBucket.
class FakeHeap {
 public:
  static constexpr uint64_t kMheap = 0x10000, kAllspans = 0x40000, kSpanA = 0x50000,
                            kSpanB = 0x50200, kSpecial = 0x60000, kModuledata = 0x70000,
                            kData = 0x80000, kMask = 0x81000, kTypes = 0x90000,
                            kType = kTypes + 0x100, kHeapA = 0xc000000000, kHeapB = 0xc000002000,
                            kBucket = 0xb0b0, kObjB = kHeapB + 1024;

  explicit FakeHeap(const HeapLayout& l, uint8_t data_mask = 0b01, uint64_t a_specials = 0,
                    std::vector<std::pair<uint64_t, uint64_t>> a_words = {})
      : l_(l) {
    std::vector<uint8_t> mheap(static_cast<size_t>(l.mheap_allspans + 24));
    put(mheap, l.mheap_allspans, kAllspans);
    put(mheap, l.mheap_allspans + 8, 2);
    mem.map(kMheap, mheap);
    std::vector<uint8_t> all(16);
    put(all, 0, kSpanA);
    put(all, 8, kSpanB);
    mem.map(kAllspans, all);
    // Span A: size class 2 (16 B objects), scannable, heap bits at its end.
    mem.map(kSpanA, span(kHeapA, 16, (8192 - 128) / 16, 2 << 1, a_specials));
    // Span B: 1 KiB objects with allocation headers; object 1 is sampled.
    mem.map(kSpanB, span(kHeapB, 1024, 8, 40 << 1, kSpecial));
    std::vector<uint8_t> sp(static_cast<size_t>(l.specialprofile_bucket + 8));
    put(sp, l.special_offset, 1024, static_cast<size_t>(l.special_offset_size));
    sp[static_cast<size_t>(l.special_kind)] = special_profile_kind(l.go_minor);
    put(sp, l.specialprofile_bucket, kBucket);
    mem.map(kSpecial, sp);
    // Heap A: object 0's second word points into object B's data (past its header).
    std::vector<uint8_t> a(8192);
    put(a, 8, kObjB + 8);
    const size_t bits = 8192 - 128 - (l.inline_mark_bits ? l.inline_mark_bits : 0);
    a[bits] = 0b10;                          // word 1 of the span is a pointer
    for (const auto& [word, v] : a_words) {  // more pointer words
      put(a, static_cast<int64_t>(8 * word), v);
      a[bits + word / 8] |= static_cast<uint8_t>(1u << (word % 8));
    }
    mem.map(kHeapA, a);
    std::vector<uint8_t> b(8192);
    put(b, 1024, kType);  // object 1's header
    mem.map(kHeapB, b);
    // The type: 16 bytes, no pointers, named "*main.Session" with the extra star.
    std::vector<uint8_t> ty(0x200);
    put(ty, 0x100 + l.type_size, 16);
    ty[static_cast<size_t>(0x100 + l.type_tflag)] = 1 << 1;
    put(ty, 0x100 + l.type_str, 0x10, 4);
    const std::string name = "*main.Session";
    ty[0x10] = 0;
    ty[0x11] = static_cast<uint8_t>(name.size());
    std::memcpy(&ty[0x12], name.data(), name.size());
    mem.map(kTypes, ty);
    // Roots: data is two words, the first a pointer to object A0 (interior).
    std::vector<uint8_t> md(static_cast<size_t>(l.md_gcbssmask + 16));
    put(md, l.md_data, kData);
    put(md, l.md_edata, kData + 16);
    put(md, l.md_bss, kData + 16);
    put(md, l.md_ebss, kData + 16);
    put(md, l.md_types, kTypes);
    put(md, l.md_etypes, kTypes + 0x200);
    put(md, l.md_gcdatamask, 2, 4);
    put(md, l.md_gcdatamask + 8, kMask);
    mem.map(kModuledata, md);
    std::vector<uint8_t> data(16);
    put(data, 0, kHeapA + 4);
    mem.map(kData, data);
    mem.map(kMask, {data_mask});
  }

  target::FakeMemory mem;

 private:
  static void put(std::vector<uint8_t>& v, int64_t off, uint64_t x, size_t n = 8) {
    std::memcpy(&v[static_cast<size_t>(off)], &x, n);
  }

 public:
  // A finalizer special at `at` on object A0 whose fn word is `fn`.
  void finalizer_on_a0(uint64_t at, uint64_t fn) {
    std::vector<uint8_t> sp(static_cast<size_t>(l_.specialprofile_bucket + 8));
    sp[static_cast<size_t>(l_.special_kind)] = special_finalizer_kind(l_.go_minor);
    put(sp, l_.specialprofile_bucket, fn);  // specialfinalizer.fn follows the header
    mem.map(at, sp);
  }

 private:
  std::vector<uint8_t> span(uint64_t base, uint64_t elemsize, uint64_t nelems, uint8_t spanclass,
                            uint64_t specials) const {
    std::vector<uint8_t> s(static_cast<size_t>(l_.span_large_type + 8));
    put(s, l_.span_start, base);
    put(s, l_.span_npages, 1);
    put(s, l_.span_nelems, nelems, static_cast<size_t>(l_.span_nelems_size));
    s[static_cast<size_t>(l_.span_spanclass)] = spanclass;
    s[static_cast<size_t>(l_.span_state)] = 1;
    put(s, l_.span_elemsize, elemsize);
    put(s, l_.span_specials, specials);
    return s;
  }
  const HeapLayout& l_;
};

}  // namespace leakhound::goruntime::testing
