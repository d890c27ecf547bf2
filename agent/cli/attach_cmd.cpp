#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "cli/progress.h"
#include "collect/attach.h"
#include "goruntime/sampler.h"
#include "goruntime/write_journal.h"
#include "report/folded_writer.h"
#include "report/gate.h"
#include "report/html_writer.h"
#include "report/json_writer.h"
#include "report/pprof_writer.h"
#include "report/terminal_writer.h"
#include "util/capabilities.h"
#include "util/duration.h"
#include "util/log.h"
#include "util/size.h"

namespace leakhound::cli {
namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true); }

struct AttachArgs {
  pid_t pid = 0;
  std::string duration = "30s";
  std::string interval = "500ms";
  std::string stuck_after = "5m";
  bool retainers = false;
  std::string retainers_max_bytes = "1GiB";
  std::string retainers_max_time = "10s";
  double retainers_cpu = 1;
  bool json = false;
  bool read_only = false;
  bool no_color = false;
  bool heap_events = false;
  bool goroutine_events = false;
  bool no_goroutines = false;
  bool no_leak_check = false;
  bool goroutine_ancestry = false;
  bool native = false;     // --native: trace the C allocator, failing if it cannot
  bool no_native = false;  // --no-native
  bool no_native_mmap = false;
  uint32_t native_max_allocs = 262144;
  uint32_t native_max_stacks = 16384;
  double native_max_cpu = 25;     // percent of a CPU
  std::string folded;             // heap in-use bytes, folded stacks
  std::string folded_goroutines;  // live goroutines, folded stacks
  std::string folded_native;      // outstanding C allocations, folded stacks
  std::string pprof_dir;          // heap (start, end) and goroutine profiles
  std::string fail_on;            // proven | leak | growing: exit kExitFindings on one
  std::string html;               // the report as one self-contained page
  int64_t sample_rate = 0;        // 0: the sample budget's
  double sample_budget = collect::SampleBudget{}.samples_per_s;
  size_t top = 10;
  detect::TrendConfig trend;  // verdict thresholds, shared by every capability
};

int run(const AttachArgs& a) {
  auto duration = parse_duration(a.duration);
  auto interval = parse_duration(a.interval);
  auto stuck_after = parse_duration(a.stuck_after);
  auto retainers_max_time = parse_duration(a.retainers_max_time);
  for (const auto* r : {&duration, &interval, &stuck_after, &retainers_max_time}) {
    if (!*r) {
      std::cerr << "leakhound: " << r->error().message << "\n";
      return 2;
    }
  }
  if (a.read_only && a.goroutine_ancestry) {
    std::cerr << "leakhound: --goroutine-ancestry writes into the target: not with --read-only\n";
    return 2;
  }
  std::optional<report::FailLevel> fail_on;
  if (!a.fail_on.empty()) {
    auto l = report::parse_fail_level(a.fail_on);
    if (!l) {
      std::cerr << "leakhound: " << l.error().message << "\n";
      return 2;
    }
    fail_on = *l;
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
  // Journal entries of killed leakhounds whose targets are gone since.
  goruntime::prune_records();
  // SIGINT/SIGTERM end the window early: the partial report is printed and the
  // target is restored by the collectors' destructors on the normal path.
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  collect::AttachOptions opts;
  opts.pid = a.pid;
  opts.duration_s = *duration;
  opts.interval_s = *interval;
  opts.read_only = a.read_only;
  opts.heap.sample_events = a.heap_events;
  opts.heap.fixed_rate = a.sample_rate != 0;
  if (opts.heap.fixed_rate) opts.heap.enable_rate = a.sample_rate;
  opts.heap.budget.samples_per_s = a.sample_budget;
  opts.heap.trend = a.trend;
  opts.goroutines.trend = a.trend;
  opts.process.trend = a.trend;
  opts.goroutines.enabled = !a.no_goroutines;
  opts.goroutines.events = a.goroutine_events;
  opts.goroutines.proof.request = !a.no_leak_check;
  opts.goroutine_ancestry = a.goroutine_ancestry;
  opts.goroutines.proof.window_s = *duration;
  opts.goroutines.stuck_after_s = *stuck_after;
  auto retainers_max_bytes = parse_size(a.retainers_max_bytes);
  if (!retainers_max_bytes) {
    std::cerr << "leakhound: " << retainers_max_bytes.error().message << "\n";
    return 2;
  }
  opts.retention.enabled = a.retainers;
  opts.retention.budget.max_bytes = *retainers_max_bytes;
  opts.retention.budget.max_seconds = *retainers_max_time;
  opts.retention.budget.cpu_share = a.retainers_cpu;
  using NativeMode = collect::NativeOptions::Mode;
  opts.native.mode = a.no_native ? NativeMode::Off : a.native ? NativeMode::On : NativeMode::Auto;
  opts.native.track_mmap = !a.no_native_mmap;
  opts.native.max_allocs = a.native_max_allocs;
  opts.native.max_stacks = a.native_max_stacks;
  opts.native.max_cpu_share = a.native_max_cpu / 100;
  opts.native.trend = a.trend;
  ProgressBar bar(*duration, isatty(STDERR_FILENO));
  collect::AttachHooks hooks{&g_stop, [&](double t) { bar.update(t); }};
  auto report = collect::run_attach(opts, hooks);
  bar.finish();
  if (!report) {
    std::cerr << "leakhound: " << report.error().message << "\n";
    return 1;
  }
  if (a.json) {
    std::cout << report::write_json(*report);
  } else {
    report::TerminalOptions topts;
    topts.color = !a.no_color && isatty(STDOUT_FILENO);
    topts.max_findings = a.top;
    report::write_terminal(std::cout, *report, topts);
  }
  std::cout.flush();
  // Files last: the report is out even when the disk is full.
  int rc = 0;
  auto write = [&](const std::string& path, const std::string& text) {
    if (path.empty()) return;
    if (auto w = report::write_text_file(path, text); !w) {
      std::cerr << "leakhound: " << w.error().message << "\n";
      rc = 1;
    }
  };
  write(a.folded, report::folded_heap(*report));
  write(a.folded_goroutines, report::folded_goroutines(*report));
  write(a.folded_native, report::folded_native(*report));
  if (!a.html.empty()) write(a.html, report::write_html(*report));
  if (!a.pprof_dir.empty()) {
    if (auto w = report::write_pprof(*report, a.pprof_dir); !w) {
      std::cerr << "leakhound: " << w.error().message << "\n";
      rc = 1;
    }
  }
  if (rc == 0 && fail_on && report::reaches(*report, *fail_on)) {
    std::cerr << fmt::format("leakhound: a finding at or above --fail-on {} (exit {})\n",
                             report::to_string(*fail_on), report::kExitFindings);
    return report::kExitFindings;
  }
  return rc;
}

}  // namespace

Runner add_attach(CLI::App& app, const GlobalOptions&) {
  auto a = std::make_shared<AttachArgs>();
  app.add_option("pid", a->pid, "process to attach to")->required()->check(CLI::PositiveNumber);
  app.add_option("-d,--duration", a->duration, "collection window (e.g. 30s, 2m)")
      ->capture_default_str();
  app.add_option("-i,--interval", a->interval, "how often the target is sampled")
      ->capture_default_str();
  app.add_flag("--json", a->json, "print the report as JSON (leakhound.report/v1)");
  app.add_flag("--read-only", a->read_only,
               "never write into the target (a switched-off heap sampler stays off)");
  app.add_flag("--heap-events", a->heap_events,
               "also probe every profiled allocation and free (real-time counts per stack; "
               "costs one uprobe hit per heap sample: see docs/benchmarks.md)");
  auto* gev = app.add_flag(
      "--goroutine-events", a->goroutine_events,
      "also probe goroutine creation and exit (creations and exits per site in the window; "
      "costs two uprobe hits per goroutine: see docs/benchmarks.md)");
  auto* nog =
      app.add_flag("--no-goroutines", a->no_goroutines, "do not read the target's goroutines")
          ->excludes(gev);
  app.add_flag("--no-leak-check", a->no_leak_check,
               "do not ask the Go runtime (1.26+) to run its GC goroutine leak check (one byte "
               "written into the target, undone on exit; --read-only never asks)")
      ->excludes(nog);
  app.add_flag("--goroutine-ancestry", a->goroutine_ancestry,
               "make the Go runtime keep, for every goroutine created while leakhound watches, "
               "the stacks of the goroutines that created it (its tracebackancestors setting, "
               "restored on exit): each site then shows the user code that started it, even "
               "through a library. Costs the program one stack unwind per go statement")
      ->excludes(nog);
  app.add_option("--stuck-after", a->stuck_after,
                 "a goroutine site whose goroutines are all blocked on channels or sync objects "
                 "for longer than this, and whose count does not fall, gets the evidence `stuck` "
                 "(where the runtime cannot prove leaks: Go < 1.26, or no check)")
      ->capture_default_str();
  app.add_flag("--retainers", a->retainers,
               "for each heap finding judged leak or growing, the paths from a global to its "
               "sampled objects: walks the heap from outside, read-only, at the end of the "
               "window (Go 1.22+)");
  app.add_option("--retainers-max-bytes", a->retainers_max_bytes,
                 "stop the retention walk after reading this much of the target's memory")
      ->capture_default_str();
  app.add_option("--retainers-max-time", a->retainers_max_time,
                 "stop the retention walk after this long")
      ->capture_default_str();
  app.add_option("--retainers-cpu", a->retainers_cpu,
                 "the share of one core the retention walk may take: it pauses between batches "
                 "to stay within it, so that on a busy node the program keeps its CPU; a slower "
                 "walk races more with a program that moves what it walks (1: unpaced)")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 1.0));
  auto* native = app.add_flag(
      "--native", a->native,
      "trace the C allocator (malloc family, anonymous mmap) and fail if it cannot be; by default "
      "it is traced whenever the process has one (cgo, C/C++ programs). Costs one uprobe hit per "
      "call: the report shows the rate");
  app.add_flag("--no-native", a->no_native, "do not trace the C allocator")->excludes(native);
  app.add_flag("--no-native-mmap", a->no_native_mmap,
               "trace malloc and friends but not anonymous mmap/munmap");
  app.add_option("--native-max-allocs", a->native_max_allocs,
                 "outstanding C allocations tracked at most (a BPF map; beyond it allocations "
                 "are counted as dropped)")
      ->capture_default_str()
      ->check(CLI::Range(uint32_t{16}, uint32_t{1} << 26));
  app.add_option("--native-max-cpu", a->native_max_cpu,
                 "percent of a CPU the target may spend in native probes (call rate x cost per "
                 "hit, measured at attach) before they come off mid-window; --native ignores it")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 400.0));
  app.add_option("--native-max-stacks", a->native_max_stacks,
                 "distinct C allocation stacks kept at most")
      ->capture_default_str()
      ->check(CLI::Range(uint32_t{16}, uint32_t{1} << 22));
  app.add_option("--sample-rate", a->sample_rate,
                 "MemProfileRate (bytes) set when the program's heap sampler is off, for the whole "
                 "window (default: chosen from the program's allocation rate by --sample-budget)")
      ->check(CLI::Range(int64_t{4096}, int64_t{1} << 30));
  app.add_option("--sample-budget", a->sample_budget,
                 "heap samples per second aimed at when leakhound switches the sampler on: the "
                 "rate follows the program's allocation rate (each sample costs it ~5 us)")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1e6));
  app.add_option("--pprof", a->pprof_dir,
                 "also write heap-start.pb.gz, heap-end.pb.gz, goroutine.pb.gz and, when C "
                 "allocations were traced, native.pb.gz (pprof format) "
                 "into DIR: go tool pprof -base DIR/heap-start.pb.gz DIR/heap-end.pb.gz shows "
                 "what grew");
  app.add_option("--fail-on", a->fail_on,
                 "exit with code 3 (after the report) when a finding at or above LEVEL was "
                 "found: proven (a goroutine leak proven by the Go runtime's GC), leak, growing");
  app.add_option("--html", a->html,
                 "also write the report as one self-contained HTML page (growth charts, flame "
                 "graphs, sortable tables; no network request) to FILE");
  app.add_option("--folded", a->folded,
                 "also write the Go heap's in-use bytes as folded stacks (flame graphs) to FILE");
  app.add_option("--folded-goroutines", a->folded_goroutines,
                 "also write live goroutines per blocked stack as folded stacks to FILE");
  app.add_option("--folded-native", a->folded_native,
                 "also write outstanding C allocations as folded stacks to FILE");
  // Verdict thresholds (detect::TrendConfig; docs/report-format.md, "Verdicts").
  app.add_option("--alpha", a->trend.alpha,
                 "significance (one-sided p-value) a rise needs to be called a leak")
      ->capture_default_str()
      ->check(CLI::Range(1e-9, 0.5));
  app.add_option("--min-points", a->trend.min_points, "series points a leak verdict needs at least")
      ->capture_default_str()
      ->check(CLI::Range(size_t{3}, size_t{100000}));
  app.add_option("--min-relative-growth", a->trend.min_relative_growth,
                 "growth over the window, as a share of the last value, below which nothing is "
                 "called growing")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 10.0));
  app.add_flag("--no-color", a->no_color, "no ANSI colors in the terminal report");
  app.add_option("--top", a->top, "findings shown in the terminal report")->capture_default_str();
  return [a] { return run(*a); };
}

}  // namespace leakhound::cli
