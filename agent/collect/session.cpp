#include "collect/session.h"

#include <algorithm>
#include <numeric>

#include "binary/buildinfo.h"
#include "util/log.h"

namespace leakhound::collect {
namespace {

// Every capability, one line each, in detach order: native probes first
// (removing them takes an RCU grace period each, while the heap sampler still
// samples), then the heap (its sampler restored), retention (which explains
// the heap's findings), goroutines, /proc series, and the runtime's memory
// statistics last, so that its contribution sees the heap and native
// findings it reconciles the RSS with. start_order: when each is opened (the
// heap first, so that its sampler is on as early as possible; the notes of
// the report come in this order).
struct Registration {
  int start_order;
  Result<std::unique_ptr<Capability>> (*open)(OpenContext&, report::Report&);
};
constexpr Registration kCapabilities[] = {
    {2, &open_native},     {1, &open_heap},    {5, &open_retention},
    {3, &open_goroutines}, {6, &open_process}, {4, &open_runtime_memory},
};

}  // namespace

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

  // The C allocator is looked for before anything is done to the target:
  // when --native cannot be honoured, or a C program has none, nothing has
  // been written. Its probes go on after the heap's (see kCapabilities).
  OpenContext ctx{opts, p, go, *s->mem_, std::nullopt, false};
  if (opts.native.mode != NativeMode::Off) {
    auto a = find_allocator(p, p_exe);
    if (a) {
      ctx.allocator = std::move(*a);
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

  // Opened in start order; kept in detach order (the table's).
  std::vector<std::unique_ptr<Capability>> opened(std::size(kCapabilities));
  std::vector<size_t> by_start(std::size(kCapabilities));
  std::iota(by_start.begin(), by_start.end(), size_t{0});
  std::ranges::stable_sort(by_start, {}, [](size_t i) { return kCapabilities[i].start_order; });
  for (size_t i : by_start) {
    auto c = kCapabilities[i].open(ctx, r);
    if (!c) return c.error();
    opened[i] = std::move(*c);
  }
  for (auto& c : opened)
    if (c) s->caps_.push_back(std::move(c));
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
  if (final_ || exited_ || !process().alive()) return false;
  for (auto& c : caps_)
    if (auto* g = dynamic_cast<GoroutineCollector*>(c.get())) return g->request_leak_check();
  return false;
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
  OpenContext ctx{opts_, p, go_.get(), *mem_, std::move(*a), true};
  report::Report scratch;  // its notes are the open's, already in base_
  auto n = open_native(ctx, scratch);
  if (!n) return n.error();
  base_.native_stats.why_not.clear();
  caps_.insert(caps_.begin(), std::move(*n));  // detach order: native first
  return {};
}

}  // namespace leakhound::collect
