// A host without root, /proc or sessions for the daemon's tests: processes
// are table rows, and the daemon's own memory is a model of the work it holds
// (a base, plus each session's cost scaled by the window it keeps, plus each
// native tracking's), so the memory budget is tested in a closed loop.
#pragma once

#include <map>
#include <set>

#include "daemon/watcher.h"

namespace leakhound::daemon {

struct FakeProcess {
  std::string exe;
  Candidate::Kind kind = Candidate::Kind::Go;
  uint64_t start_time = 1;
  double age_s = 10;
  bool alive = true;
  std::string ns;
  bool cgo = false;      // native tracking runs in its session
  bool growing = false;  // its reports have a growing heap finding
};

struct Log {
  std::map<pid_t, int> opened, finished, polled, leak_checks, native_shed, native_resumed;
};

struct MemoryModel {
  uint64_t base = 20 << 20;
  uint64_t per_session = 10 << 20;  // at the full window
  uint64_t per_native = 8 << 20;
  double window_s = 600;
};

class FakeWatch;

class FakeHost final : public Host {
 public:
  std::map<pid_t, FakeProcess> procs;
  std::set<pid_t> fail_open;
  Log log;
  MemoryModel mem;
  std::set<const FakeWatch*> open_watches;
  double unix = 1e9;  // unix_now(): attach times, last growth
  double now = 1000;  // the schedules' clock, moved by the tests
  int released = 0;

  pid_t self() const override { return 1; }
  std::vector<pid_t> scan() override {
    std::vector<pid_t> v;
    for (const auto& [pid, p] : procs)
      if (p.alive) v.push_back(pid);
    return v;
  }
  const FakeProcess* live(pid_t pid) const {
    auto it = procs.find(pid);
    return it == procs.end() || !it->second.alive ? nullptr : &it->second;
  }
  std::optional<uint64_t> start_time(pid_t pid) override {
    auto* p = live(pid);
    return p ? std::optional<uint64_t>(p->start_time) : std::nullopt;
  }
  double age_s(pid_t pid) override {
    auto* p = live(pid);
    return p ? p->age_s : -1;
  }
  std::optional<Candidate> describe(pid_t pid) override {
    auto* p = live(pid);
    if (!p) return std::nullopt;
    return Candidate{p->exe, p->start_time, p->kind};
  }
  target::PodIdentity pod(pid_t pid) override {
    target::PodIdentity id;
    id.ns = procs[pid].ns;
    return id;
  }
  Result<std::unique_ptr<Watch>> open(const collect::SessionOptions& so) override;
  double unix_now() override { return unix; }
  double monotonic_s() override { return now; }
  uint64_t self_memory() override;
  void release_memory() override { ++released; }
};

class FakeWatch final : public Watch {
 public:
  FakeWatch(pid_t pid, FakeHost* host)
      : pid_(pid), host_(host), p_(&host->procs[pid]), native_(p_->cgo) {
    host_->open_watches.insert(this);
  }
  ~FakeWatch() override { host_->open_watches.erase(this); }
  bool poll() override {
    host_->log.polled[pid_]++;
    return p_->alive;
  }
  bool alive() const override { return p_->alive; }
  void trim(double keep_s) override { kept_s_ = keep_s; }  // the series regrow at once
  report::Report snapshot() override {
    report::Report r;
    if (p_->growing) {
      r.heap.emplace_back();
      r.heap.back().trend.verdict = detect::Verdict::Growing;
    }
    return r;
  }
  void finish() override {
    host_->log.finished[pid_]++;
    finished_ = true;
  }
  double elapsed_s() const override { return 1; }
  std::string go_version() const override {
    return p_->kind == Candidate::Kind::Go ? "go1.26.8" : "";
  }
  bool request_leak_check() override {
    host_->log.leak_checks[pid_]++;
    return true;
  }
  bool native() const override { return native_; }
  void shed_native() override {
    host_->log.native_shed[pid_]++;
    native_ = false;
  }
  bool resume_native() override {
    host_->log.native_resumed[pid_]++;
    native_ = true;
    return true;
  }
  // The bytes this session holds in the model.
  uint64_t bytes() const {
    if (finished_) return 0;
    const double share = std::min(1.0, kept_s_ / host_->mem.window_s);
    return static_cast<uint64_t>(static_cast<double>(host_->mem.per_session) * share) +
           (native_ ? host_->mem.per_native : 0);
  }

 private:
  pid_t pid_;
  FakeHost* host_;
  FakeProcess* p_;
  bool native_;
  bool finished_ = false;
  double kept_s_ = 1e18;
};

inline Result<std::unique_ptr<Watch>> FakeHost::open(const collect::SessionOptions& so) {
  log.opened[so.pid]++;
  if (fail_open.count(so.pid)) return make_error("cannot attach");
  return std::unique_ptr<Watch>(std::make_unique<FakeWatch>(so.pid, this));
}

inline uint64_t FakeHost::self_memory() {
  uint64_t m = mem.base;
  for (const FakeWatch* w : open_watches) m += w->bytes();
  return m;
}

}  // namespace leakhound::daemon
