// The retention walk: from the GC roots (the data and bss sections, by
// moduledata's pointer masks; the stacks of goroutines not running,
// conservatively: every aligned word that points into a heap object; the
// finalizer and cleanup specials) forward over the heap's objects, breadth
// first with a parent link per object, read from outside while the program
// runs, until the wanted objects (a leaking stack's sampled objects) are
// reached or the budget of bytes and time is spent. Pointer layout is the
// runtime's own (Go 1.22+, allocation headers, mbitmap.go): a small object's
// heap bits at its span's end, the *_type header of an object over 512 B,
// span.largeType for a large one; on Go 1.21 the arenas' bitmaps, one bit a
// heap word (objects then carry no type). Every edge of a returned path is
// re-read at the end; a path whose slots still hold their pointers is
// confirmed (a slot that now points to a new object holding the next step,
// as a grown slice's array does, is followed: the path as it is now). A walk
// that exhausts the heap with wanted objects unreached (the program moved a
// pointer between two reads) walks once more for those.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "goruntime/heap_layout.h"
#include "goruntime/heap_spans.h"
#include "target/memory.h"
#include "util/result.h"

namespace leakhound::goruntime {

struct WalkBudget {
  uint64_t max_bytes = uint64_t{1} << 30;  // read from the target
  double max_seconds = 10;
  size_t max_objects = size_t{1} << 24;
  // The share of one core the walk may take, paced by its own CPU time: it
  // sleeps between batches so that its CPU time stays within this share of
  // its wall time. On a saturated node every CPU second the walk takes is
  // one the programs there do not get; 1: unpaced.
  double cpu_share = 1;
};

// The roots: the module's data and bss (runtime addresses) and their masks,
// one bit per word (moduledata.gcdatamask/gcbssmask).
struct WalkRoots {
  struct Section {
    uint64_t start = 0, end = 0;
    std::vector<uint8_t> mask;
  };
  Section data, bss;
  uint64_t types = 0, etypes = 0;  // moduledata.types: where type names live
  // Goroutine stacks, [lo, hi): from a parked goroutine's saved SP to its
  // stack's top. Roots once the walk from the globals is exhausted, so that
  // an object both hold is named by its global.
  struct Stack {
    uint64_t lo = 0, hi = 0;
    // Roots only if the walk ends with wanted objects unreached: the
    // runtime's own frames at a parked stack's top (gopark, chanrecv, ...),
    // whose dead slots often hold what user code held a moment before
    // (scanned conservatively, they would claim it first).
    bool fallback = false;
  };
  std::vector<Stack> stacks;
  // Finalizer and cleanup specials (HeapSpans::sampled_objects): roots after
  // the globals, before the stacks (they are precise, the stacks are not).
  std::vector<SpecialRoot> specials;
  // Go 1.21 (no allocation headers): every heap word's pointer bit is in its
  // arena's heapArena.bitmap (its first field), one bit per word. arena_l2:
  // mheap_.arenas[0], the array of *heapArena (arenaL1Bits is 0 on Linux);
  // arena_base_offset: arenaBaseOffset (amd64 0xffff800000000000, arm64 0).
  uint64_t arena_l2 = 0, arena_base_offset = 0;
  // runtime.mheap_ (runtime address): the re-read reads the span list afresh
  // from it; 0: it does not.
  uint64_t mheap = 0;
};

// mheap_.arenas[0] (runtime address of mheap_): for WalkRoots::arena_l2.
Result<uint64_t> read_arena_l2(const target::MemoryReader& mem, const HeapLayout& layout,
                               uint64_t mheap);

// Reads moduledata (runtime address) and the masks it points at.
Result<WalkRoots> read_walk_roots(const target::MemoryReader& mem, const HeapLayout& layout,
                                  uint64_t moduledata);

struct PathStep {
  uint64_t addr = 0;       // object base
  uint64_t size = 0;       // its slot size (span.elemsize)
  uint64_t slot = 0;       // the word that points at it: a global's or its parent's
  std::string type;        // from the runtime's type descriptor, "" when the object has none
  uint64_t type_size = 0;  // that type's size: an object of several is an array of them
};

struct RetentionPath {
  std::vector<PathStep> steps;  // steps[0] is held by a root (its slot), last is the object
  bool confirmed = false;
};

struct WalkResult {
  std::unordered_map<uint64_t, RetentionPath> paths;  // by wanted object reached
  uint64_t heap_bytes = 0;                            // in-use spans
  uint64_t bytes_scanned = 0;                         // of objects scanned
  uint64_t bytes_read = 0;                            // all reads, the spans' too
  uint64_t stack_bytes = 0;                           // of goroutine stacks scanned
  size_t followed = 0;     // confirmed paths that the re-read followed through a new object
  size_t second_pass = 0;  // wanted objects that only a second walk reached
  // The type of each object a finalizer or cleanup is set on, when it has one.
  std::unordered_map<uint64_t, std::string> special_types;
  size_t objects = 0;    // reached
  size_t no_layout = 0;  // objects whose pointer layout could not be read
  double seconds = 0;
  double paused_seconds = 0;  // slept by the pacing (WalkBudget::cpu_share)
  bool complete = false;      // every reachable object was visited, or every wanted one reached
  std::string stopped;        // why not: "byte budget", "time budget", "object budget"
};

class HeapWalker {
 public:
  HeapWalker(const target::MemoryReader& mem, const HeapLayout& layout, const HeapSpans& spans,
             const WalkRoots& roots, WalkBudget budget)
      : mem_(mem), l_(layout), spans_(&spans), roots_(roots), budget_(budget) {
    // A node's parent is an int32_t.
    budget_.max_objects = std::min<size_t>(budget_.max_objects, INT32_MAX);
  }

  // Walks until every object in `wanted` is reached (then stops early) or
  // the heap is exhausted or the budget is spent.
  WalkResult walk(const std::unordered_set<uint64_t>& wanted);
  // The name of the type descriptor at `type` (runtime address), cached.
  std::string type_name(uint64_t type);

 private:
  struct TypeInfo {
    bool ok = false;
    uint64_t size = 0, ptrbytes = 0;
    std::vector<uint8_t> mask;  // one bit per word of [0, ptrbytes)
    std::string name;
  };
  // One object reached, 24 bytes: a walk of millions keeps them all (the
  // paths are read back through `parent`).
  struct Node {
    uint64_t base;
    uint64_t slot;
    int32_t parent;  // -1: held by a root
    uint32_t span;   // index in spans_.spans()
  };
  Node node(uint64_t base, const HeapSpan* s, int32_t parent, uint64_t slot) const {
    return {base, slot, parent, static_cast<uint32_t>(s - spans_->spans().data())};
  }
  const HeapSpan& span_of(const Node& n) const { return spans_->spans()[n.span]; }
  const TypeInfo& type_info(uint64_t type);
  // The *_type of an object that carries one (a header, or a large span's).
  uint64_t header_type(const Node& n);
  bool read(uint64_t addr, void* dst, size_t len);
  // Go 1.21: a span's bytes, read whole and cached (up to kSpanCache).
  const std::vector<uint8_t>* span_bytes(const HeapSpan& s);
  // A small object's bytes (its header too) and, up to 512 B, the bytes of
  // its span's heap bits that cover its words (from the byte that holds its
  // first word's bit). Null when not read (noscan, large, Go 1.21, a failed
  // read): scan then reads what it needs itself.
  struct Fetched {
    const uint8_t* data = nullptr;
    const uint8_t* bits = nullptr;
  };
  // Reads what scan needs of each of `nodes` in one batch of reads: only
  // the objects and their heap bits, not their spans (a walk meets a big
  // heap's spans in no order: whole spans were read again and again), and
  // ranges that touch merged into one. Fills out (one per node) and buf.
  void fetch(const Node* nodes, size_t n, std::vector<Fetched>& out, std::vector<uint8_t>& buf);
  // Go 1.21: a span's pointer bits from the arena bitmaps, one per word.
  const std::vector<uint8_t>* arena_bits(const HeapSpan& s);
  // Pointer words of the object at `n`; false when its layout is unknown.
  // *type: its *_type when it carries one and scanning read it.
  bool scan(const Node& n, std::vector<std::pair<uint64_t, uint64_t>>& out,  // (slot, value)
            const Fetched* f = nullptr, uint64_t* type = nullptr);
  void visit(uint64_t value, int32_t parent, uint64_t slot);
  // Re-reads a path whose batch re-read failed, step by step, following a
  // slot that now points to another object when that object holds the next
  // step too (the path is then as it stands now); true when it holds.
  bool follow(RetentionPath& p);
  bool over_budget();
  // Sleeps as long as keeps the walk's CPU time within budget_.cpu_share of
  // its wall time (never past the time budget).
  void pace();
  // One walk from the roots, tier by tier; true when the queue was exhausted
  // (not stopped by the budget or by every wanted object reached).
  bool pass(const std::unordered_set<uint64_t>& wanted);
  // The current walk's path to each wanted object it reached, not yet held.
  void add_paths(const std::unordered_set<uint64_t>& wanted);
  void confirm_paths();
  void drop_caches();

  const target::MemoryReader& mem_;
  const HeapLayout& l_;
  // The span list walked; the re-read swaps in one read afresh (fresh_) once
  // a path fails, so that an object allocated since (a grown slice's new
  // array, in a span that was free) can be followed.
  const HeapSpans* spans_;
  std::optional<HeapSpans> fresh_;
  const WalkRoots& roots_;
  WalkBudget budget_;
  std::chrono::steady_clock::time_point start_;
  int64_t cpu_start_ns_ = 0;
  std::vector<Node> nodes_;
  // Objects reached: one bit per object slot of every span, numbered span by
  // span (first_object_[i]: span i's first), cheaper than a hash set of
  // millions; and the node of each wanted object reached.
  std::vector<uint64_t> first_object_;
  std::vector<uint64_t> seen_;
  std::unordered_map<uint64_t, uint32_t> wanted_nodes_;
  std::unordered_map<uint64_t, TypeInfo> types_;
  std::unordered_map<uint64_t, std::vector<uint8_t>> span_cache_;
  std::unordered_map<uint64_t, std::vector<uint8_t>> bits_cache_;  // by span base
  std::unordered_map<uint64_t, uint64_t> arenas_;                  // index → *heapArena
  uint64_t cache_bytes_ = 0;
  const std::unordered_set<uint64_t>* wanted_ = nullptr;
  size_t found_ = 0;
  WalkResult res_;
};

}  // namespace leakhound::goruntime
