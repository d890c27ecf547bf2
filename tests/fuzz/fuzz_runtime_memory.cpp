// Readers of runtime structures in target memory (allgs and goroutine stacks,
// the memory-profile bucket list, memstats and gcController, the heap's spans,
// specials and the retention walk) on arbitrary
// bytes mapped as the target's memory: every walk must end, every read stay
// in bounds.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "goruntime/buckets.h"
#include "goruntime/g_layout.h"
#include "goruntime/goroutines.h"
#include "goruntime/heap_layout.h"
#include "goruntime/heap_spans.h"
#include "goruntime/heap_walk.h"
#include "goruntime/memstats.h"
#include "goruntime/profile_layout.h"
#include "target/memory.h"

using namespace leakhound;

namespace {
// The input is the target's memory at kBase; the globals sit at its start.
constexpr uint64_t kBase = 0x10000;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 32) return 0;
  target::FakeMemory mem;
  mem.map(kBase, std::vector<uint8_t>(data, data + size));
  const auto& layouts = goruntime::all_g_layouts();
  const goruntime::GLayout& l = layouts[data[0] % layouts.size()];
  goruntime::AllgLimits lim;
  lim.max_goroutines = 4096;
  // arm64: frame records below SP, and (or not) frame sizes made up from the
  // pc: any size, a stack's end or an unknown function anywhere.
  goruntime::StackArch arch;
  arch.link_register = data[1] & 2;
  if (data[1] & 4) {
    arch.frame_size = [](uint64_t pc) -> std::optional<binary::FrameSize> {
      if (pc % 13 == 0) return std::nullopt;
      return binary::FrameSize{static_cast<int32_t>(pc % 4096), pc % 7 == 0, pc % 11 == 0};
    };
  }
  goruntime::GoroutineReader gr(mem, l, kBase + 8, data[1] & 1 ? kBase + 32 : 0, lim, arch);
  if (auto snap = gr.read()) {
    for (const auto& g : snap->live) {
      (void)gr.unwind(g);
      (void)gr.state(g);
    }
  }
  binary::GoVersion v;
  v.major = 1;
  v.minor =
      goruntime::kMinGoMinor + data[2] % (goruntime::kMaxGoMinor - goruntime::kMinGoMinor + 1);
  if (auto pl = goruntime::profile_layout(v)) {
    goruntime::BucketLimits bl;
    bl.max_buckets = 4096;
    goruntime::BucketReader br(mem, *pl, kBase + 16, bl);
    (void)br.poll();
    (void)br.poll();
  }
  // memstats and gcController anywhere in the input (or partly outside it).
  const auto& ms_layouts = goruntime::all_memstats_layouts();
  const goruntime::MemStatsLayout& ml = ms_layouts[data[3] % ms_layouts.size()];
  (void)goruntime::read_memstats(mem, ml, kBase + data[4] * 64, kBase + data[5] * 8);
  // The heap: mheap_ and moduledata anywhere in the input; spans, specials,
  // objects and types wherever the bytes point (inside the input or not).
  const auto& hl = goruntime::all_heap_layouts();
  const goruntime::HeapLayout& h = hl[data[6] % hl.size()];
  goruntime::HeapSpanLimits hlim;
  hlim.max_spans = 4096;
  hlim.max_specials_per_span = 64;
  if (auto spans = goruntime::HeapSpans::read(mem, h, kBase + data[7] * 8 - 0x10000, hlim)) {
    auto sampled = spans->sampled_objects(mem, h, hlim);
    if (auto roots = goruntime::read_walk_roots(mem, h, kBase + data[8] * 8)) {
      goruntime::WalkBudget b;
      b.max_bytes = 1 << 20;
      b.max_objects = 4096;
      std::unordered_set<uint64_t> wanted;
      if (sampled)
        for (const auto& [obj, bucket] : *sampled) wanted.insert(obj);
      (void)goruntime::HeapWalker(mem, h, *spans, *roots, b).walk(wanted);
    }
  }
  return 0;
}
