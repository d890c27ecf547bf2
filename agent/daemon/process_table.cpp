#include "daemon/process_table.h"

#include <algorithm>

namespace leakhound::daemon {

void ProcessTable::put(ProcessEntry e) {
  std::lock_guard lock(mu_);
  entries_[e.pid] = std::move(e);
}

void ProcessTable::set_report(pid_t pid, std::shared_ptr<const report::Report> r, double now) {
  std::lock_guard lock(mu_);
  if (auto it = entries_.find(pid); it != entries_.end()) {
    it->second.report = std::move(r);
    it->second.report_at = now;
  }
}

void ProcessTable::set_shed(pid_t pid, std::string shed, std::string reason) {
  std::lock_guard lock(mu_);
  if (auto it = entries_.find(pid); it != entries_.end()) {
    it->second.shed = std::move(shed);
    it->second.shed_reason = std::move(reason);
  }
}

void ProcessTable::erase(pid_t pid) {
  std::lock_guard lock(mu_);
  entries_.erase(pid);
}

void ProcessTable::retire(pid_t pid, double now) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(pid);
  if (it == entries_.end()) return;
  while (!retired_.empty() &&
         (retired_.size() >= kRetired || retired_.front().first < now - kRetiredS))
    retired_.pop_front();
  retired_.emplace_back(now, std::move(it->second));
  entries_.erase(it);
}

bool ProcessTable::find_recent(pid_t pid, uint64_t start_time, ProcessEntry* out) const {
  std::lock_guard lock(mu_);
  auto same = [&](const ProcessEntry& e) {
    return e.pid == pid && (!start_time || !e.start_time || e.start_time == start_time);
  };
  if (auto it = entries_.find(pid); it != entries_.end() && same(it->second)) {
    *out = it->second;
    return true;
  }
  for (auto it = retired_.rbegin(); it != retired_.rend(); ++it) {
    if (same(it->second)) {
      *out = it->second;
      return true;
    }
  }
  return false;
}

void ProcessTable::set_oom_status(OomStatus s) {
  std::lock_guard lock(mu_);
  oom_status_ = std::move(s);
}

OomStatus ProcessTable::oom_status() const {
  std::lock_guard lock(mu_);
  return oom_status_;
}

bool ProcessTable::add_oom(OomRecord r) {
  std::lock_guard lock(mu_);
  const std::pair<pid_t, uint64_t> id{r.kill.pid, r.kill.start_time};
  if (std::find(oom_seen_.begin(), oom_seen_.end(), id) != oom_seen_.end()) return false;
  if (oom_seen_.size() >= kOomSeen) oom_seen_.pop_front();
  oom_seen_.push_back(id);
  const std::string constraint = probes::to_string(r.kill.constraint);
  auto it = std::find_if(oom_counts_.begin(), oom_counts_.end(), [&](const OomCount& c) {
    return c.exe == r.process.exe && c.ns == r.process.pod.ns && c.constraint == constraint;
  });
  if (it == oom_counts_.end()) {
    OomCount c{r.process.exe, r.process.pod.ns, constraint, 0};
    if (oom_counts_.size() >= kMaxOomCounts) c = OomCount{"(other)", "", constraint, 0};
    it = std::find_if(oom_counts_.begin(), oom_counts_.end(), [&](const OomCount& o) {
      return o.exe == c.exe && o.ns == c.ns && o.constraint == c.constraint;
    });
    if (it == oom_counts_.end()) it = oom_counts_.insert(oom_counts_.end(), std::move(c));
  }
  it->kills++;
  if (oom_status_.keep == 0) return true;
  while (ooms_.size() >= oom_status_.keep) ooms_.pop_front();
  ooms_.push_back(std::move(r));
  return true;
}

std::vector<OomRecord> ProcessTable::ooms() const {
  std::lock_guard lock(mu_);
  return {ooms_.rbegin(), ooms_.rend()};
}

std::vector<OomCount> ProcessTable::oom_counts() const {
  std::lock_guard lock(mu_);
  return oom_counts_;
}

std::vector<ProcessEntry> ProcessTable::list() const {
  std::lock_guard lock(mu_);
  std::vector<ProcessEntry> out;
  out.reserve(entries_.size());
  for (const auto& [pid, e] : entries_) out.push_back(e);
  return out;
}

bool ProcessTable::get(pid_t pid, ProcessEntry* out) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(pid);
  if (it == entries_.end()) return false;
  *out = it->second;
  return true;
}

AgentCounters ProcessTable::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

}  // namespace leakhound::daemon
