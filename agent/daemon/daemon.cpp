#include "daemon/daemon.h"

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "binary/buildinfo.h"
#include "binary/elf_file.h"
#include "daemon/http_api.h"
#include "daemon/process_table.h"
#include "goruntime/write_journal.h"
#include "probes/go_heap_probe_cache.h"
#include "probes/proc_watch.h"
#include "target/pod_identity.h"
#include "target/process.h"
#include "util/log.h"

namespace leakhound::daemon {
namespace {

using clock = std::chrono::steady_clock;

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::vector<pid_t> scan_proc() {
  std::vector<pid_t> pids;
  DIR* d = opendir("/proc");
  if (!d) return pids;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long v = strtol(e->d_name, &end, 10);
    if (end && *end == 0 && v > 0) pids.push_back(static_cast<pid_t>(v));
  }
  closedir(d);
  return pids;
}

// Seconds since the process started (its exec, for a fresh PID); -1 if gone.
double age_s(pid_t pid) {
  auto st = target::read_start_time(pid);
  if (!st) return -1;
  auto up = target::read_text("/proc/uptime");
  if (!up) return -1;
  double uptime = std::strtod(up->c_str(), nullptr);
  return uptime - static_cast<double>(*st) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string base_name(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

struct Watched {
  std::unique_ptr<collect::Session> session;
  uint64_t start_time = 0;
};

class Daemon {
 public:
  Daemon(const DaemonOptions& opts, Filter filter, ProcessTable& table)
      : opts_(opts), filter_(std::move(filter)), table_(table) {}

  void exec_seen(pid_t pid) {
    if (pid == self_) return;
    // An exec replaces a watched program's image: that session ends (its
    // addresses mean nothing in the new program) and the PID is looked at anew.
    if (auto it = watched_.find(pid); it != watched_.end()) end(it, "exec'd another program");
    rejected_.erase(pid);
    pending_[pid] = clock::now();
  }
  void exit_seen(pid_t pid) {
    pending_.erase(pid);
    rejected_.erase(pid);
    if (auto it = watched_.find(pid); it != watched_.end()) end(it, "exited");
  }
  void rescan() {
    // Journal entries of processes that went while a killed daemon watched them.
    if (size_t n = goruntime::prune_records())
      spdlog::debug("daemon: {} sampler journal entries of exited processes removed", n);
    std::set<pid_t> alive;
    for (pid_t pid : scan_proc()) {
      alive.insert(pid);
      if (pid == self_ || watched_.count(pid) || pending_.count(pid)) continue;
      auto st = target::read_start_time(pid);
      if (!st) continue;
      if (auto r = rejected_.find(pid); r != rejected_.end() && r->second == *st) continue;
      pending_[pid] = clock::now();
    }
    for (auto it = rejected_.begin(); it != rejected_.end();)
      it = alive.count(it->first) ? std::next(it) : rejected_.erase(it);
    for (auto it = watched_.begin(); it != watched_.end();) {
      auto next = std::next(it);
      if (!it->second.session->process().alive()) end(it, "exited");
      it = next;
    }
  }
  void attach_pending() {
    for (auto it = pending_.begin(); it != pending_.end();) {
      const pid_t pid = it->first;
      double age = age_s(pid);
      if (age < 0) {  // gone already
        it = pending_.erase(it);
        continue;
      }
      // Let the runtime initialize first: schedinit sets MemProfileRate.
      if (age < opts_.settle_s) {
        ++it;
        continue;
      }
      it = pending_.erase(it);
      try_attach(pid);
    }
  }
  // Polling and reporting many processes takes a while: between two of them
  // `between` runs (new process events, due attaches), so a process that just
  // started is not kept waiting behind the others. It may end or add sessions:
  // each PID is looked up anew.
  void poll_all(const std::function<void()>& between) {
    for (pid_t pid : watched_pids()) {
      auto it = watched_.find(pid);
      if (it == watched_.end()) continue;
      if (!it->second.session->poll()) end(it, "exited");
      between();
    }
  }
  void publish(const std::function<void()>& between) {
    for (pid_t pid : watched_pids()) {
      auto it = watched_.find(pid);
      if (it == watched_.end()) continue;
      collect::Session& s = *it->second.session;
      s.trim(opts_.window_s);
      auto r = std::make_shared<report::Report>(s.snapshot());
      r->duration_s = std::min(s.elapsed_s(), opts_.window_s);
      table_.set_report(pid, std::move(r));
      between();
    }
  }
  void stop_all() {
    while (!watched_.empty()) end(watched_.begin(), "daemon stopping");
  }

 private:
  std::vector<pid_t> watched_pids() const {
    std::vector<pid_t> pids;
    pids.reserve(watched_.size());
    for (const auto& [pid, w] : watched_) pids.push_back(pid);
    return pids;
  }

  void try_attach(pid_t pid) {
    auto proc = target::Process::open(pid);
    if (!proc) return;  // gone, or a kernel thread
    const std::string exe_path = proc->exe_path();
    auto reject = [&](const char* why) {
      rejected_[pid] = proc->start_time();
      table_.update_counters([](AgentCounters& c) { c.skipped_total++; });
      spdlog::debug("daemon: PID {} ({}) skipped: {}", pid, exe_path, why);
    };
    if (!filter_.exe_wanted(exe_path)) return reject("executable filtered out");
    if (opts_.session.native.mode == collect::NativeOptions::Mode::Off) {
      // Most processes are not Go: a look at the build information decides
      // before anything else is read.
      auto elf = binary::ElfFile::open(proc->exe_link());
      if (!elf || !binary::read_buildinfo(*elf)) return reject("not a Go program");
    }
    target::PodIdentity pod = target::read_pod_identity(pid);
    if (!filter_.pod_wanted(pod.ns, pod.container_id))
      return reject("namespace/container filtered out");

    collect::SessionOptions so = opts_.session;
    so.pid = pid;
    auto s = collect::Session::open(so);
    if (!s) {
      rejected_[pid] = proc->start_time();
      table_.update_counters([](AgentCounters& c) { c.attach_failures_total++; });
      spdlog::warn("daemon: PID {} ({}): cannot attach: {}", pid, exe_path, s.error().message);
      return;
    }
    ProcessEntry e;
    e.pid = pid;
    e.exe_path = exe_path;
    e.exe = base_name(exe_path);
    e.go_version = (*s)->is_go() ? (*s)->go()->build.go_version.raw : "";
    e.pod = std::move(pod);
    e.attached_at = unix_now();
    spdlog::info("daemon: attached PID {} ({}{}{})", pid, e.exe_path,
                 e.go_version.empty() ? "" : ", ", e.go_version);
    table_.put(std::move(e));
    table_.update_counters([](AgentCounters& c) { c.attached_total++; });
    watched_[pid] = Watched{std::move(*s), proc->start_time()};
  }

  void end(std::map<pid_t, Watched>::iterator it, const char* why) {
    const pid_t pid = it->first;
    it->second.session->finish();  // restores the sampler of a live process
    watched_.erase(it);
    table_.erase(pid);
    table_.update_counters([](AgentCounters& c) { c.detached_total++; });
    spdlog::info("daemon: detached PID {} ({})", pid, why);
  }

  const DaemonOptions& opts_;
  Filter filter_;
  ProcessTable& table_;
  const pid_t self_ = getpid();
  std::map<pid_t, Watched> watched_;
  std::map<pid_t, clock::time_point> pending_;
  std::map<pid_t, uint64_t> rejected_;  // PID -> start time, not looked at again
};

}  // namespace

Result<Filter> Filter::compile(const Filters& f) {
  Filter out;
  out.raw_ = f;
  auto add = [](const std::vector<std::string>& src, std::vector<std::regex>& dst) -> Result<void> {
    for (const std::string& s : src) {
      try {
        dst.emplace_back(s, std::regex::extended);
      } catch (const std::regex_error& e) {
        return make_error("bad regular expression {:?}: {}", s, e.what());
      }
    }
    return {};
  };
  if (auto e = add(f.include_exe, out.inc_exe_); !e) return e.error();
  if (auto e = add(f.exclude_exe, out.exc_exe_); !e) return e.error();
  return out;
}

bool Filter::exe_wanted(const std::string& exe_path) const {
  auto any = [&](const std::vector<std::regex>& rs) {
    return std::any_of(rs.begin(), rs.end(),
                       [&](const std::regex& r) { return std::regex_search(exe_path, r); });
  };
  if (!inc_exe_.empty() && !any(inc_exe_)) return false;
  return !any(exc_exe_);
}

bool Filter::pod_wanted(const std::string& ns, const std::string& container_id) const {
  auto has = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  if (!raw_.include_namespace.empty() && !has(raw_.include_namespace, ns)) return false;
  if (has(raw_.exclude_namespace, ns) && !ns.empty()) return false;
  if (!raw_.include_container.empty()) {
    bool ok = std::any_of(raw_.include_container.begin(), raw_.include_container.end(),
                          [&](const std::string& p) {
                            return !container_id.empty() && container_id.rfind(p, 0) == 0;
                          });
    if (!ok) return false;
  }
  return true;
}

Result<void> run_daemon(const DaemonOptions& opts, const std::atomic<bool>& stop) {
  auto filter = Filter::compile(opts.filters);
  if (!filter) return filter.error();
  auto listen = parse_listen(opts.listen);
  if (!listen) return listen.error();
  auto watch = probes::ProcWatch::open();
  if (!watch) return watch.error();
  // Declared before the daemon: every session's probes go back to it first.
  // Loaded before serving: /healthz answers once a Go process can be attached.
  probes::GoHeapProbeCache probe_cache;
  if (auto p = probe_cache.preload(opts.session.heap.sample_events, opts.session.heap.max_buckets);
      !p)
    return p.error();
  ProcessTable table;
  auto api = HttpApi::start(listen->first, listen->second, table, opts.top_k);
  if (!api) return api.error();
  spdlog::info("daemon: serving on http://{}:{} (/metrics, /api/v1/processes, /healthz)",
               listen->first, (*api)->port());

  goruntime::GLayoutCache g_layouts;
  DaemonOptions o = opts;
  o.session.heap.probe_cache = &probe_cache;
  o.session.g_layouts = &g_layouts;
  Daemon d(o, std::move(*filter), table);
  d.rescan();
  auto seconds = [](double s) {
    return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(s));
  };
  auto next_poll = clock::now(), next_report = clock::now() + seconds(opts.report_every_s);
  auto next_rescan = clock::now() + seconds(opts.rescan_s);
  const probes::ProcWatch::Handler on_event = [&](probes::ProcWatch::Kind k, pid_t pid) {
    if (k == probes::ProcWatch::Kind::Exec) {
      table.update_counters([](AgentCounters& c) { c.exec_events_total++; });
      d.exec_seen(pid);
    } else {
      table.update_counters([](AgentCounters& c) { c.exit_events_total++; });
      d.exit_seen(pid);
    }
  };
  auto events = [&](int timeout_ms) {
    if (auto e = watch->poll(timeout_ms, on_event); !e)
      spdlog::warn("daemon: {}", e.error().message);
  };
  const std::function<void()> between = [&] {
    events(0);
    d.attach_pending();
  };
  while (!stop.load()) {
    events(100);
    const uint64_t dropped = watch->dropped();
    const size_t sets = probe_cache.live_sets();
    table.update_counters([&](AgentCounters& c) {
      c.events_dropped = dropped;
      c.probe_sets = sets;
    });
    d.attach_pending();
    const auto now = clock::now();
    if (now >= next_rescan) {
      d.rescan();
      next_rescan = now + seconds(opts.rescan_s);
    }
    if (now >= next_poll) {
      d.poll_all(between);
      next_poll = now + seconds(opts.interval_s);
    }
    if (now >= next_report) {
      d.publish(between);
      next_report = now + seconds(opts.report_every_s);
    }
  }
  spdlog::info("daemon: stopping: detaching from every process");
  d.stop_all();
  return {};
}

}  // namespace leakhound::daemon
