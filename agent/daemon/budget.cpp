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
  return std::max(o_.min_window_s, o_.window_s / std::ldexp(1.0, halvings_));
}

void Budget::forget(pid_t pid) {
  std::erase(native_shed_, pid);
  std::erase(detached_, pid);
}

BudgetAction Budget::tick(uint64_t memory_bytes, const std::vector<BudgetProcess>& procs) {
  memory_ = memory_bytes;
  over_ = memory_bytes > o_.budget_bytes;
  if (over_) {
    under_ticks_ = 0;
    if (recovered_) {  // taken back too soon: wait longer next time
      recover_wait_ = std::min(recover_wait_ * 2, kMaxRecoverWaitFactor * o_.recover_ticks);
      recovered_ = false;
    }
    return shed(procs);
  }
  const bool well_under =
      static_cast<double>(memory_bytes) < static_cast<double>(o_.budget_bytes) * o_.recover_ratio;
  if (!well_under) {  // the hysteresis band: hold
    under_ticks_ = 0;
    return {};
  }
  if (++under_ticks_ < recover_wait_) return {};
  under_ticks_ = 0;
  BudgetAction a = recover();
  if (a.kind != BudgetAction::Kind::None) recovered_ = true;
  return a;
}

BudgetAction Budget::shed(const std::vector<BudgetProcess>& procs) {
  using K = BudgetAction::Kind;
  if (procs.empty()) return {};  // nothing to shed: the daemon's own floor
  if (auto* p = least_growing(procs, [](const BudgetProcess& q) { return q.native; })) {
    native_shed_.push_back(p->pid);
    return {K::ShedNative, p->pid};
  }
  if (window_s() > o_.min_window_s) {
    ++halvings_;
    return {K::ShrinkWindow, 0};
  }
  if (auto* p = least_growing(procs, [](const BudgetProcess&) { return true; })) {
    std::erase(native_shed_, p->pid);  // a new session, if it comes back, starts whole
    detached_.push_back(p->pid);
    return {K::Detach, p->pid};
  }
  return {};
}

BudgetAction Budget::recover() {
  using K = BudgetAction::Kind;
  if (!detached_.empty()) {
    pid_t pid = detached_.back();
    detached_.pop_back();
    return {K::Readmit, pid};
  }
  if (halvings_ > 0) {
    --halvings_;
    return {K::GrowWindow, 0};
  }
  if (!native_shed_.empty()) {
    pid_t pid = native_shed_.back();
    native_shed_.pop_back();
    return {K::ResumeNative, pid};
  }
  return {};
}

}  // namespace leakhound::daemon
