#include "goruntime/sampler.h"

#include <utility>

#include "goruntime/write_journal.h"
#include "target/process.h"
#include "util/log.h"

namespace leakhound::goruntime {

Result<SamplerControl> SamplerControl::open(const target::Process& proc,
                                            const target::ProcessMemory& mem, uint64_t rate_addr,
                                            uint64_t disable_addr) {
  SamplerControl s;
  s.proc_ = &proc;
  s.mem_ = &mem;
  s.start_time_ = proc.start_time();
  s.rate_addr_ = rate_addr;
  auto rate = mem.read_value<int64_t>(rate_addr);
  if (!rate) return make_error("cannot read runtime.MemProfileRate: {}", rate.error().message);
  s.original_ = *rate;
  if (disable_addr != 0) {
    auto d = mem.read_value<uint8_t>(disable_addr);
    if (d) s.linker_disabled_ = *d != 0;
  }
  // A leakhound that was killed left its rate in place: the journal knows the
  // program's own value, and this session restores it on exit.
  if (auto rec = load_record(proc.pid(), s.start_time_)) {
    const JournaledWrite* w = rec->find(WriteKind::MemProfileRate);
    if (w && w->addr == rate_addr && w->written == *rate && w->written != 0) {
      s.original_ = w->original;
      s.written_ = w->written;
      s.left_over_ = true;
    }
  }
  return s;
}

SamplerControl::SamplerControl(SamplerControl&& o) noexcept
    : proc_(o.proc_),
      mem_(o.mem_),
      rate_addr_(o.rate_addr_),
      original_(o.original_),
      written_(std::exchange(o.written_, 0)),
      start_time_(o.start_time_),
      linker_disabled_(o.linker_disabled_),
      left_over_(o.left_over_) {}

SamplerControl::~SamplerControl() {
  undo_in_destructor([this] { return restore(); });
}

Result<int64_t> SamplerControl::current_rate() const {
  return mem_->read_value<int64_t>(rate_addr_);
}

Result<void> SamplerControl::enable(int64_t rate) {
  if (original_ != 0 || written_ != 0) return {};
  // Journal first: if leakhound dies right after the write, the record exists.
  if (auto j = journal_write(mem_->pid(), start_time_,
                             {WriteKind::MemProfileRate, rate_addr_, 8, original_, rate});
      !j)
    spdlog::warn(
        "{}: if leakhound is killed, `leakhound restore {}` cannot know the original "
        "rate",
        j.error().message, mem_->pid());
  if (auto r = mem_->write_value(rate_addr_, rate); !r)
    return make_error("cannot switch the heap sampler on: {}", r.error().message);
  written_ = rate;
  spdlog::warn(
      "PID {}: heap sampler was off: switched it on (MemProfileRate={}) while leakhound "
      "watches; it is restored on exit",
      mem_->pid(), rate);
  return {};
}

Result<void> SamplerControl::retune(int64_t rate) {
  if (written_ == 0) return make_error("MemProfileRate is the program's own: left as it is");
  if (rate == written_) return {};
  auto cur = current_rate();
  if (!cur) return make_error("cannot read MemProfileRate: {}", cur.error().message);
  if (*cur != written_)
    return make_error("the target changed MemProfileRate to {}: left as it is", *cur);
  // Journal first, as in enable(). Killed between the two, the journal names
  // a rate that is not in place: `restore` then only undoes what it can prove
  // (a sampler the linker switched off goes back to 0).
  if (auto j = journal_write(mem_->pid(), start_time_,
                             {WriteKind::MemProfileRate, rate_addr_, 8, original_, rate});
      !j)
    spdlog::warn("{}", j.error().message);
  if (auto r = mem_->write_value(rate_addr_, rate); !r)
    return make_error("cannot change MemProfileRate: {}", r.error().message);
  spdlog::info("PID {}: MemProfileRate {} -> {} (sample budget)", mem_->pid(), written_, rate);
  written_ = rate;
  return {};
}

Result<void> SamplerControl::restore() {
  if (written_ == 0) return {};
  int64_t wrote = std::exchange(written_, 0);
  if (!proc_->alive()) {
    // Its memory is gone with it; the journal entry describes nothing now.
    journal_forget(mem_->pid(), start_time_, WriteKind::MemProfileRate);
    spdlog::debug("PID {} exited: heap sampler left as it was", mem_->pid());
    return {};
  }
  auto cur = current_rate();
  if (!cur) return make_error("cannot restore the heap sampler: {}", cur.error().message);
  if (*cur != wrote) {
    spdlog::warn("the target changed MemProfileRate to {} meanwhile; leaving it as it is", *cur);
    journal_forget(mem_->pid(), start_time_, WriteKind::MemProfileRate);
    return {};
  }
  if (auto r = mem_->write_value(rate_addr_, original_); !r)
    return make_error("cannot restore MemProfileRate={}: {}", original_, r.error().message);
  journal_forget(mem_->pid(), start_time_, WriteKind::MemProfileRate);
  spdlog::info("heap sampler restored (MemProfileRate={})", original_);
  return {};
}

}  // namespace leakhound::goruntime
