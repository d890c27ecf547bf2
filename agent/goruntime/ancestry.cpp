#include "goruntime/ancestry.h"

#include <cstring>
#include <utility>

#include "goruntime/write_journal.h"
#include "util/log.h"

namespace leakhound::goruntime {
namespace {

// runtime.ancestorInfo {pcs []uintptr; goid uint64; gopc uintptr}, the same
// in 1.18-1.27 (runtime2.go).
constexpr size_t kAncestorInfoSize = 40;
// saveAncestors keeps at most tracebackancestors records of at most
// tracebackInnerFrames (50) PCs: anything larger is not a live record.
constexpr uint64_t kMaxAncestors = 64;
constexpr uint64_t kMaxPcs = 64;

uint64_t load64(const uint8_t* p) {
  uint64_t v = 0;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace

Result<AncestryControl> AncestryControl::open(const target::Process& proc,
                                              const target::ProcessMemory& mem, uint64_t addr) {
  AncestryControl c;
  c.proc_ = &proc;
  c.mem_ = &mem;
  c.addr_ = addr;
  c.start_time_ = proc.start_time();
  auto v = mem.read_value<int32_t>(addr);
  if (!v) return make_error("cannot read runtime.debug.tracebackancestors: {}", v.error().message);
  c.original_ = *v;
  if (auto rec = load_record(proc.pid(), c.start_time_)) {
    const JournaledWrite* w = rec->find(WriteKind::TracebackAncestors);
    if (w && w->addr == addr && w->written == *v && w->written != 0) {
      c.original_ = static_cast<int32_t>(w->original);
      c.written_ = static_cast<int32_t>(w->written);
    }
  }
  return c;
}

AncestryControl::AncestryControl(AncestryControl&& o) noexcept
    : proc_(o.proc_),
      mem_(o.mem_),
      addr_(o.addr_),
      start_time_(o.start_time_),
      original_(o.original_),
      written_(std::exchange(o.written_, 0)) {}

AncestryControl::~AncestryControl() {
  undo_in_destructor([this] { return restore(); });
}

Result<void> AncestryControl::enable(int32_t depth) {
  if (written_ == depth || (written_ == 0 && original_ >= depth)) return {};
  // Journal first: if leakhound dies right after the write, the entry exists.
  if (auto j = journal_write(mem_->pid(), start_time_,
                             {WriteKind::TracebackAncestors, addr_, 4, original_, depth});
      !j)
    return make_error(
        "{}: not changing tracebackancestors, which `leakhound restore` could not "
        "undo",
        j.error().message);
  if (auto w = mem_->write_value<int32_t>(addr_, depth); !w)
    return make_error("cannot set tracebackancestors: {}", w.error().message);
  written_ = depth;
  spdlog::warn(
      "PID {}: goroutines created from now on keep their creators' stacks (tracebackancestors "
      "{} -> {}) while leakhound watches; restored on exit",
      mem_->pid(), original_, depth);
  return {};
}

Result<void> AncestryControl::restore() {
  if (written_ == 0) return {};
  const int32_t wrote = std::exchange(written_, 0);
  if (!proc_->alive()) {
    journal_forget(mem_->pid(), start_time_, WriteKind::TracebackAncestors);
    return {};
  }
  auto undone = undo_traceback_ancestors(*mem_, addr_, original_, wrote);
  if (!undone) return undone.error();
  if (!*undone)
    spdlog::warn("the target changed tracebackancestors meanwhile; leaving it as it is");
  journal_forget(mem_->pid(), start_time_, WriteKind::TracebackAncestors);
  return {};
}

Result<bool> undo_traceback_ancestors(const target::ProcessMemory& mem, uint64_t addr,
                                      int32_t original, int32_t written) {
  auto cur = mem.read_value<int32_t>(addr);
  if (!cur) return make_error("cannot read tracebackancestors: {}", cur.error().message);
  if (*cur != written) return false;
  if (auto w = mem.write_value<int32_t>(addr, original); !w)
    return make_error("cannot restore tracebackancestors={}: {}", original, w.error().message);
  return true;
}

Result<std::vector<Ancestor>> read_ancestors(const target::MemoryReader& mem, uint64_t ptr) {
  std::vector<Ancestor> out;
  if (ptr == 0) return out;
  uint8_t slice[24];
  if (auto r = mem.read(ptr, slice, sizeof slice); !r) return r.error();
  const uint64_t data = load64(slice), len = load64(slice + 8), cap = load64(slice + 16);
  if (len > cap || len > kMaxAncestors || (len && data == 0))
    return make_error("g.ancestors at {:#x}: not a slice of ancestors (len {}, cap {})", ptr, len,
                      cap);
  std::vector<uint8_t> infos(len * kAncestorInfoSize);
  if (len)
    if (auto r = mem.read(data, infos.data(), infos.size()); !r) return r.error();
  for (uint64_t i = 0; i < len; i++) {
    const uint8_t* p = infos.data() + i * kAncestorInfoSize;
    const uint64_t pcs = load64(p), n = load64(p + 8), ncap = load64(p + 16);
    if (n > ncap || n > kMaxPcs || (n && pcs == 0))
      return make_error("g.ancestors[{}]: not a PC slice (len {}, cap {})", i, n, ncap);
    Ancestor a{load64(p + 24), load64(p + 32), std::vector<uint64_t>(n)};
    if (n)
      if (auto r = mem.read(pcs, a.pcs.data(), n * 8); !r) return r.error();
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace leakhound::goruntime
