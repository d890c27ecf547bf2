#include <atomic>
#include <csignal>
#include <iostream>

#include "cli/commands.h"
#include "daemon/daemon.h"
#include "util/capabilities.h"
#include "util/duration.h"
#include "util/log.h"
#include "util/size.h"

namespace leakhound::cli {
namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_daemon_signal(int) { g_stop.store(true); }

struct DaemonArgs {
  daemon::DaemonOptions opts;
  std::string interval = "2s", window = "10m", report_every = "15s", leak_check_every = "10m",
              stuck_after = "5m";
  std::string memory_budget = "192Mi";  // daemon::kDefaultMemoryBudget
  bool native = false;
  bool goroutine_events = false;
};

int run(DaemonArgs& a) {
  for (auto [text, dst] :
       {std::pair{&a.interval, &a.opts.interval_s}, std::pair{&a.window, &a.opts.window_s},
        std::pair{&a.report_every, &a.opts.report_every_s},
        std::pair{&a.stuck_after, &a.opts.session.goroutines.stuck_after_s}}) {
    auto d = parse_duration(*text);
    if (!d) {
      std::cerr << "leakhound: " << d.error().message << "\n";
      return 2;
    }
    *dst = *d;
  }
  if (auto m = parse_size(a.memory_budget); m) {
    a.opts.memory_budget_bytes = *m;
  } else {
    std::cerr << "leakhound: --memory-budget: " << m.error().message << "\n";
    return 2;
  }
  // "0" switches the leak check off; any other value is a period.
  if (a.leak_check_every == "0") {
    a.opts.leak_check_every_s = 0;
  } else if (auto d = parse_duration(a.leak_check_every)) {
    a.opts.leak_check_every_s = *d;
  } else {
    std::cerr << "leakhound: --leak-check-every: " << d.error().message << "\n";
    return 2;
  }
  if (auto p = check_attach_privileges(); !p) {
    std::cerr << "leakhound: " << p.error().message << "\n";
    return 1;
  }
  // Before the target is touched: a kernel that cannot run the probes would
  // otherwise fail mid-attach with libbpf's errors.
  if (auto k = check_kernel_support(); !k) {
    std::cerr << "leakhound: " << k.error().message << "\n";
    return 1;
  }
  // A long-running service: timestamps, and attaches/detaches shown.
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e leakhound %^%l%$: %v");
  if (spdlog::get_level() > spdlog::level::info) spdlog::set_level(spdlog::level::info);
  auto& s = a.opts.session;
  // Native tracking costs the target a probe hit per malloc: opt-in here.
  s.native.mode = a.native ? collect::NativeOptions::Mode::Auto : collect::NativeOptions::Mode::Off;
  s.goroutines.events = a.goroutine_events;
  struct sigaction sa {};
  sa.sa_handler = on_daemon_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  if (auto r = daemon::run_daemon(a.opts, g_stop); !r) {
    std::cerr << "leakhound: " << r.error().message << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

Runner add_daemon(CLI::App& app, const GlobalOptions&) {
  auto a = std::make_shared<DaemonArgs>();
  auto& o = a->opts;
  app.add_option("--listen", o.listen,
                 "HOST:PORT of the HTTP endpoints (/metrics, /api/v1/..., /debug/pprof/...)")
      ->capture_default_str();
  app.add_option("-i,--interval", a->interval, "how often every process is sampled")
      ->capture_default_str();
  app.add_option("--window", a->window, "rolling window the verdicts are computed over")
      ->capture_default_str();
  app.add_option("--report-every", a->report_every, "how often reports and metrics are recomputed")
      ->capture_default_str();
  app.add_option("--memory-budget", a->memory_budget,
                 "the daemon's own resident memory to stay under: over it, native tracking, "
                 "then the rolling window, then the least growing processes are shed (0: no "
                 "budget; README: the daemon's memory budget)")
      ->capture_default_str();
  app.add_option("--leak-check-every", a->leak_check_every,
                 "how often the Go runtime (1.26+) of each process is asked to run its goroutine "
                 "leak detection in its next GC cycle (0: never; --read-only: never)")
      ->capture_default_str();
  app.add_option("--stuck-after", a->stuck_after,
                 "goroutine sites all blocked on channels or sync objects for longer than this, "
                 "whose count does not fall, get the evidence `stuck` (Go < 1.26, or no check)")
      ->capture_default_str();
  app.add_option("--include-exe", o.filters.include_exe,
                 "only processes whose executable path matches this regex (repeatable)");
  app.add_option("--exclude-exe", o.filters.exclude_exe,
                 "skip processes whose executable path matches this regex (repeatable)");
  app.add_option("--include-namespace", o.filters.include_namespace,
                 "only pods of this Kubernetes namespace (repeatable)");
  app.add_option("--exclude-namespace", o.filters.exclude_namespace,
                 "skip pods of this Kubernetes namespace (repeatable)");
  app.add_option("--include-container", o.filters.include_container,
                 "only containers whose ID starts with this (repeatable)");
  app.add_option("--oom-keep", o.oom_keep,
                 "OOM kills of watched processes kept with their last reports (/api/v1/oom)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{0}, size_t{1000}));
  app.add_option("--top-k", o.top_k, "heap stacks per process exported as metrics")
      ->capture_default_str()
      ->check(CLI::Range(size_t{0}, size_t{100}));
  app.add_option("--node-name", o.node,
                 "node label of every metric (Kubernetes: the pod's spec.nodeName, through the "
                 "downward API)")
      ->envname("NODE_NAME");
  app.add_flag("--read-only", o.session.read_only,
               "never write into the targets (switched-off heap samplers stay off)");
  app.add_flag("--native", a->native,
               "also trace the C allocator of the Go processes (cgo), and of the non-Go processes "
               "an --include-exe names (one uprobe hit per malloc/free)");
  app.add_flag("--goroutine-events", a->goroutine_events,
               "also probe goroutine creation and exit (two uprobe hits per goroutine)");
  return [a] { return run(*a); };
}

}  // namespace leakhound::cli
