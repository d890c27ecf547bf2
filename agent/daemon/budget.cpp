#include "daemon/budget.h"

#include <algorithm>
#include <cmath>

namespace leakhound::daemon {
namespace {

constexpr int kMaxRecoverWaitFactor = 16;

// The process that has gone longest without growing (ties: the lower PID).
template <typename Pred>
const BudgetProcess* least_growing(const std::vector<BudgetProcess>& procs, Pred wanted) {
  const BudgetProcess* best = nullptr;
  for (const BudgetProcess& p : procs) {
    if (!wanted(p)) continue;
    if (!best || p.last_growth < best->last_growth ||
        (p.last_growth == best->last_growth && p.pid < best->pid))
      best = &p;
  }
  return best;
}

}  // namespace

std::string_view shed_reason(BudgetAction::Kind k) {
  switch (k) {
    case BudgetAction::Kind::ShedNative:
      return "native";
    case BudgetAction::Kind::ShrinkWindow:
      return "window";
    case BudgetAction::Kind::Detach:
      return "detach";
    default:
      return "";
  }
}

Budget::Budget(BudgetOptions o) : o_(o), recover_wait_(std::max(1, o.recover_ticks)) {}

double Budget::window_s() const {
  if (o_.window_s <= o_.min_window_s) return o_.window_s;
  return std::max(o_.min_window_s,
                  o_.window_s / std::ldexp(1.0, static_cast<int>(halvings_.size())));
}

void Budget::forget(pid_t pid) {
  std::erase_if(native_shed_, [&](const Step& s) { return s.pid == pid; });
  std::erase_if(detached_, [&](const Step& s) { return s.pid == pid; });
}

Budget::Step* Budget::step(const BudgetAction& a) {
  using K = BudgetAction::Kind;
  auto find = [&](auto& steps) -> Step* {
    for (Step& s : steps)
      if (s.pid == a.pid) return &s;
    return nullptr;
  };
  switch (a.kind) {
    case K::ShedNative:
      return find(native_shed_);
    case K::ShrinkWindow:
      return halvings_.empty() ? nullptr : &halvings_.back();
    case K::Detach:
      return find(detached_);
    default:
      return nullptr;
  }
}

void Budget::measure(uint64_t memory_bytes) {
  if (last_shed_.kind == BudgetAction::Kind::None) return;
  // Gone since (the process exited): nothing to remember.
  if (Step* s = step(last_shed_)) {
    s->freed = memory_ > memory_bytes ? memory_ - memory_bytes : 0;
    s->after = memory_bytes;
    if (last_shed_.kind == BudgetAction::Kind::Detach)
      most_detach_freed_ = std::max(most_detach_freed_, s->freed);
  }
  last_shed_ = {};
}

uint64_t Budget::next_cost() const {
  const Step* s = nullptr;
  if (!detached_.empty()) {
    s = &detached_.back();
    // Refused, never attached: as much as the most a detach freed.
    if (s->freed == kUnmeasured) return most_detach_freed_;
  } else if (!halvings_.empty()) {
    s = &halvings_.back();
  } else if (!native_shed_.empty()) {
    s = &native_shed_.back();
  }
  if (!s || s->freed == kUnmeasured) return 0;
  // The daemon's memory fell since: the work the step held shrank with it
  // (smaller heaps, fewer stacks). Without this, a window halved while every
  // series was large would never come back.
  if (memory_ < s->after)
    return static_cast<uint64_t>(static_cast<double>(s->freed) *
                                 (static_cast<double>(memory_) / static_cast<double>(s->after)));
  return s->freed;
}

BudgetAction Budget::tick(uint64_t memory_bytes, const std::vector<BudgetProcess>& procs) {
  measure(memory_bytes);
  memory_ = memory_bytes;
  over_ = memory_bytes > o_.budget_bytes;
  if (over_) {
    under_ticks_ = 0;
    if (recovered_) {  // taken back too soon: wait longer next time
      recover_wait_ = std::min(recover_wait_ * 2, kMaxRecoverWaitFactor * o_.recover_ticks);
      recovered_ = false;
    }
    last_shed_ = shed(procs);
    return last_shed_;
  }
  const bool well_under =
      static_cast<double>(memory_bytes) < static_cast<double>(o_.budget_bytes) * o_.recover_ratio;
  if (!well_under) {  // the hysteresis band: hold
    under_ticks_ = 0;
    return {};
  }
  if (++under_ticks_ < recover_wait_) return {};
  // Waits, well under, until what the step freed fits: taking it back would
  // only push the daemon over again.
  if (static_cast<double>(memory_bytes + next_cost()) >
      static_cast<double>(o_.budget_bytes) * o_.land_ratio)
    return {};
  under_ticks_ = 0;
  BudgetAction a = recover();
  if (a.kind != BudgetAction::Kind::None) recovered_ = true;
  return a;
}

BudgetAction Budget::shed(const std::vector<BudgetProcess>& procs) {
  using K = BudgetAction::Kind;
  if (procs.empty()) return {};  // nothing to shed: the daemon's own floor
  if (auto* p = least_growing(procs, [](const BudgetProcess& q) { return q.native; })) {
    native_shed_.push_back({p->pid, kUnmeasured});
    return {K::ShedNative, p->pid};
  }
  if (window_s() > o_.min_window_s) {
    halvings_.push_back({0, kUnmeasured});
    return {K::ShrinkWindow, 0};
  }
  if (auto* p = least_growing(procs, [](const BudgetProcess&) { return true; })) {
    const pid_t pid = p->pid;
    // A new session, if it comes back, starts whole.
    std::erase_if(native_shed_, [&](const Step& s) { return s.pid == pid; });
    detached_.push_back({pid, kUnmeasured});
    return {K::Detach, pid};
  }
  return {};
}

BudgetAction Budget::recover() {
  using K = BudgetAction::Kind;
  if (!detached_.empty()) {
    pid_t pid = detached_.back().pid;
    detached_.pop_back();
    return {K::Readmit, pid};
  }
  if (!halvings_.empty()) {
    halvings_.pop_back();
    return {K::GrowWindow, 0};
  }
  if (!native_shed_.empty()) {
    pid_t pid = native_shed_.back().pid;
    native_shed_.pop_back();
    return {K::ResumeNative, pid};
  }
  return {};
}

}  // namespace leakhound::daemon
