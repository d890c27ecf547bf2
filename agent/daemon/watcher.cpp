#include "daemon/watcher.h"

#include "util/log.h"

namespace leakhound::daemon {
namespace {

std::string base_name(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

Watcher::Watcher(Host& host, const Filter& filter, collect::SessionOptions session, double settle_s,
                 double window_s, ProcessTable& table, double leak_check_every_s)
    : host_(host),
      filter_(filter),
      session_(std::move(session)),
      settle_s_(settle_s),
      window_s_(window_s),
      leak_check_every_s_(leak_check_every_s),
      table_(table) {}

Watcher::~Watcher() { stop_all(); }

void Watcher::exec_seen(pid_t pid) {
  if (pid == host_.self()) return;
  // An exec replaces a watched program's image: that session ends (its
  // addresses mean nothing in the new program) and the PID is looked at anew.
  if (auto it = watched_.find(pid); it != watched_.end()) end(it, "exec'd another program");
  rejected_.erase(pid);
  pending_.insert(pid);
}

void Watcher::exit_seen(pid_t pid) {
  pending_.erase(pid);
  rejected_.erase(pid);
  if (auto it = watched_.find(pid); it != watched_.end()) end(it, "exited");
}

void Watcher::rescan() {
  host_.rescanned();
  std::set<pid_t> alive;
  for (pid_t pid : host_.scan()) {
    alive.insert(pid);
    if (pid == host_.self() || watched_.count(pid) || pending_.count(pid)) continue;
    auto st = host_.start_time(pid);
    if (!st) continue;
    if (auto r = rejected_.find(pid); r != rejected_.end() && r->second == *st) continue;
    pending_.insert(pid);
  }
  for (auto it = rejected_.begin(); it != rejected_.end();)
    it = alive.count(it->first) ? std::next(it) : rejected_.erase(it);
  for (auto it = watched_.begin(); it != watched_.end();) {
    auto next = std::next(it);
    if (!it->second.w->alive()) end(it, "exited");
    it = next;
  }
}

void Watcher::attach_pending() {
  for (auto it = pending_.begin(); it != pending_.end();) {
    const pid_t pid = *it;
    const double age = host_.age_s(pid);
    if (age < 0) {  // gone already
      it = pending_.erase(it);
      continue;
    }
    // Let the runtime initialize first: schedinit sets MemProfileRate.
    if (age < settle_s_) {
      ++it;
      continue;
    }
    it = pending_.erase(it);
    try_attach(pid);
  }
}

std::vector<pid_t> Watcher::watched_pids() const {
  std::vector<pid_t> pids;
  pids.reserve(watched_.size());
  for (const auto& [pid, w] : watched_) pids.push_back(pid);
  return pids;
}

// `between` may end or add sessions: each PID is looked up anew.
void Watcher::poll_all(const std::function<void()>& between) {
  for (pid_t pid : watched_pids()) {
    auto it = watched_.find(pid);
    if (it == watched_.end()) continue;
    if (!it->second.w->poll())
      end(it, "exited");
    else
      maybe_check_leaks(it->second);
    between();
  }
}

void Watcher::publish(const std::function<void()>& between) {
  for (pid_t pid : watched_pids()) {
    auto it = watched_.find(pid);
    if (it == watched_.end()) continue;
    Watch& w = *it->second.w;
    w.trim(window_s_);
    auto r = std::make_shared<report::Report>(w.snapshot());
    r->duration_s = std::min(w.elapsed_s(), window_s_);
    table_.set_report(pid, std::move(r));
    between();
  }
}

// A detection costs the target a GC cycle's marking done differently (its
// blocking primitives traced as roots only when reached): once per period.
void Watcher::maybe_check_leaks(Entry& w) {
  if (leak_check_every_s_ <= 0) return;
  const double now = host_.monotonic_s();
  if (now < w.next_leak_check) return;
  w.next_leak_check = now + leak_check_every_s_;
  w.w->request_leak_check();
}

void Watcher::stop_all() {
  while (!watched_.empty()) end(watched_.begin(), "daemon stopping");
}

void Watcher::try_attach(pid_t pid) {
  auto c = host_.describe(pid);
  if (!c) return;  // gone, or a kernel thread
  const std::string& exe_path = c->exe_path;
  auto reject = [&](const char* why) {
    rejected_[pid] = c->start_time;
    table_.update_counters([](AgentCounters& n) { n.skipped_total++; });
    spdlog::debug("daemon: PID {} ({}) skipped: {}", pid, exe_path, why);
  };
  if (!filter_.exe_wanted(exe_path)) return reject("executable filtered out");
  switch (c->kind) {
    case Candidate::Kind::Go:
      break;
    case Candidate::Kind::Leakhound:
      return reject("a leakhound");
    case Candidate::Kind::Unreadable:
      return reject("executable unreadable");
    case Candidate::Kind::Other:
      if (session_.native.mode == collect::NativeOptions::Mode::Off)
        return reject("not a Go program");
      if (!filter_.exe_included(exe_path))
        return reject("not a Go program (native tracking of one needs --include-exe)");
      break;
  }
  target::PodIdentity pod = host_.pod(pid);
  if (!filter_.pod_wanted(pod.ns, pod.container_id))
    return reject("namespace/container filtered out");

  collect::SessionOptions so = session_;
  so.pid = pid;
  auto w = host_.open(so);
  if (!w) {
    rejected_[pid] = c->start_time;
    table_.update_counters([](AgentCounters& n) { n.attach_failures_total++; });
    spdlog::warn("daemon: PID {} ({}): cannot attach: {}", pid, exe_path, w.error().message);
    return;
  }
  ProcessEntry e;
  e.pid = pid;
  e.exe_path = exe_path;
  e.exe = base_name(exe_path);
  e.go_version = (*w)->go_version();
  e.pod = std::move(pod);
  e.attached_at = host_.unix_now();
  spdlog::info("daemon: attached PID {} ({}{}{})", pid, e.exe_path,
               e.go_version.empty() ? "" : ", ", e.go_version);
  table_.put(std::move(e));
  table_.update_counters([](AgentCounters& n) { n.attached_total++; });
  watched_[pid] = Entry{std::move(*w), host_.monotonic_s()};
}

void Watcher::end(Watched::iterator it, const char* why) {
  const pid_t pid = it->first;
  it->second.w->finish();  // stops it; erasing it restores what it wrote (sampler, leak check)
  watched_.erase(it);
  table_.erase(pid);
  table_.update_counters([](AgentCounters& c) { c.detached_total++; });
  spdlog::info("daemon: detached PID {} ({})", pid, why);
}

}  // namespace leakhound::daemon
