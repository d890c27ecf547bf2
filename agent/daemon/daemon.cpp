#include "daemon/daemon.h"

#include <dirent.h>
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <thread>

#include "binary/buildinfo.h"
#include "binary/elf_file.h"
#include "daemon/http_api.h"
#include "daemon/oom.h"
#include "daemon/process_table.h"
#include "daemon/watcher.h"
#include "goruntime/write_journal.h"
#include "probes/go_heap_probe_cache.h"
#include "probes/oom_watch.h"
#include "probes/proc_watch.h"
#include "target/pod_identity.h"
#include "target/process.h"
#include "util/log.h"

namespace leakhound::daemon {
namespace {

using clock = std::chrono::steady_clock;

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

// Memory the kernel charges to the daemon's cgroup that RSS does not show:
// its BPF maps (the native tracking's table of live allocations above all),
// each counted once whatever the number of its descriptors.
uint64_t bpf_map_bytes() {
  uint64_t total = 0;
  std::set<uint64_t> seen;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return 0;
  char link[64];
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    ssize_t n = readlinkat(dirfd(d), e->d_name, link, sizeof link - 1);
    if (n <= 0) continue;
    link[n] = 0;
    if (std::strcmp(link, "anon_inode:bpf-map") != 0) continue;
    auto info = target::read_text(std::string("/proc/self/fdinfo/") + e->d_name);
    if (!info) continue;
    unsigned long long id = 0, memlock = 0;
    if (const char* p = std::strstr(info->c_str(), "map_id:"))
      id = std::strtoull(p + 7, nullptr, 10);
    if (const char* p = std::strstr(info->c_str(), "memlock:"))
      memlock = std::strtoull(p + 8, nullptr, 10);
    if (seen.insert(id).second) total += memlock;
  }
  closedir(d);
  return total;
}

// What the memory budget counts: resident pages, anonymous (series, tables,
// malloc's arenas) and file-backed (leakhound's code, the pages of the
// executables it read), plus its BPF maps; all of which the kernel charges
// against the cgroup's memory limit.
uint64_t read_self_memory() {
  auto statm = target::read_text("/proc/self/statm");
  if (!statm) return 0;
  unsigned long long size = 0, resident = 0;
  if (std::sscanf(statm->c_str(), "%llu %llu", &size, &resident) != 2) return 0;
  return resident * static_cast<uint64_t>(getpagesize()) + bpf_map_bytes();
}

class SessionWatch final : public Watch {
 public:
  explicit SessionWatch(std::unique_ptr<collect::Session> s) : s_(std::move(s)) {}
  bool poll() override { return s_->poll(); }
  bool alive() const override { return s_->process().alive(); }
  void trim(double keep_s) override { s_->trim(keep_s); }
  report::Report snapshot() override {
    report::Report r = s_->snapshot();
    // Symbolizing the report faulted in pages of the executable's function
    // table, 9-12 MiB of each 51-89 MB file; they are not read again until
    // the next report (15 s): drop them from the daemon's resident memory
    // (the page cache keeps them, so the next report refaults them cheaply).
    if (const collect::GoTarget* g = s_->go())
      if (const auto* m = g->elf.mapping()) m->release_pages();
    return r;
  }
  void finish() override { s_->finish(); }
  double elapsed_s() const override { return s_->elapsed_s(); }
  std::string go_version() const override {
    return s_->is_go() ? s_->go()->build.go_version.raw : "";
  }
  bool native() const override { return s_->is_go() && s_->native_running(); }
  void shed_native() override {
    s_->stop_native("shed: the daemon was over its memory budget (--memory-budget)");
  }
  bool resume_native() override {
    auto r = s_->resume_native();
    if (!r)
      spdlog::warn("daemon: PID {}: native tracking not resumed: {}", s_->process().pid(),
                   r.error().message);
    return r.ok();
  }
  bool request_leak_check() override { return s_->request_leak_check(); }

 private:
  std::unique_ptr<collect::Session> s_;
};

// The host as it is: /proc, the executables, real sessions.
class ProcHost final : public Host {
 public:
  pid_t self() const override { return self_; }
  std::vector<pid_t> scan() override { return scan_proc(); }
  std::optional<uint64_t> start_time(pid_t pid) override {
    auto st = target::read_start_time(pid);
    return st ? std::optional<uint64_t>(*st) : std::nullopt;
  }
  // Seconds since the process started (its exec, for a fresh PID); -1 if gone.
  double age_s(pid_t pid) override {
    auto st = target::read_start_time(pid);
    if (!st) return -1;
    auto up = target::read_text("/proc/uptime");
    if (!up) return -1;
    double uptime = std::strtod(up->c_str(), nullptr);
    return uptime - static_cast<double>(*st) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  std::optional<Candidate> describe(pid_t pid) override {
    auto proc = target::Process::open(pid);
    if (!proc) return std::nullopt;
    Candidate c{proc->exe_path(), proc->start_time(), Candidate::Kind::Other};
    // Most processes are not Go: a look at the executable decides before
    // anything else is read.
    auto elf = binary::ElfFile::open(proc->exe_link());
    if (!elf)
      c.kind = Candidate::Kind::Unreadable;
    else if (elf->section(kAgentSection))
      c.kind = Candidate::Kind::Leakhound;
    else if (binary::read_buildinfo(*elf))
      c.kind = Candidate::Kind::Go;
    return c;
  }
  target::PodIdentity pod(pid_t pid) override { return target::read_pod_identity(pid); }
  Result<std::unique_ptr<Watch>> open(const collect::SessionOptions& so) override {
    auto s = collect::Session::open(so);
    if (!s) return s.error();
    return std::unique_ptr<Watch>(std::make_unique<SessionWatch>(std::move(*s)));
  }
  double unix_now() override {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  uint64_t self_memory() override { return read_self_memory(); }
  void release_memory() override { malloc_trim(0); }
  double monotonic_s() override {
    return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
  }
  void rescanned() override {
    // Journal entries of processes that went while a killed daemon watched them.
    if (size_t n = goruntime::prune_records())
      spdlog::debug("daemon: {} sampler journal entries of exited processes removed", n);
  }

 private:
  const pid_t self_ = getpid();
};

}  // namespace

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
  // OOM kills: optional. Without them the daemon watches as before and says so.
  std::optional<probes::OomWatch> oom;
  {
    OomStatus st;
    st.keep = opts.oom_keep;
    if (auto o = probes::OomWatch::open()) {
      oom.emplace(std::move(*o));
      st.available = true;
      st.constraint_known = oom->constraint_known();
      if (!st.constraint_known)
        spdlog::warn(
            "daemon: OOM kills are traced, but a cgroup's OOM cannot be told from the host's "
            "(mem_cgroup_out_of_memory not in /proc/kallsyms, or its addresses hidden)");
    } else {
      st.reason = o.error().message;
      spdlog::warn("daemon: OOM kills will not be recorded (/api/v1/oom): {}", st.reason);
    }
    table.set_oom_status(std::move(st));
  }
  auto api =
      HttpApi::start(listen->first, listen->second, table, MetricsOptions{opts.top_k, opts.node});
  if (!api) return api.error();
  spdlog::info(
      "daemon: serving on http://{}:{} (/metrics, /api/v1/processes, /api/v1/oom, "
      "/healthz)",
      listen->first, (*api)->port());

  goruntime::GLayoutCache g_layouts;
  binary::ExecutableCache executables;
  collect::SessionOptions so = opts.session;
  so.heap.probe_cache = &probe_cache;
  so.g_layouts = &g_layouts;
  so.executables = &executables;
  // Opened at attach, asked for on the watcher's schedule: never more often.
  // Under --read-only the session opens nothing and says why in its report.
  const double leak_check_every = opts.session.read_only ? 0 : opts.leak_check_every_s;
  so.goroutines.proof.request = opts.leak_check_every_s > 0;
  so.goroutines.proof.at_attach = false;
  so.goroutines.proof.window_s = 0;
  ProcHost host;
  Watcher d(host, *filter, so, opts.settle_s, opts.window_s, table, leak_check_every);
  std::optional<Budget> budget;
  if (opts.memory_budget_bytes) {
    BudgetOptions bo;
    bo.budget_bytes = opts.memory_budget_bytes;
    bo.window_s = opts.window_s;
    bo.min_window_s = std::min(opts.window_s, kMinShrunkWindowS);
    budget.emplace(bo);
    d.set_budget(&*budget);
    spdlog::info("daemon: memory budget {:.1f} MiB",
                 static_cast<double>(bo.budget_bytes) / 1048576);
  }
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
  const probes::OomWatch::Handler on_oom = [&](const probes::OomKill& k) { record_oom(table, k); };
  auto events = [&](int timeout_ms) {
    // Kills first: a victim's exit event comes after its kill's, and its
    // report is kept a while after its exit anyway (ProcessTable::retire).
    if (oom)
      if (auto e = oom->poll(0, on_oom); !e) spdlog::warn("daemon: {}", e.error().message);
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
    const uint64_t oom_dropped = oom ? oom->dropped() : 0;
    table.update_counters([&](AgentCounters& c) {
      c.events_dropped = dropped;
      c.oom_events_dropped = oom_dropped;
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
      d.enforce_budget();
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
