#include "goruntime/leak_check.h"

#include <utility>

#include "goruntime/write_journal.h"
#include "util/log.h"

namespace leakhound::goruntime {

Result<GoroutineLeakCheck> GoroutineLeakCheck::open(const target::Process& proc,
                                                    const target::ProcessMemory& mem,
                                                    uint64_t pending_addr, uint64_t count_addr) {
  GoroutineLeakCheck c;
  c.proc_ = &proc;
  c.mem_ = &mem;
  c.pending_addr_ = pending_addr;
  c.count_addr_ = count_addr;
  c.start_time_ = proc.start_time();
  auto p = c.pending();
  if (!p) return p.error();
  auto n = c.count();
  if (!n) return n.error();
  // Hostile memory: a flag that is neither 0 nor 1, or a negative count, is
  // not the runtime's; nothing is written there.
  if (*n < 0) return make_error("runtime.work.goroutineLeak.count reads {}: not a count", *n);
  if (auto rec = load_record(proc.pid(), c.start_time_)) {
    const JournaledWrite* w = rec->find(WriteKind::GoroutineLeakPending);
    if (w && w->addr == pending_addr) c.owned_ = true;  // a killed leakhound's
  }
  return c;
}

GoroutineLeakCheck::GoroutineLeakCheck(GoroutineLeakCheck&& o) noexcept
    : proc_(o.proc_),
      mem_(o.mem_),
      pending_addr_(o.pending_addr_),
      count_addr_(o.count_addr_),
      start_time_(o.start_time_),
      owned_(std::exchange(o.owned_, false)),
      triggers_(o.triggers_) {}

GoroutineLeakCheck::~GoroutineLeakCheck() {
  undo_in_destructor([this] { return restore(); });
}

Result<bool> GoroutineLeakCheck::pending() const {
  auto v = mem_->read_value<uint8_t>(pending_addr_);
  if (!v) return make_error("cannot read runtime.work.goroutineLeak: {}", v.error().message);
  if (*v > 1)
    return make_error("runtime.work.goroutineLeak.pending reads {}: not a bool", unsigned{*v});
  return *v == 1;
}

Result<int64_t> GoroutineLeakCheck::count() const {
  auto v = mem_->read_value<int64_t>(count_addr_);
  if (!v) return make_error("cannot read runtime.work.goroutineLeak.count: {}", v.error().message);
  return *v;
}

Result<void> GoroutineLeakCheck::trigger() {
  // Journal first: if leakhound dies right after the write, the entry exists.
  if (auto j = journal_write(mem_->pid(), start_time_,
                             {WriteKind::GoroutineLeakPending, pending_addr_, 1, 0, 1});
      !j)
    return make_error(
        "{}: not asking for a goroutine leak check that `leakhound restore` could "
        "not undo",
        j.error().message);
  owned_ = true;
  if (auto w = mem_->write_value<uint8_t>(pending_addr_, 1); !w)
    return make_error("cannot request the runtime's goroutine leak check: {}", w.error().message);
  triggers_++;
  return {};
}

Result<void> GoroutineLeakCheck::restore() {
  if (!std::exchange(owned_, false)) return {};
  if (!proc_->alive()) {
    journal_forget(mem_->pid(), start_time_, WriteKind::GoroutineLeakPending);
    return {};
  }
  auto undone = undo_goroutine_leak_request(*mem_, pending_addr_);
  journal_forget(mem_->pid(), start_time_, WriteKind::GoroutineLeakPending);
  if (!undone) return undone.error();
  if (*undone) spdlog::debug("PID {}: goroutine leak check request withdrawn", mem_->pid());
  return {};
}

Result<bool> undo_goroutine_leak_request(const target::ProcessMemory& mem, uint64_t pending_addr) {
  auto v = mem.read_value<uint8_t>(pending_addr);
  if (!v) return make_error("cannot read runtime.work.goroutineLeak: {}", v.error().message);
  if (*v != 1) return false;  // consumed by a GC cycle (or never set): nothing to undo
  if (auto w = mem.write_value<uint8_t>(pending_addr, 0); !w)
    return make_error("cannot withdraw the goroutine leak check request: {}", w.error().message);
  return true;
}

}  // namespace leakhound::goruntime
