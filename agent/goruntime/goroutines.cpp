#include "goruntime/goroutines.h"

#include <algorithm>
#include <cstring>

#include "binary/byte_reader.h"

namespace leakhound::goruntime {
namespace {

template <typename T>
T load(const uint8_t* raw, uint32_t off) {
  T v;
  std::memcpy(&v, raw + off, sizeof v);
  return v;
}

// Goroutine stacks are at least 2 KiB and at most 1 GiB (runtime.maxstacksize
// on 64-bit); anything else is a torn or garbage header.
constexpr uint64_t kMinStack = 2048;
constexpr uint64_t kMaxStack = 1ULL << 30;

}  // namespace

GoroutineReader::GoroutineReader(const target::MemoryReader& mem, GLayout layout,
                                 uint64_t allgs_addr, uint64_t allglen_addr, AllgLimits limits,
                                 StackArch arch)
    : mem_(mem),
      layout_(std::move(layout)),
      allgs_addr_(allgs_addr),
      allglen_addr_(allglen_addr),
      limits_(limits),
      arch_(std::move(arch)) {}

bool GoroutineReader::parse(const uint8_t* raw, uint64_t addr, Goroutine& g) const {
  const GLayout& l = layout_;
  g.g = addr;
  g.status = load<uint32_t>(raw, l.atomicstatus) & ~kGScanBit;
  g.goid = load<uint64_t>(raw, l.goid);
  g.stack_lo = load<uint64_t>(raw, l.stack_lo);
  g.stack_hi = load<uint64_t>(raw, l.stack_hi);
  g.wait_reason = load<uint8_t>(raw, l.waitreason);
  g.wait_since_ns = load<int64_t>(raw, l.waitsince);
  g.parent_goid = l.parent_goid == kAbsent ? 0 : load<uint64_t>(raw, l.parent_goid);
  g.gopc = load<uint64_t>(raw, l.gopc);
  g.startpc = load<uint64_t>(raw, l.startpc);
  g.ancestors = l.ancestors ? load<uint64_t>(raw, l.ancestors) : 0;
  auto status = static_cast<GStatus>(g.status);
  if (status == GStatus::Syscall) {
    // reentersyscall saved where the goroutine entered the kernel (or C);
    // g.sched may since have been reused by asmcgocall.
    g.pc = load<uint64_t>(raw, l.syscallpc);
    g.sp = load<uint64_t>(raw, l.syscallsp);
    g.bp = load<uint64_t>(raw,
                          l.syscallbp == kAbsent ? l.sched_bp : static_cast<uint32_t>(l.syscallbp));
  } else {
    g.pc = load<uint64_t>(raw, l.sched_pc);
    g.sp = load<uint64_t>(raw, l.sched_sp);
    g.bp = load<uint64_t>(raw, l.sched_bp);
  }
  switch (status) {
    case GStatus::Runnable:
    case GStatus::Running:
    case GStatus::Syscall:
    case GStatus::Waiting:
    case GStatus::CopyStack:
    case GStatus::Preempted:
    case GStatus::Leaked:
      break;
    default:
      return false;  // idle, dead, or not a status at all
  }
  uint64_t size = g.stack_hi - g.stack_lo;
  if (g.stack_hi <= g.stack_lo || size < kMinStack || size > kMaxStack) return false;
  return g.goid != 0 && g.startpc != 0;
}

Result<AllgSnapshot> GoroutineReader::read() const {
  struct SliceHeader {
    uint64_t ptr, len, cap;
  };
  auto hdr = mem_.read_value<SliceHeader>(allgs_addr_);
  if (!hdr) return make_error("cannot read runtime.allgs: {}", hdr.error().message);
  uint64_t n = hdr->len;
  AllgSnapshot snap;
  if (allglen_addr_) {
    // allgadd stores allglen after appending: never more than the slice holds
    // (a larger value means a torn read of a slice being reallocated).
    auto len = mem_.read_value<uint64_t>(allglen_addr_);
    if (!len) return make_error("cannot read runtime.allglen: {}", len.error().message);
    n = std::min(n, *len);
  }
  if (hdr->len > hdr->cap || hdr->ptr == 0 || hdr->ptr % 8 != 0)
    return make_error("runtime.allgs is not a valid slice (ptr {:#x} len {} cap {})", hdr->ptr,
                      hdr->len, hdr->cap);
  if (n > limits_.max_goroutines)
    return make_error("runtime.allgs holds {} goroutines, more than the limit of {}", n,
                      limits_.max_goroutines);
  snap.allglen = n;
  std::vector<uint64_t> ptrs(n);
  if (n) {
    if (auto r = mem_.read(hdr->ptr, ptrs.data(), n * 8); !r)
      return make_error("cannot read the {} entries of runtime.allgs: {}", n, r.error().message);
  }

  const uint32_t size = layout_.read_size();
  std::vector<uint8_t> buf(static_cast<size_t>(n) * size);
  std::vector<target::ReadRequest> reqs;
  reqs.reserve(n);
  for (uint64_t i = 0; i < n; i++) {
    if (ptrs[i] == 0 || ptrs[i] % 8 != 0) {
      snap.rejected++;
      continue;
    }
    reqs.push_back({ptrs[i], buf.data() + reqs.size() * size, size});
  }
  if (auto r = mem_.read_many(reqs); !r) return r.error();
  for (size_t i = 0; i < reqs.size(); i++) {
    if (!reqs[i].ok) {
      snap.rejected++;
      continue;
    }
    Goroutine g;
    if (parse(static_cast<const uint8_t*>(reqs[i].dst), reqs[i].addr, g)) {
      snap.live.push_back(g);
    } else if (g.status != static_cast<uint32_t>(GStatus::Dead) &&
               g.status != static_cast<uint32_t>(GStatus::DeadExtra) &&
               g.status != static_cast<uint32_t>(GStatus::Idle)) {
      snap.rejected++;
    }
  }
  return snap;
}

namespace {

// The top of a goroutine's stack, read in one go (frames beyond it are read one
// by one). Every address is the target's data: bounds are overflow-safe.
class StackView {
 public:
  StackView(const target::MemoryReader& mem, uint64_t lo, uint64_t hi, size_t window) : mem_(mem) {
    if (lo >= hi) return;
    lo_ = lo & ~7ULL;
    bytes_.resize(std::min<uint64_t>(window, hi - lo_));
    if (!mem_.read(lo_, bytes_.data(), bytes_.size())) bytes_.clear();
  }
  bool read(uint64_t addr, uint64_t* out, size_t words) const {
    const size_t n = words * 8;
    if (addr >= lo_ && binary::detail::in_bounds(addr - lo_, n, bytes_.size())) {
      std::memcpy(out, bytes_.data() + (addr - lo_), n);
      return true;
    }
    return mem_.read(addr, out, n).ok();
  }

 private:
  const target::MemoryReader& mem_;
  uint64_t lo_ = 0;
  std::vector<uint8_t> bytes_;
};

}  // namespace

bool GoroutineReader::unwind_by_sp(const Goroutine& g, std::vector<uint64_t>& pcs,
                                   std::vector<uint64_t>& tops) const {
  // As the runtime's unwinder does on link-register machines
  // (runtime/traceback.go): a frame's caller resumes at the word at its SP
  // (the LR its prologue saved, or that an injected call such as
  // asyncPreempt pushed for a frameless function) with SP + the pcsp delta at
  // its pc. Only a frameless innermost function keeps its return address in
  // LR (gobuf.lr: a goroutine that never ran); a goroutine never parks or
  // enters a syscall from one: the walk stops there.
  StackView stack(mem_, std::max(g.stack_lo, g.sp), g.stack_hi, limits_.stack_window);
  uint64_t pc = g.pc, sp = g.sp;
  for (bool innermost = true; pcs.size() < limits_.max_depth; innermost = false) {
    auto fs = arch_.frame_size(pc);
    if (!fs) return !innermost;
    pcs.push_back(pc);
    // goexit (a stack's end); past a function that wrote SP the runtime
    // itself does not trust pcsp.
    if (fs->top_frame || (fs->sp_write && !innermost) || (innermost && fs->sp_delta == 0)) break;
    const auto delta = static_cast<uint64_t>(fs->sp_delta);
    if (sp < g.stack_lo || sp % 8 != 0 ||
        !binary::detail::in_bounds(sp, std::max<uint64_t>(delta, 8), g.stack_hi))
      break;
    uint64_t lr = 0;
    if (!stack.read(sp, &lr, 1) || lr == 0) break;
    sp += delta;
    tops.push_back(sp);  // this frame is [its SP, its caller's)
    pc = lr;
  }
  return true;
}

std::vector<uint64_t> GoroutineReader::unwind(const Goroutine& g,
                                              std::vector<uint64_t>* tops_out) const {
  std::vector<uint64_t> pcs, tops;
  auto done = [&] {
    // The outermost frame reaches the stack's top.
    tops.resize(pcs.size(), g.stack_hi);
    if (tops_out) *tops_out = std::move(tops);
    return pcs;
  };
  if (static_cast<GStatus>(g.status) == GStatus::Running || g.pc == 0) return done();
  if (arch_.link_register && arch_.frame_size && unwind_by_sp(g, pcs, tops)) return done();
  pcs.clear();
  tops.clear();
  pcs.push_back(g.pc);
  // A frame record {caller's FP, return PC} at `at` ends the frame below it:
  // the caller's frame starts past the record (amd64: where the return PC
  // was pushed).
  auto push = [&](uint64_t at, uint64_t ret) {
    tops.push_back(at + 16);
    pcs.push_back(ret);
  };
  // On arm64 the innermost frame record is at SP-8 (mcall and reentersyscall
  // save that FP); on amd64 frame records are at or above SP.
  const uint64_t below = arch_.link_register ? 8 : 0;
  const uint64_t lo = std::max(g.stack_lo, g.sp >= below ? g.sp - below : 0);
  StackView stack(mem_, lo, g.stack_hi, limits_.stack_window);
  auto status = static_cast<GStatus>(g.status);
  if (!arch_.link_register && status != GStatus::Syscall && layout_.go_minor >= 21 &&
      g.sp >= g.stack_lo && g.bp > g.sp && g.bp < g.stack_hi) {
    // Parked through mcall (gopark, gosched, preemption): since Go 1.21 amd64's
    // mcall saves its caller's *caller's* frame pointer (CL 476235), so the
    // parking function's own return PC is in the frame record between sp and
    // bp that links to bp. Up to 1.20 it saved its caller's own BP, whose frame
    // record the walk below starts from. reentersyscall saves a consistent
    // pc/bp pair. Every bound is overflow-safe: sp and bp are the target's data.
    const uint64_t end = g.sp + std::min<uint64_t>(1024, g.bp - g.sp);  // <= bp
    const uint64_t first = g.sp + (8 - g.sp % 8) % 8;  // if it wraps, it is < sp: no scan
    for (uint64_t a = first; a >= g.sp && binary::detail::in_bounds(a, 16, end); a += 8) {
      uint64_t rec[2];
      if (!stack.read(a, rec, 2)) break;
      if (rec[0] == g.bp) {
        if (rec[1]) push(a, rec[1]);
        break;
      }
    }
  }
  uint64_t fp = g.bp;
  while (pcs.size() < limits_.max_depth) {
    // Frame pointers point into the goroutine's own stack and strictly up it.
    if (fp < lo || !binary::detail::in_bounds(fp, 16, g.stack_hi) || fp % 8 != 0) break;
    uint64_t rec[2];
    if (!stack.read(fp, rec, 2)) break;
    if (rec[1] == 0) break;
    push(fp, rec[1]);
    if (rec[0] <= fp) break;
    fp = rec[0];
  }
  return done();
}

std::string_view GoroutineReader::state(const Goroutine& g) const {
  switch (static_cast<GStatus>(g.status)) {
    case GStatus::Runnable:
    case GStatus::Preempted:
      return "runnable";
    case GStatus::Running:
      return "running";
    case GStatus::Syscall:
      return "syscall";
    case GStatus::CopyStack:
      return "copystack";
    case GStatus::Leaked:  // still blocked where it was: the wait reason says on what
    case GStatus::Waiting:
      if (g.wait_reason < layout_.wait_reasons.size() &&
          !layout_.wait_reasons[g.wait_reason].empty())
        return layout_.wait_reasons[g.wait_reason];
      return "waiting";
    default:
      return "unknown";
  }
}

bool is_system_entry(std::string_view entry) {
  // The runtime's own rule (isSystemGoroutine, runtime/traceback.go): the
  // "runtime." prefix only, unlike is_runtime_function, so that goroutine
  // counts match runtime.NumGoroutine.
  if (!entry.starts_with("runtime.")) return false;
  // runtime.main runs main.main; coroutines (iter.Pull) run user code.
  return entry != "runtime.main" && entry != "runtime.corostart";
}

}  // namespace leakhound::goruntime
