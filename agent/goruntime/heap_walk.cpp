#include "goruntime/heap_walk.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include "util/clock.h"

namespace leakhound::goruntime {
namespace {

// mbitmap.go (1.22+): objects up to this size keep their pointer bits at the
// end of their span; bigger ones start with an 8-byte *_type header.
constexpr uint64_t kMinSizeForMallocHeader = 512;
constexpr uint64_t kMallocHeaderSize = 8;
constexpr uint8_t kTFlagExtraStar = 1 << 1;          // abi.TFlagExtraStar: the name has a '*' extra
constexpr uint8_t kTFlagGCMaskOnDemand = 1 << 4;     // 1.25+: GCData is **byte
constexpr uint8_t kKindGCProg = 1 << 6;              // before 1.25: GCData is a GC program
constexpr uint64_t kMaxSection = uint64_t{1} << 28;  // data or bss: 256 MiB
constexpr uint64_t kMaxMask = uint64_t{1} << 24;
constexpr uint64_t kMaxObjectScan = uint64_t{64} << 20;
constexpr uint64_t kChunk = uint64_t{1} << 20;
constexpr uint64_t kSpanCache = uint64_t{64} << 20;
// The walk reads the objects it is about to scan in batches of this many,
// or of this many bytes: each batch is one read_many (IOV_MAX ranges a call).
constexpr size_t kBatchNodes = 1024;
constexpr uint64_t kBatchBytes = uint64_t{1} << 20;
constexpr uint64_t kMaxStack = uint64_t{1} << 30;  // runtime.maxstacksize on 64-bit

uint64_t u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

bool bit(const std::vector<uint8_t>& mask, uint64_t i) {
  return i / 8 < mask.size() && (mask[i / 8] >> (i % 8)) & 1;
}

}  // namespace

Result<WalkRoots> read_walk_roots(const target::MemoryReader& mem, const HeapLayout& l,
                                  uint64_t moduledata) {
  const size_t sz = static_cast<size_t>(std::max(l.md_gcdatamask, l.md_gcbssmask)) + 16;
  std::vector<uint8_t> md(sz);
  if (auto e = mem.read(moduledata, md.data(), sz); !e)
    return make_error("reading moduledata at {:#x}: {}", moduledata, e.error().message);
  WalkRoots r;
  auto section = [&](WalkRoots::Section& s, int32_t start, int32_t end, int32_t mask,
                     const char* what) -> Result<void> {
    s.start = u64(&md[static_cast<size_t>(start)]);
    s.end = u64(&md[static_cast<size_t>(end)]);
    if (s.end < s.start || s.end - s.start > kMaxSection || s.start % 8)
      return make_error("moduledata: {} [{:#x}, {:#x}) is not a section", what, s.start, s.end);
    int32_t nbits;
    std::memcpy(&nbits, &md[static_cast<size_t>(mask)], 4);
    const uint64_t bytedata = u64(&md[static_cast<size_t>(mask) + 8]);
    // The runtime builds the masks at start (modulesinit/progToPointerMask);
    // they cover the section word by word.
    const uint64_t words = (s.end - s.start) / 8;
    if (nbits < 0 || static_cast<uint64_t>(nbits) < words || (nbits && !bytedata))
      return make_error("moduledata: the {} pointer mask has {} bits for {} words", what, nbits,
                        words);
    s.mask.resize((words + 7) / 8);
    if (!s.mask.empty()) {
      if (auto e = mem.read(bytedata, s.mask.data(), s.mask.size()); !e)
        return make_error("reading the {} pointer mask: {}", what, e.error().message);
    }
    return {};
  };
  if (auto e = section(r.data, l.md_data, l.md_edata, l.md_gcdatamask, "data"); !e)
    return e.error();
  if (auto e = section(r.bss, l.md_bss, l.md_ebss, l.md_gcbssmask, "bss"); !e) return e.error();
  r.types = u64(&md[static_cast<size_t>(l.md_types)]);
  r.etypes = u64(&md[static_cast<size_t>(l.md_etypes)]);
  return r;
}

Result<uint64_t> read_arena_l2(const target::MemoryReader& mem, const HeapLayout& l,
                               uint64_t mheap) {
  uint64_t l2 = 0;
  if (auto e = mem.read(mheap + static_cast<uint64_t>(l.mheap_arenas), &l2, 8); !e)
    return make_error("reading runtime.mheap_.arenas: {}", e.error().message);
  if (!l2 || l2 % 8) return make_error("runtime.mheap_.arenas[0] is {:#x}", l2);
  return l2;
}

const std::vector<uint8_t>* HeapWalker::arena_bits(const HeapSpan& s) {
  // malloc.go (1.21, linux/64-bit): 64 MiB arenas, 1<<22 of them in the L2
  // array; heapArena.bitmap has one bit per word, low bit first.
  constexpr uint64_t kArenaBytes = uint64_t{64} << 20, kArenas = uint64_t{1} << 22;
  if (auto it = bits_cache_.find(s.base); it != bits_cache_.end()) return &it->second;
  if (!roots_.arena_l2 || s.bytes() > kMaxObjectScan) return nullptr;
  std::vector<uint8_t> bits(static_cast<size_t>(s.bytes() / 64));
  // A span may cross arenas (contiguous ones): one read per arena.
  for (uint64_t at = s.base; at < s.base + s.bytes();) {
    const uint64_t ai = (at - roots_.arena_base_offset) / kArenaBytes;
    if (ai >= kArenas) return nullptr;
    auto [it, fresh] = arenas_.try_emplace(ai, 0);
    if (fresh && !read(roots_.arena_l2 + 8 * ai, &it->second, 8)) return nullptr;
    if (!it->second) return nullptr;
    const uint64_t arena_start = roots_.arena_base_offset + ai * kArenaBytes;
    const uint64_t end = std::min(s.base + s.bytes(), arena_start + kArenaBytes);
    // Spans are page-aligned: whole bitmap bytes (8 words each).
    const uint64_t from = (at - arena_start) / 64, n = (end - at) / 64;
    if (!read(it->second + from, &bits[static_cast<size_t>((at - s.base) / 64)],
              static_cast<size_t>(n)))
      return nullptr;
    at = end;
  }
  return &bits_cache_.emplace(s.base, std::move(bits)).first->second;
}

bool HeapWalker::read(uint64_t addr, void* dst, size_t len) {
  if (!mem_.read(addr, dst, len)) return false;
  res_.bytes_read += len;
  return true;
}

bool HeapWalker::over_budget() {
  if (res_.bytes_read > budget_.max_bytes) {
    res_.stopped = "byte budget";
    return true;
  }
  if (nodes_.size() > budget_.max_objects) {
    res_.stopped = "object budget";
    return true;
  }
  const std::chrono::duration<double> d = std::chrono::steady_clock::now() - start_;
  if (d.count() > budget_.max_seconds) {
    res_.stopped = "time budget";
    return true;
  }
  return false;
}

void HeapWalker::pace() {
  if (!(budget_.cpu_share > 0 && budget_.cpu_share < 1)) return;
  const double cpu = static_cast<double>(thread_cpu_ns() - cpu_start_ns_) / 1e9;
  const std::chrono::duration<double> wall = std::chrono::steady_clock::now() - start_;
  // Sleeps of a few ms at a time (a batch is ~1-4 ms of CPU): the target sees
  // short gaps, not long stalls followed by a burst.
  const double owe = std::min(cpu / budget_.cpu_share, budget_.max_seconds) - wall.count();
  if (owe < 0.001) return;
  std::this_thread::sleep_for(std::chrono::duration<double>(owe));
  res_.paused_seconds += owe;
}

const HeapWalker::TypeInfo& HeapWalker::type_info(uint64_t type) {
  auto [it, fresh] = types_.try_emplace(type);
  TypeInfo& t = it->second;
  if (!fresh) return t;
  uint8_t b[48] = {};
  const size_t sz = static_cast<size_t>(l_.type_str) + 4;
  if (!type || sz > sizeof b || !read(type, b, sz)) return t;
  t.size = u64(b + l_.type_size);
  t.ptrbytes = u64(b + l_.type_ptrbytes);
  const uint8_t tflag = b[l_.type_tflag], kind = b[l_.type_kind];
  uint64_t gcdata = u64(b + l_.type_gcdata);
  int32_t str;
  std::memcpy(&str, b + l_.type_str, 4);
  // The name: abi.Name, a flags byte, a varint length, the bytes.
  if (str > 0 && roots_.types && roots_.types + static_cast<uint64_t>(str) < roots_.etypes) {
    uint8_t nb[1 + 10 + 256] = {};
    const uint64_t at = roots_.types + static_cast<uint64_t>(str);
    const size_t avail = static_cast<size_t>(std::min<uint64_t>(sizeof nb, roots_.etypes - at));
    if (read(at, nb, avail)) {
      uint64_t len = 0;
      size_t i = 1;
      for (int shift = 0; i < avail && shift < 63; shift += 7) {
        len |= uint64_t{nb[i] & 0x7fu} << shift;
        if (!(nb[i++] & 0x80)) break;
      }
      len = std::min<uint64_t>(len, avail - i);
      t.name.assign(reinterpret_cast<const char*>(nb + i), static_cast<size_t>(len));
      if ((tflag & kTFlagExtraStar) && !t.name.empty() && t.name[0] == '*') t.name.erase(0, 1);
    }
  }
  if (!t.size || t.ptrbytes > t.size || t.size > (uint64_t{1} << 40)) return t;
  if (t.ptrbytes == 0) {
    t.ok = true;
    return t;
  }
  if (l_.go_minor < 25 && (kind & kKindGCProg)) return t;  // a program, not a mask
  if (l_.go_minor >= 25 && (tflag & kTFlagGCMaskOnDemand)) {
    // Built by the runtime on first use (type.go getGCMask); not yet: unknown.
    uint64_t built = 0;
    if (!read(gcdata, &built, 8) || !built) return t;
    gcdata = built;
  }
  const uint64_t words = t.ptrbytes / 8;
  if ((words + 7) / 8 > kMaxMask || !gcdata) return t;
  t.mask.resize(static_cast<size_t>((words + 7) / 8));
  if (!read(gcdata, t.mask.data(), t.mask.size())) return t;
  t.ok = true;
  return t;
}

std::string HeapWalker::type_name(uint64_t type) { return type ? type_info(type).name : ""; }

const std::vector<uint8_t>* HeapWalker::span_bytes(const HeapSpan& s) {
  if (auto it = span_cache_.find(s.base); it != span_cache_.end()) return &it->second;
  if (s.bytes() > kMaxObjectScan) return nullptr;
  if (cache_bytes_ + s.bytes() > kSpanCache) {
    span_cache_.clear();
    cache_bytes_ = 0;
  }
  std::vector<uint8_t> b(static_cast<size_t>(s.bytes()));
  if (!read(s.base, b.data(), b.size())) return nullptr;
  cache_bytes_ += b.size();
  return &span_cache_.emplace(s.base, std::move(b)).first->second;
}

uint64_t HeapWalker::header_type(const Node& n) {
  const HeapSpan& s = span_of(n);
  if (s.noscan() || l_.go_minor < 22) return 0;
  if (s.size_class() == 0) return s.large_type;
  if (s.elemsize <= kMinSizeForMallocHeader) return 0;
  uint64_t t = 0;
  return read(n.base, &t, 8) ? t : 0;
}

void HeapWalker::fetch(const Node* nodes, size_t n, std::vector<Fetched>& out,
                       std::vector<uint8_t>& buf) {
  out.assign(n, {});
  if (l_.go_minor < 22) return;
  struct Want {
    uint64_t addr, len;
    const uint8_t** dst;
  };
  std::vector<Want> wants;
  wants.reserve(2 * n);
  for (size_t k = 0; k < n; k++) {
    const HeapSpan& s = span_of(nodes[k]);
    if (s.noscan() || s.size_class() == 0) continue;
    wants.push_back({nodes[k].base, s.elemsize, &out[k].data});
    if (s.elemsize > kMinSizeForMallocHeader) continue;
    uint64_t at = s.base + s.bytes() - s.bytes() / 64;
    if (l_.inline_mark_bits && s.elemsize >= 16) at -= static_cast<uint64_t>(l_.inline_mark_bits);
    const uint64_t first = (nodes[k].base - s.base) / 8, last = first + s.elemsize / 8 - 1;
    wants.push_back({at + first / 8, last / 8 - first / 8 + 1, &out[k].bits});
  }
  std::sort(wants.begin(), wants.end(),
            [](const Want& a, const Want& b) { return a.addr < b.addr; });
  // Ranges that overlap or touch (neighbouring objects, one span's bits)
  // are one read.
  struct Range {
    uint64_t addr, end, off;
  };
  std::vector<Range> ranges;
  uint64_t total = 0;
  for (const Want& w : wants) {
    if (!ranges.empty() && w.addr <= ranges.back().end) {
      const uint64_t end = std::max(ranges.back().end, w.addr + w.len);
      total += end - ranges.back().end;
      ranges.back().end = end;
    } else {
      ranges.push_back({w.addr, w.addr + w.len, total});
      total += w.len;
    }
  }
  buf.resize(static_cast<size_t>(total));
  std::vector<target::ReadRequest> reqs(ranges.size());
  for (size_t k = 0; k < ranges.size(); k++)
    reqs[k] = {ranges[k].addr, &buf[static_cast<size_t>(ranges[k].off)],
               static_cast<size_t>(ranges[k].end - ranges[k].addr), false};
  if (!mem_.read_many(reqs)) return;
  for (const auto& r : reqs) {
    if (r.ok) res_.bytes_read += r.len;
  }
  size_t k = 0;
  for (const Want& w : wants) {
    while (ranges[k].end < w.addr + w.len) k++;  // the range it was merged into
    if (reqs[k].ok) *w.dst = &buf[static_cast<size_t>(ranges[k].off + (w.addr - ranges[k].addr))];
  }
}

bool HeapWalker::scan(const Node& n, std::vector<std::pair<uint64_t, uint64_t>>& out,
                      const Fetched* f, uint64_t* type) {
  const HeapSpan& s = span_of(n);
  if (s.noscan()) return true;
  if (l_.go_minor < 22) {
    // Go 1.21: the arena bitmap's bits for the object's words; the words
    // themselves from the span (small) or in chunks (large).
    const auto* bits = arena_bits(s);
    if (!bits) return false;
    const uint64_t first = (n.base - s.base) / 8, len = std::min(s.elemsize, kMaxObjectScan);
    const std::vector<uint8_t>* b = s.size_class() ? span_bytes(s) : nullptr;
    if (s.size_class() && !b) return false;
    std::vector<uint8_t> chunk;
    res_.bytes_scanned += len;
    for (uint64_t off = 0; off < len; off += kChunk) {
      const uint64_t k = std::min(kChunk, len - off);
      const uint8_t* p;
      if (b) {
        p = &(*b)[static_cast<size_t>(n.base - s.base + off)];
      } else {
        chunk.resize(static_cast<size_t>(k));
        if (!read(n.base + off, chunk.data(), chunk.size())) return false;
        p = chunk.data();
      }
      for (uint64_t w = 0; w < k / 8; w++) {
        const uint64_t word = first + (off / 8) + w;
        if (!((*bits)[static_cast<size_t>(word / 8)] >> (word % 8) & 1)) continue;
        out.emplace_back(n.base + off + 8 * w, u64(p + 8 * w));
      }
      if (over_budget()) break;
    }
    return true;
  }
  const bool large = s.size_class() == 0;
  // An object not fetched with its batch (a root's, a re-read's): alone.
  std::vector<Fetched> one;
  std::vector<uint8_t> one_buf;
  if (!large && (!f || !f->data)) {
    fetch(&n, 1, one, one_buf);
    f = &one[0];
  }
  if (!large && s.elemsize <= kMinSizeForMallocHeader) {
    // Heap bits at the span's end, one per word (mbitmap.go heapBitsSlice),
    // before the green tea GC's inline mark bits (spanHeapBitsRange).
    if (!f->data || !f->bits) return false;
    const uint64_t first = (n.base - s.base) / 8;
    for (uint64_t w = 0; w < s.elemsize / 8; w++) {
      const uint64_t word = first + w;
      if (!(f->bits[word / 8 - first / 8] >> (word % 8) & 1)) continue;
      out.emplace_back(n.base + 8 * w, u64(f->data + 8 * w));
    }
    res_.bytes_scanned += s.elemsize;
    return true;
  }
  uint64_t data = n.base, len = s.elemsize;
  const uint8_t* b = nullptr;  // the object's bytes after its header
  uint64_t ty;
  if (large) {
    ty = s.large_type;
  } else {
    if (!f->data) return false;
    ty = u64(f->data);
    b = f->data + kMallocHeaderSize;
    data += kMallocHeaderSize;
    len -= kMallocHeaderSize;
  }
  if (type) *type = ty;
  if (!ty) return false;  // not yet typed (mid-allocation) or freed
  const TypeInfo& t = type_info(ty);
  if (!t.ok) return false;
  if (!t.ptrbytes) return true;
  len = std::min(len, kMaxObjectScan);
  res_.bytes_scanned += len;
  std::vector<uint8_t> chunk;
  for (uint64_t off = 0; off < len; off += kChunk) {
    const uint64_t k = std::min(kChunk, len - off);
    const uint8_t* p;
    if (b) {
      p = b + off;
    } else {
      chunk.resize(static_cast<size_t>(k));
      if (!read(data + off, chunk.data(), chunk.size())) return false;
      p = chunk.data();
    }
    for (uint64_t w = 0; w < k / 8; w++) {
      const uint64_t in_elem = (off + 8 * w) % t.size;
      if (in_elem >= t.ptrbytes || !bit(t.mask, in_elem / 8)) continue;
      out.emplace_back(data + off + 8 * w, u64(p + 8 * w));
    }
    if (over_budget()) break;
  }
  return true;
}

void HeapWalker::visit(uint64_t value, int32_t parent, uint64_t slot) {
  uint64_t base = 0;
  const HeapSpan* s = spans_->find(value, &base);
  if (!s) return;
  const uint64_t k = first_object_[static_cast<size_t>(s - spans_->spans().data())] +
                     (base - s->base) / s->elemsize;
  uint64_t& word = seen_[static_cast<size_t>(k / 64)];
  if (word >> (k % 64) & 1) return;
  word |= uint64_t{1} << (k % 64);
  if (wanted_->count(base)) {
    found_++;
    wanted_nodes_.emplace(base, static_cast<uint32_t>(nodes_.size()));
  }
  nodes_.push_back(node(base, s, parent, slot));
}

bool HeapWalker::follow(RetentionPath& p) {
  // An object that holds a pointer into `next`: the one at `v`, if any; its
  // slot for `next` in *at.
  std::vector<std::pair<uint64_t, uint64_t>> ptrs;
  auto holds = [&](uint64_t v, const PathStep& next, PathStep* out, uint64_t* at) {
    uint64_t base = 0;
    const HeapSpan* span = spans_->find(v, &base);
    if (!span) return false;
    const Node n = node(base, span, -1, 0);
    ptrs.clear();
    uint64_t type = 0;
    if (!scan(n, ptrs, nullptr, &type)) return false;
    auto it = std::find_if(ptrs.begin(), ptrs.end(), [&](const auto& sv) {
      return sv.second >= next.addr && sv.second < next.addr + next.size;
    });
    if (it == ptrs.end()) return false;
    if (!type) type = header_type(n);
    *out = {base, span->elemsize, 0, type_name(type), type ? type_info(type).size : 0};
    *at = it->first;
    return true;
  };
  // A parent with more pointer words than this is not searched for another.
  constexpr size_t kMaxParentWords = 64;
  for (size_t k = 0; k < p.steps.size(); k++) {
    PathStep& s = p.steps[k];
    uint64_t v = 0;
    if (!read(s.slot, &v, 8)) return false;
    if (v >= s.addr && v < s.addr + s.size) continue;
    // The slot moved on. The wanted object itself must still be pointed at;
    // an object on the way may have been replaced by one that holds the
    // next step as well: through the same slot (a slice's grown array), or
    // through another word of the parent (a map whose growth ended:
    // oldbuckets is nil, buckets holds the entries).
    if (k + 1 == p.steps.size()) return false;
    PathStep& next = p.steps[k + 1];
    PathStep repl;
    uint64_t at = 0;
    if (holds(v, next, &repl, &at)) {
      repl.slot = s.slot;
    } else {
      if (k == 0) return false;
      const PathStep& parent = p.steps[k - 1];
      uint64_t pbase = 0;
      const HeapSpan* pspan = spans_->find(parent.addr, &pbase);
      if (!pspan) return false;
      const Node pn = node(pbase, pspan, -1, 0);
      std::vector<std::pair<uint64_t, uint64_t>> words;
      if (!scan(pn, words) || words.size() > kMaxParentWords) return false;
      bool found = false;
      for (const auto& [slot, pv] : words) {
        if (slot == s.slot || !holds(pv, next, &repl, &at)) continue;
        repl.slot = slot;
        found = true;
        break;
      }
      if (!found) return false;
    }
    s = repl;
    next.slot = at;
  }
  return true;
}

WalkResult HeapWalker::walk(const std::unordered_set<uint64_t>& wanted) {
  start_ = std::chrono::steady_clock::now();
  cpu_start_ns_ = thread_cpu_ns();
  res_ = {};
  res_.heap_bytes = spans_->in_use_bytes();
  first_object_.clear();
  uint64_t objects = 0;
  for (const auto& s : spans_->spans()) {
    first_object_.push_back(objects);
    objects += s.elemsize ? (s.limit - s.base) / s.elemsize : 0;  // find's object slots
  }
  seen_.assign(static_cast<size_t>((objects + 63) / 64), 0);
  wanted_nodes_.clear();
  nodes_.clear();
  res_.bytes_read = spans_->bytes_read();
  const bool exhausted = pass(wanted);
  // Found all wanted before the queue emptied: the rest was not needed.
  res_.complete = exhausted || (found_ == wanted.size() && !wanted.empty());
  if (res_.complete) res_.stopped.clear();
  res_.objects = nodes_.size();
  add_paths(wanted);
  // The program moves pointers while they are read: a growing map's entries
  // leave an old bucket already read for a new one not read yet, and are
  // missed. A walk that ended with wanted objects unreached walks once more,
  // afresh, for those alone.
  if (exhausted && !wanted.empty() && res_.paths.size() < wanted.size()) {
    std::unordered_set<uint64_t> missed;
    for (uint64_t w : wanted) {
      if (!res_.paths.count(w)) missed.insert(w);
    }
    nodes_.clear();
    std::fill(seen_.begin(), seen_.end(), 0);
    wanted_nodes_.clear();
    drop_caches();
    const size_t before = res_.paths.size();
    pass(missed);
    add_paths(missed);
    res_.second_pass = res_.paths.size() - before;
  }
  // Objects read from here on must be read afresh.
  drop_caches();
  confirm_paths();
  res_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return res_;
}

void HeapWalker::drop_caches() {
  span_cache_.clear();
  bits_cache_.clear();
  cache_bytes_ = 0;
}

bool HeapWalker::pass(const std::unordered_set<uint64_t>& wanted) {
  wanted_ = &wanted;
  found_ = 0;
  for (const auto* sec : {&roots_.data, &roots_.bss}) {
    std::vector<uint8_t> bytes(static_cast<size_t>(sec->end - sec->start));
    if (bytes.empty() || !read(sec->start, bytes.data(), bytes.size())) continue;
    for (uint64_t w = 0; w < bytes.size() / 8; w++) {
      if (bit(sec->mask, w)) visit(u64(&bytes[static_cast<size_t>(8 * w)]), -1, sec->start + 8 * w);
    }
  }
  // Stacks have no pointer masks here (the runtime's are per-PC stack maps):
  // every aligned word is a candidate, and a word that happens to look like
  // a pointer into an object makes it reached. Conservative: it may reach
  // more than the GC would, never less.
  std::vector<uint8_t> stack;
  auto scan_stacks = [&](bool fallback) {
    for (const auto& st : roots_.stacks) {
      const uint64_t lo = (st.lo + 7) & ~uint64_t{7};
      if (st.fallback != fallback || st.hi <= lo || st.hi - lo > kMaxStack || over_budget())
        continue;
      stack.resize(static_cast<size_t>((st.hi - lo) / 8 * 8));
      if (stack.empty() || !read(lo, stack.data(), stack.size())) continue;
      res_.stack_bytes += stack.size();
      for (uint64_t w = 0; w < stack.size() / 8; w++)
        visit(u64(&stack[static_cast<size_t>(8 * w)]), -1, lo + 8 * w);
    }
  };
  // Finalizers and cleanups (markrootSpans): their function words, and what
  // a finalized object points to, but not the object itself.
  std::vector<std::pair<uint64_t, uint64_t>> ptrs;
  auto scan_specials = [&] {
    for (const auto& sp : roots_.specials) {
      for (const auto& [slot, v] : sp.words) visit(v, -1, slot);
      uint64_t base = 0;
      const HeapSpan* s = spans_->find(sp.object, &base);
      if (!s) continue;
      const Node n = node(base, s, -1, 0);
      uint64_t type = 0;
      if (sp.kind == SpecialRoot::Kind::Finalizer) {
        ptrs.clear();
        if (!scan(n, ptrs, nullptr, &type)) res_.no_layout++;
        for (const auto& [slot, v] : ptrs) visit(v, -1, slot);
      }
      if (const uint64_t t = type ? type : header_type(n))
        res_.special_types[sp.object] = type_name(t);
    }
  };
  // The roots in tiers, each walked to exhaustion before the next: what a
  // global holds is named by it even when a stack slot (maybe dead: stacks
  // are scanned conservatively) points at it too; then the finalizers and
  // cleanups; then the stacks' user frames; last the runtime's own frames at
  // parked stacks' tops.
  size_t i = 0;
  std::vector<Fetched> fetched;
  std::vector<uint8_t> fetched_buf;
  size_t fetched_from = 0, fetched_to = 0;  // nodes_[from, to) are in `fetched`
  for (int tier = 1; tier <= 4; tier++) {
    // The specials, walked to exhaustion before the stacks: they are precise
    // roots, where a conservatively scanned stack may hold a dead slot (the
    // finalizer goroutine's frame) pointing straight at what a finalizer's
    // closure holds two steps away.
    if (tier == 2) scan_specials();
    if (tier == 3) scan_stacks(false);
    if (tier == 4) scan_stacks(true);
    for (; i < nodes_.size(); i++) {
      if (!wanted.empty() && found_ == wanted.size()) break;
      if ((i & 255) == 0 && over_budget()) break;
      if (i >= fetched_to) {
        uint64_t bytes = 0;
        size_t j = i;
        for (; j < nodes_.size() && j - i < kBatchNodes && bytes < kBatchBytes; j++) {
          if (const HeapSpan& s = span_of(nodes_[j]); s.size_class()) bytes += s.elemsize;
        }
        pace();
        fetch(&nodes_[i], j - i, fetched, fetched_buf);
        fetched_from = i;
        fetched_to = j;
      }
      ptrs.clear();
      if (!scan(nodes_[i], ptrs, &fetched[i - fetched_from])) res_.no_layout++;
      for (const auto& [slot, v] : ptrs) visit(v, static_cast<int32_t>(i), slot);
    }
    if (i < nodes_.size() || (!wanted.empty() && found_ == wanted.size())) break;
  }
  return i >= nodes_.size();
}

void HeapWalker::add_paths(const std::unordered_set<uint64_t>& wanted) {
  for (uint64_t w : wanted) {
    auto it = wanted_nodes_.find(w);
    if (it == wanted_nodes_.end()) continue;
    RetentionPath p;
    for (int64_t k = it->second; k >= 0 && p.steps.size() < 4096; k = nodes_[k].parent) {
      const Node& n = nodes_[static_cast<size_t>(k)];
      // The types are read again (one word an object over 512 B): only a
      // path's steps need them, not the millions of nodes.
      const uint64_t type = header_type(n);
      p.steps.push_back(
          {n.base, span_of(n).elemsize, n.slot, type_name(type), type ? type_info(type).size : 0});
    }
    std::reverse(p.steps.begin(), p.steps.end());
    res_.paths.emplace(w, std::move(p));
  }
}

// Each edge re-read: the slot must still point into the object.
void HeapWalker::confirm_paths() {
  bool refreshed = false;
  for (auto& [w, p] : res_.paths) {
    std::vector<uint64_t> vals(p.steps.size());
    std::vector<target::ReadRequest> reqs(p.steps.size());
    for (size_t k = 0; k < p.steps.size(); k++) reqs[k] = {p.steps[k].slot, &vals[k], 8, false};
    if (!mem_.read_many(reqs)) continue;
    p.confirmed = true;
    for (size_t k = 0; k < p.steps.size(); k++) {
      res_.bytes_read += 8;
      const PathStep& s = p.steps[k];
      if (!reqs[k].ok || vals[k] < s.addr || vals[k] >= s.addr + s.size) p.confirmed = false;
    }
    if (!p.confirmed) {
      if (!refreshed && roots_.mheap) {
        // The nodes are done with: their span indexes may go stale.
        refreshed = true;
        if (auto fresh = HeapSpans::read(mem_, l_, roots_.mheap)) {
          fresh_ = std::move(*fresh);
          res_.bytes_read += fresh_->bytes_read();
          spans_ = &*fresh_;
        }
      }
      p.confirmed = follow(p);
      if (p.confirmed) res_.followed++;
    }
  }
}

}  // namespace leakhound::goruntime
