#include "collect/attach.h"

#include <chrono>
#include <optional>
#include <random>
#include <thread>

#include "target/process.h"
#include "util/log.h"

namespace leakhound::collect {
namespace {

// What became of the target's PID: nothing is read from or written into
// whatever has it now.
std::string exit_note(const target::Process& p, double after_s) {
  std::string note =
      fmt::format("PID {} exited after {:.1f}s: report covers what was gathered", p.pid(), after_s);
  auto now = target::read_start_time(p.pid());
  if (!now) return note;
  if (*now == p.start_time())
    return note + " (it exec'd another program, which leakhound left untouched)";
  return note + " (its PID now belongs to another process, which leakhound left untouched)";
}

}  // namespace

Result<report::Report> run_attach(const AttachOptions& opts, const AttachHooks& hooks) {
  auto session = Session::open(opts);
  if (!session) return session.error();
  Session& s = **session;
  // Everything is in place: what a watcher (a test, a script with -v) waits
  // for before it acts on the window.
  spdlog::info("PID {}: attached; the window begins", opts.pid);

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
    if (!s.poll()) break;
    if (hooks.progress) hooks.progress(now);
    if (elapsed() >= opts.duration_s) break;
    // Jittered (±20%): polls at a fixed period can phase-lock with a target's
    // own periodic work (bursts every 2 s seen never, or always).
    next += std::chrono::duration_cast<clock::duration>(interval * jitter(rng));
  }
  report::Report r = s.finish();
  r.duration_s = std::min(elapsed(), opts.duration_s);
  if (stop_requested()) r.notes.emplace_back("collection interrupted: partial window");
  if (r.target_exited) r.notes.push_back(exit_note(s.process(), r.duration_s));
  return r;
}

}  // namespace leakhound::collect
