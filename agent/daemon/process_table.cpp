#include "daemon/process_table.h"

namespace leakhound::daemon {

void ProcessTable::put(ProcessEntry e) {
  std::lock_guard lock(mu_);
  entries_[e.pid] = std::move(e);
}

void ProcessTable::set_report(pid_t pid, std::shared_ptr<const report::Report> r) {
  std::lock_guard lock(mu_);
  if (auto it = entries_.find(pid); it != entries_.end()) it->second.report = std::move(r);
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
