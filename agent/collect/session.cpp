#include "collect/session.h"

#include "binary/buildinfo.h"
#include "util/log.h"

namespace leakhound::collect {

Result<std::unique_ptr<Session>> Session::open(const SessionOptions& opts) {
  using NativeMode = NativeOptions::Mode;
  std::unique_ptr<Session> s(new Session());
  s->opts_ = opts;
  const pid_t pid = opts.pid;
  auto proc = target::Process::open(pid);
  if (!proc) return proc.error();
  // The executable is read once: Go build information decides between a Go
  // target and a C/C++ one, whose own file find_allocator looks into.
  auto exe = opts.executables ? opts.executables->open(proc->exe_link())
                              : binary::ElfFile::open(proc->exe_link());
  if (!exe) return make_error("PID {} ({}): {}", pid, proc->exe_path(), exe.error().message);
  const std::string exe_path = proc->exe_path();

  if (binary::read_buildinfo(*exe)) {
    auto t = open_go_target(std::move(*proc), std::move(*exe), opts.g_layouts);
    if (!t) return t.error();
    s->go_ = std::move(*t);
  } else if (opts.native.mode == NativeMode::Off) {
    return make_error(
        "PID {} ({}) is not a Go program (no Go build information), and native allocation "
        "tracking is off (--no-native)",
        pid, exe_path);
  } else {
    s->c_proc_.emplace(std::move(*proc));
    s->c_exe_.emplace(std::move(*exe));
  }
  GoTarget* go = s->go_.get();
  const target::Process& p = s->process();
  const binary::ElfFile& p_exe = go ? go->elf : *s->c_exe_;
  auto mem = target::ProcessMemory::open(pid, !opts.read_only && go != nullptr);
  if (!mem) return mem.error();
  s->mem_.emplace(std::move(*mem));

  report::Report& r = s->base_;
  if (go) {
    r.target = {pid, go->proc.exe_path(), go->build.go_version.raw, go->build.module_path};
    r.notes = go->warnings;
  } else {
    r.target = {pid, exe_path, "", ""};
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
                        pid, exe_path, a.error().message);
    } else if (opts.native.mode == NativeMode::On) {
      return a.error();
    } else {
      r.native_stats.why_not = a.error().message;
    }
  } else {
    r.native_stats.why_not = "off (--no-native)";
  }

  // Started in this order (the heap sampler is switched on as early as
  // possible), kept in detach order (see caps_).
  std::unique_ptr<Capability> heap, native, goroutines;
  if (go) {
    HeapOptions heap_opts = opts.heap;
    heap_opts.read_only = opts.read_only;
    auto h = HeapCollector::start(*go, *s->mem_, heap_opts, r);
    if (!h) return h.error();
    heap = std::move(*h);
  }

  if (allocator) {
    auto n = NativeCollector::start(p, go, std::move(*allocator), opts.native, r);
    if (n) {
      native = std::move(*n);
    } else if (opts.native.mode == NativeMode::On || !go) {
      return n.error();
    } else {
      r.native_stats.why_not = n.error().message;
      spdlog::debug("native: {}", n.error().message);
    }
  }

  if (go && opts.goroutines.enabled) {
    GoroutineOptions gopts = opts.goroutines;
    if (!opts.read_only) gopts.proof.writer = &*s->mem_;  // the runtime's leak check
    gopts.ancestry = opts.goroutine_ancestry;
    if (!opts.read_only) gopts.ancestry_writer = &*s->mem_;
    auto g = GoroutineCollector::start(*go, *s->mem_, gopts, r);
    if (g) {
      s->goroutines_ = g->get();
      goroutines = std::move(*g);
    } else if (opts.goroutines.events || opts.goroutine_ancestry) {
      return g.error();  // asked for explicitly
    } else {
      r.notes.push_back(fmt::format("goroutines not tracked: {}", g.error().message));
    }
  }
  // The runtime's own memory statistics: read-only, and last, so that its
  // contribution sees the heap and native findings it names.
  std::unique_ptr<Capability> runtime_memory;
  if (go) {
    auto m = RuntimeMemoryCollector::start(*go, *s->mem_);
    if (m) {
      runtime_memory = std::move(*m);
    } else {
      r.rss.why_not = m.error().message;
      r.notes.push_back(fmt::format("RSS breakdown not available: {}", m.error().message));
    }
  } else {
    r.rss.why_not = "not a Go program";
  }
  // What holds the heap findings' objects (--retainers): read-only, after
  // the heap, whose findings it explains.
  std::unique_ptr<Capability> retention;
  if (go && opts.retention.enabled) {
    auto rc = RetentionCollector::start(*go, *s->mem_, opts.retention);
    if (rc) {
      retention = std::move(*rc);
    } else {
      r.retention_walk.why_not = rc.error().message;
      r.notes.push_back(fmt::format("retention paths not available: {}", rc.error().message));
    }
  }
  auto process = std::make_unique<ProcessCollector>(pid, opts.process);
  if (auto e = process->poll(); !e) spdlog::debug("process poll: {}", e.error().message);
  for (auto* c : {&native, &heap, &retention, &goroutines}) {
    if (*c) s->add(std::move(*c));
  }
  s->add(std::move(process));
  if (runtime_memory) s->add(std::move(runtime_memory));
  s->start_ = std::chrono::steady_clock::now();
  return s;
}

Session::~Session() {
  // In detach order, whatever the vector's own destruction order.
  for (auto& c : caps_) c.reset();
}

double Session::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

bool Session::request_leak_check() {
  if (final_ || exited_ || !goroutines_ || !process().alive()) return false;
  return goroutines_->request_leak_check();
}

bool Session::poll() {
  if (exited_) return false;
  const target::Process& p = process();
  if (!p.alive()) {
    exited_ = true;
    return false;
  }
  for (auto& c : caps_) {
    auto e = c->poll();
    if (e) continue;
    // A read that failed because the target just exited is no news.
    if (!p.alive()) {
      exited_ = true;
      return false;
    }
    spdlog::log(c->poll_error_level(), "PID {}: {} poll: {}", opts_.pid, c->name(),
                e.error().message);
  }
  return true;
}

report::Report Session::build(bool final) {
  // Exited since the last poll: nothing more is read through its PID, which
  // may already name another process.
  if (!exited_ && !process().alive()) exited_ = true;
  report::Report r = base_;
  r.target_exited = exited_;
  for (auto& c : caps_) final ? c->stop(r) : c->contribute(r);
  assemble(r, opts_.assembly);
  return r;
}

report::Report Session::snapshot() {
  if (final_) return *final_;  // everything is stopped: the last report holds
  return build(false);
}

report::Report Session::finish() {
  if (!final_) final_ = build(true);
  return *final_;
}

void Session::trim(double keep_s) {
  if (final_) return;
  for (auto& c : caps_) c->trim(keep_s);
}

bool Session::native_running() const {
  for (const auto& c : caps_)
    if (c->name() == "native") return true;
  return false;
}

void Session::stop_native(const std::string& why) {
  if (final_) return;
  // Destroying the collector detaches its probes (RAII); the window's native
  // findings go with it, which is the memory wanted back.
  std::erase_if(caps_, [](const auto& c) { return c->name() == "native"; });
  base_.native_stats = {};
  base_.native_stats.why_not = why;
}

Result<void> Session::resume_native() {
  if (final_ || native_running()) return {};
  if (opts_.native.mode == NativeOptions::Mode::Off) return make_error("native tracking is off");
  const target::Process& p = process();
  auto a = find_allocator(p, go_ ? go_->elf : *c_exe_);
  if (!a) return a.error();
  report::Report scratch;  // its notes are the open's, already in base_
  auto n = NativeCollector::start(p, go_.get(), std::move(*a), opts_.native, scratch);
  if (!n) return n.error();
  base_.native_stats.why_not.clear();
  caps_.insert(caps_.begin(), std::move(*n));  // detach order: native first
  return {};
}

}  // namespace leakhound::collect
