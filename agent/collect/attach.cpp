#include "collect/attach.h"

#include <chrono>
#include <random>
#include <thread>

#include "util/log.h"

namespace leakhound::collect {

Result<report::Report> run_attach(const AttachOptions& opts, const AttachHooks& hooks) {
  auto target = open_go_target(opts.pid);
  if (!target) return target.error();
  const GoTarget& t = **target;
  auto mem = target::ProcessMemory::open(opts.pid, !opts.read_only);
  if (!mem) return mem.error();

  report::Report r;
  r.target = {opts.pid, t.proc.exe_path(), t.build.go_version.raw, t.build.module_path};
  r.read_only = opts.read_only;
  r.notes = t.warnings;

  HeapOptions heap_opts = opts.heap;
  heap_opts.read_only = opts.read_only;
  auto heap = HeapCollector::start(t, *mem, heap_opts, r);
  if (!heap) return heap.error();

  // Goroutines and /proc series are extra capabilities: when one cannot run,
  // the report says why and the rest goes on.
  std::unique_ptr<GoroutineCollector> goroutines;
  if (opts.goroutines.enabled) {
    auto g = GoroutineCollector::start(t, *mem, opts.goroutines, r);
    if (g) {
      goroutines = std::move(*g);
    } else if (opts.goroutines.events) {
      return g.error();  // asked for explicitly
    } else {
      r.notes.push_back(fmt::format("goroutines not tracked: {}", g.error().message));
    }
  }
  ProcessCollector process(opts.pid, opts.process);
  if (auto e = process.poll(); !e) spdlog::debug("process poll: {}", e.error().message);

  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const auto interval = std::chrono::duration<double>(opts.interval_s);
  auto elapsed = [&] { return std::chrono::duration<double>(clock::now() - start).count(); };
  auto stop_requested = [&] { return hooks.stop && hooks.stop->load(); };

  std::mt19937 rng(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  auto next = start + interval;
  while (!stop_requested()) {
    // Sleep in short steps so a signal ends the window promptly.
    while (clock::now() < next && !stop_requested()) {
      std::this_thread::sleep_for(std::min<clock::duration>(
          std::chrono::milliseconds(50),
          std::chrono::duration_cast<clock::duration>(next - clock::now())));
    }
    if (stop_requested()) break;
    double now = std::min(elapsed(), opts.duration_s);
    if (!t.proc.alive()) {
      r.target_exited = true;
      break;
    }
    if (auto e = (*heap)->poll(); !e) {
      if (!t.proc.alive()) {
        r.target_exited = true;
        break;
      }
      spdlog::warn("heap poll: {}", e.error().message);
    }
    if (goroutines) {
      if (auto e = goroutines->poll(); !e && t.proc.alive())
        spdlog::debug("goroutine poll: {}", e.error().message);
    }
    if (auto e = process.poll(); !e && t.proc.alive())
      spdlog::debug("process poll: {}", e.error().message);
    if (hooks.progress) hooks.progress(now);
    if (elapsed() >= opts.duration_s) break;
    // Jittered (±20%): polls at a fixed period can phase-lock with a target's
    // own periodic work (bursts every 2 s seen never, or always).
    next += std::chrono::duration_cast<clock::duration>(interval * jitter(rng));
  }
  r.duration_s = std::min(elapsed(), opts.duration_s);
  if (stop_requested()) r.notes.push_back("collection interrupted: partial window");
  if (r.target_exited)
    r.notes.push_back(fmt::format("PID {} exited after {:.1f}s: report covers what was gathered",
                                  opts.pid, r.duration_s));
  (*heap)->finish(r);
  if (goroutines) goroutines->finish(r);
  process.finish(r);
  return r;
}

}  // namespace leakhound::collect
