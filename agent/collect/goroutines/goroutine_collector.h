// Goroutine capability: live goroutines per creation site, from the runtime's
// allgs read at each poll (goroutines that existed before attach included),
// with wait states and the stacks where they block; with --goroutine-events
// also creations and exits per site counted by uprobes as they happen.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "collect/capability.h"
#include "collect/go_target.h"
#include "collect/goroutines/leak_proof.h"
#include "detect/trend.h"
#include "goruntime/ancestry.h"
#include "goruntime/goroutines.h"
#include "probes/goroutine_probes.h"
#include "report/model.h"
#include "target/memory.h"
#include "util/clock.h"

namespace leakhound::collect {

struct GoroutineOptions {
  bool enabled = true;
  bool events = false;  // --goroutine-events: uprobes on creation and exit
  detect::TrendConfig trend;
  // A site must gain at least this many goroutines over the window to be
  // "growing" or "leak": counts are exact, so a site going from 1 to 2 is a
  // perfect monotonic series but tells nothing yet.
  double min_growth = 3;
  size_t stacks_per_site = 64;  // goroutines unwound per site at the end
  // A snapshot may take at most this share of the time between snapshots (in
  // leakhound's CPU time); huge goroutine counts are read less often rather
  // than slowing everything.
  double max_duty = 0.1;
  uint32_t max_sites = 16384;  // BPF map size with events
  LeakProofOptions proof;      // the runtime's own leak check (Go 1.26+)
  // `stuck` evidence (collect/goroutines/stuck.h) where the check did not run.
  double stuck_after_s = 300;
  // --goroutine-ancestry: the runtime's tracebackancestors set while we
  // watch (goruntime/ancestry.h). ancestry_writer: where, null under
  // --read-only; without `ancestry` it only undoes what a killed leakhound left.
  bool ancestry = false;
  const target::ProcessMemory* ancestry_writer = nullptr;
  size_t max_chain = 8;  // creators shown per site
};

// Registration (collect/session.cpp): the goroutines of a Go target, unless
// --no-goroutines. An error only when something was asked for explicitly
// (--goroutine-events, --goroutine-ancestry); else a note says why not.
Result<std::unique_ptr<Capability>> open_goroutines(OpenContext& ctx, report::Report& r);

class GoroutineCollector final : public Capability {
 public:
  // Resolves what it needs (allgs, g layout), attaches the probes if asked,
  // and takes the first snapshot. Errors when goroutines cannot be read at all.
  // now_ns: CLOCK_MONOTONIC (the runtime's nanotime: wait ages), a fake in tests.
  static Result<std::unique_ptr<GoroutineCollector>> start(
      const GoTarget& t, const target::MemoryReader& mem, const GoroutineOptions& opts,
      report::Report& r, std::function<int64_t()> now_ns = monotonic_ns);

  std::string_view name() const override { return "goroutines"; }
  // allgs changes under every read: a failed one is retried at the next poll.
  spdlog::level::level_enum poll_error_level() const override { return spdlog::level::debug; }
  Result<void> poll() override;
  void trim(double keep_s) override;
  // Takes a snapshot more, unwinds stacks and fills the goroutine findings.
  void contribute(report::Report& r) override;
  // The same, then the creation/exit probes (--goroutine-events) are detached.
  void stop(report::Report& r) override;
  // The daemon's scheduled request for the runtime's leak check (LeakProof).
  bool request_leak_check() { return proof_ && proof_->request_now(); }

  using SiteKey = probes::SiteKey;  // (gopc, startpc)

 private:
  GoroutineCollector(const GoTarget& t, const target::MemoryReader& mem, GoroutineOptions opts,
                     goruntime::GLayout layout, std::function<int64_t()> now_ns);
  Result<goruntime::AllgSnapshot> snapshot();
  // The creation chain of the site's newest goroutine (report::Creator).
  void fill_chain(const std::unordered_map<uint64_t, const goruntime::Goroutine*>& by_goid,
                  const goruntime::Goroutine& g, report::GoroutineFinding& f) const;
  double now_s() const;

  const GoTarget& t_;
  const target::MemoryReader& mem_;
  GoroutineOptions opts_;
  goruntime::GoroutineReader reader_;
  std::optional<probes::GoroutineProbes> probes_;
  std::optional<LeakProof> proof_;
  std::optional<goruntime::AncestryControl> ancestry_;
  // The probes' counts just before the first snapshot: the window's creations
  // and exits are counted from there, so they cover the same span as the series
  // (the probes run a while before it, while the rest of attach goes on).
  std::map<SiteKey, probes::SiteCounts> probe_baseline_;
  std::function<int64_t()> now_ns_;
  int64_t start_ns_ = 0;
  int64_t next_allowed_ns_ = 0;
  // Live count per site at each snapshot; a site absent from one had none.
  std::vector<std::pair<double, std::map<SiteKey, uint64_t>>> counts_;
  size_t rejected_ = 0;
  size_t failed_ = 0;
};

}  // namespace leakhound::collect
