#include "collect/attach.h"

#include <chrono>
#include <optional>
#include <random>
#include <thread>

#include "binary/buildinfo.h"
#include "binary/elf_file.h"
#include "util/log.h"

namespace leakhound::collect {

Result<report::Report> run_attach(const AttachOptions& opts, const AttachHooks& hooks) {
  using NativeMode = NativeOptions::Mode;
  auto proc = target::Process::open(opts.pid);
  if (!proc) return proc.error();
  // The executable is read once: Go build information decides between a Go
  // target and a C/C++ one, whose own file find_allocator looks into.
  auto exe = binary::ElfFile::open(proc->exe_link());
  if (!exe) return make_error("PID {} ({}): {}", opts.pid, proc->exe_path(), exe.error().message);
  const std::string exe_path = proc->exe_path();

  std::unique_ptr<GoTarget> go;
  std::optional<target::Process> c_proc;  // a C/C++ program's process
  std::optional<binary::ElfFile> c_exe;
  if (binary::read_buildinfo(*exe)) {
    auto t = open_go_target(std::move(*proc), std::move(*exe));
    if (!t) return t.error();
    go = std::move(*t);
  } else if (opts.native.mode == NativeMode::Off) {
    return make_error(
        "PID {} ({}) is not a Go program (no Go build information), and native allocation "
        "tracking is off (--no-native)",
        opts.pid, exe_path);
  } else {
    c_proc.emplace(std::move(*proc));
    c_exe.emplace(std::move(*exe));
  }
  const target::Process& p = go ? go->proc : *c_proc;
  const binary::ElfFile& p_exe = go ? go->elf : *c_exe;
  auto mem = target::ProcessMemory::open(opts.pid, !opts.read_only && go != nullptr);
  if (!mem) return mem.error();

  report::Report r;
  if (go) {
    const GoTarget& t = *go;
    r.target = {opts.pid, t.proc.exe_path(), t.build.go_version.raw, t.build.module_path};
    r.notes = t.warnings;
  } else {
    r.target = {opts.pid, exe_path, "", ""};
  }
  r.read_only = opts.read_only;

  // Native allocations, goroutines and /proc series are extra capabilities:
  // when one cannot run, the report says why and the rest goes on (unless it
  // was asked for explicitly, or is all there is to measure). The allocator is
  // looked for first: when --native cannot be honoured, nothing has been done
  // to the target; its probes go on after the heap's, so the heap sampler is
  // switched on as early as before.
  std::optional<Allocator> allocator;
  if (opts.native.mode != NativeMode::Off) {
    auto a = find_allocator(p, p_exe);
    if (a) {
      allocator = std::move(*a);
    } else if (!go) {
      return make_error("PID {} ({}) is not a Go program, and its allocations cannot be traced: {}",
                        opts.pid, exe_path, a.error().message);
    } else if (opts.native.mode == NativeMode::On) {
      return a.error();
    } else {
      r.native_stats.why_not = a.error().message;
    }
  } else {
    r.native_stats.why_not = "off (--no-native)";
  }

  std::unique_ptr<HeapCollector> heap;
  if (go) {
    HeapOptions heap_opts = opts.heap;
    heap_opts.read_only = opts.read_only;
    auto h = HeapCollector::start(*go, *mem, heap_opts, r);
    if (!h) return h.error();
    heap = std::move(*h);
  }

  std::unique_ptr<NativeCollector> native;
  if (allocator) {
    auto n = NativeCollector::start(p, go.get(), std::move(*allocator), opts.native, r);
    if (n) {
      native = std::move(*n);
    } else if (opts.native.mode == NativeMode::On || !go) {
      return n.error();
    } else {
      r.native_stats.why_not = n.error().message;
      spdlog::debug("native: {}", n.error().message);
    }
  }

  std::unique_ptr<GoroutineCollector> goroutines;
  if (go && opts.goroutines.enabled) {
    auto g = GoroutineCollector::start(*go, *mem, opts.goroutines, r);
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
    if (!p.alive()) {
      r.target_exited = true;
      break;
    }
    if (heap) {
      if (auto e = heap->poll(); !e) {
        if (!p.alive()) {
          r.target_exited = true;
          break;
        }
        spdlog::warn("heap poll: {}", e.error().message);
      }
    }
    if (native) {
      if (auto e = native->poll(); !e && p.alive())
        spdlog::warn("native poll: {}", e.error().message);
    }
    if (goroutines) {
      if (auto e = goroutines->poll(); !e && p.alive())
        spdlog::debug("goroutine poll: {}", e.error().message);
    }
    if (auto e = process.poll(); !e && p.alive())
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
  // Native first: removing its probes takes a while (an RCU grace period
  // each), and the heap sampler stays on until the end of the collection.
  if (native) native->finish(r);
  if (heap) heap->finish(r);
  if (goroutines) goroutines->finish(r);
  process.finish(r);
  return r;
}

}  // namespace leakhound::collect
