#include "daemon/watcher.h"

#include "util/log.h"

namespace leakhound::daemon {
namespace {

std::string base_name(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// What keeps a process off the budget's shedding list for a while.
bool growing(const report::Report& r) {
  using report::tally_verdicts;
  return tally_verdicts(r.heap).flagged() > 0 || tally_verdicts(r.goroutines).flagged() > 0 ||
         tally_verdicts(r.native).flagged() > 0 || tally_verdicts(r.process).flagged() > 0;
}

constexpr double kMiB = 1024.0 * 1024.0;

}  // namespace

Watcher::Watcher(Host& host, const Filter& filter, collect::SessionOptions session, double settle_s,
                 double window_s, ProcessTable& table, double leak_check_every_s)
    : host_(host),
      filter_(filter),
      session_(session),
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
  forget_shed(pid);
  rejected_.erase(pid);
  pending_.insert(pid);
}

void Watcher::exit_seen(pid_t pid) {
  pending_.erase(pid);
  rejected_.erase(pid);
  forget_shed(pid);
  if (auto it = watched_.find(pid); it != watched_.end()) end(it, "exited");
}

void Watcher::forget_shed(pid_t pid) {
  if (budget_) budget_->forget(pid);
  readmit_.erase(pid);
  if (shed_.erase(pid)) table_.erase(pid);
}

void Watcher::rescan() {
  host_.rescanned();
  std::set<pid_t> alive;
  for (pid_t pid : host_.scan()) {
    alive.insert(pid);
    if (pid == host_.self() || watched_.count(pid) || pending_.count(pid)) continue;
    auto st = host_.start_time(pid);
    if (!st) continue;
    if (auto s = shed_.find(pid); s != shed_.end()) {
      if (s->second == *st) continue;
      forget_shed(pid);  // another process took the PID
    }
    if (auto r = rejected_.find(pid); r != rejected_.end() && r->second == *st) continue;
    pending_.insert(pid);
  }
  for (auto it = rejected_.begin(); it != rejected_.end();)
    it = alive.count(it->first) ? std::next(it) : rejected_.erase(it);
  std::vector<pid_t> gone;
  for (const auto& [pid, st] : shed_)
    if (!alive.count(pid)) gone.push_back(pid);
  for (auto it = watched_.begin(); it != watched_.end(); ++it)
    if (!it->second.w->alive()) gone.push_back(it->first);
  for (pid_t pid : gone) exit_seen(pid);
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
    const double window = window_now();
    w.trim(window);
    auto r = std::make_shared<report::Report>(w.snapshot());
    r->duration_s = std::min(w.elapsed_s(), window);
    if (growing(*r)) last_growth_[pid] = host_.unix_now();
    table_.set_report(pid, std::move(r), host_.unix_now());
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

  // Taken back by the budget: attached, though others still wait.
  const bool readmitted = readmit_.erase(pid) > 0;
  if (budget_ && !readmitted && !budget_->admitting()) {
    ProcessEntry e;
    e.pid = pid;
    e.exe_path = exe_path;
    e.exe = base_name(exe_path);
    e.pod = std::move(pod);
    e.shed = "detached";
    e.shed_reason = "not attached: the daemon is over its memory budget";
    table_.put(std::move(e));
    shed_[pid] = c->start_time;
    budget_->refused(pid);
    spdlog::info("daemon: PID {} ({}) not attached: over the memory budget", pid, exe_path);
    return;
  }
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
  e.start_time = c->start_time;
  spdlog::info("daemon: attached PID {} ({}{}{})", pid, e.exe_path,
               e.go_version.empty() ? "" : ", ", e.go_version);
  last_growth_[pid] = e.attached_at;  // new: shed after those that grew since
  table_.put(std::move(e));
  table_.update_counters([](AgentCounters& n) { n.attached_total++; });
  watched_[pid] = Entry{std::move(*w), host_.monotonic_s()};
}

void Watcher::end(Watched::iterator it, const char* why) {
  const pid_t pid = it->first;
  it->second.w->finish();  // stops it; erasing it restores what it wrote (sampler, leak check)
  watched_.erase(it);
  last_growth_.erase(pid);
  table_.retire(pid, host_.unix_now());  // its last report outlives it a while: an OOM kill
  table_.update_counters([](AgentCounters& c) { c.detached_total++; });
  spdlog::info("daemon: detached PID {} ({})", pid, why);
}

void Watcher::enforce_budget() {
  if (!budget_) return;
  std::vector<BudgetProcess> procs;
  procs.reserve(watched_.size());
  for (const auto& [pid, e] : watched_) procs.push_back({pid, e.w->native(), last_growth_[pid]});
  const uint64_t mem = host_.self_memory();
  apply(budget_->tick(mem, procs));
  const uint64_t limit = budget_->options().budget_bytes;
  const double window = window_now();
  table_.update_counters([&](AgentCounters& c) {
    c.memory_bytes = mem;
    c.memory_budget_bytes = limit;
    c.window_s = window;
  });
}

void Watcher::apply(const BudgetAction& a) {
  using K = BudgetAction::Kind;
  if (a.kind == K::None) return;
  const std::string over =
      fmt::format("the daemon was over its memory budget ({:.1f} MiB of {:.1f} MiB)",
                  static_cast<double>(budget_->memory_bytes()) / kMiB,
                  static_cast<double>(budget_->options().budget_bytes) / kMiB);
  auto it = watched_.find(a.pid);
  switch (a.kind) {
    case K::None:
      return;
    case K::ShedNative:
      if (it == watched_.end()) return;
      it->second.w->shed_native();
      table_.set_shed(a.pid, "native", "native tracking stopped: " + over);
      table_.update_counters([](AgentCounters& c) { c.shed_native_total++; });
      spdlog::warn("daemon: PID {}: native tracking stopped: {}", a.pid, over);
      break;
    case K::ShrinkWindow:
      for (auto& [pid, e] : watched_) e.w->trim(window_now());
      table_.update_counters([](AgentCounters& c) { c.shed_window_total++; });
      spdlog::warn("daemon: rolling window shrunk to {:.0f} s: {}", window_now(), over);
      break;
    case K::Detach: {
      if (it == watched_.end()) return;
      ProcessEntry e;
      table_.get(a.pid, &e);
      shed_[a.pid] = host_.start_time(a.pid).value_or(0);
      end(it, "over the memory budget");
      e.report = nullptr;
      e.shed = "detached";
      e.shed_reason = "detached: " + over;
      table_.put(std::move(e));
      table_.update_counters([](AgentCounters& c) { c.shed_detach_total++; });
      spdlog::warn("daemon: PID {} detached: {}", a.pid, over);
      break;
    }
    case K::Readmit:
      if (!shed_.erase(a.pid)) return;
      table_.erase(a.pid);
      pending_.insert(a.pid);
      readmit_.insert(a.pid);
      spdlog::info("daemon: back under the memory budget: PID {} to be attached again", a.pid);
      break;
    case K::GrowWindow:
      spdlog::info("daemon: back under the memory budget: rolling window {:.0f} s", window_now());
      break;
    case K::ResumeNative:
      if (it == watched_.end()) return;
      if (it->second.w->resume_native()) {
        table_.set_shed(a.pid, "", "");
        spdlog::info("daemon: back under the memory budget: PID {} native tracking resumed", a.pid);
      } else {
        table_.set_shed(a.pid, "native", "native tracking could not start again");
      }
      break;
  }
  if (a.kind == K::Readmit || a.kind == K::GrowWindow || a.kind == K::ResumeNative)
    table_.update_counters([](AgentCounters& c) { c.recovered_total++; });
  else
    host_.release_memory();
}

}  // namespace leakhound::daemon
