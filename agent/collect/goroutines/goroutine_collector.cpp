#include "collect/goroutines/goroutine_collector.h"

#include <algorithm>
#include <ctime>
#include <unordered_map>

#include "collect/goroutines/stuck.h"
#include "collect/session.h"
#include "goruntime/return_sites.h"
#include "goruntime/runtime_symbols.h"
#include "goruntime/write_journal.h"
#include "util/clock.h"
#include "util/log.h"

namespace leakhound::collect {

namespace {

// Attaches the creation/exit probes; errors name what is missing.
Result<probes::GoroutineProbes> attach_probes(const GoTarget& t, const goruntime::GLayout& l,
                                              uint32_t max_sites) {
  auto newproc1 = t.pclntab.func_by_name("runtime.newproc1");
  if (!newproc1) return make_error("runtime.newproc1 is not in the binary's function table");
  // gdestroy (1.22+) also ends coroutines; goexit0 does the teardown itself up to 1.21.
  auto exit_fn = t.pclntab.func_by_name("runtime.gdestroy");
  if (!exit_fn) exit_fn = t.pclntab.func_by_name("runtime.goexit0");
  if (!exit_fn) return make_error("neither runtime.gdestroy nor runtime.goexit0 is in the binary");
  auto rets = goruntime::find_returns(t.elf, newproc1->entry, newproc1->end);
  if (!rets) return make_error("runtime.newproc1: {}", rets.error().message);
  probes::GoroutineProbeConfig cfg;
  cfg.binary = t.proc.exe_link();
  cfg.pid = t.proc.pid();
  for (uint64_t a : *rets) {
    auto off = t.elf.vaddr_to_offset(a);
    if (!off) return off.error();
    cfg.newproc1_ret_offsets.push_back(*off);
  }
  auto off = t.elf.vaddr_to_offset(exit_fn->entry);
  if (!off) return off.error();
  cfg.exit_offset = *off;
  cfg.gopc_off = l.gopc;
  cfg.startpc_off = l.startpc;
  cfg.max_sites = max_sites;
  return probes::GoroutineProbes::attach(cfg);
}

// The runtime's tracebackancestors: set for the window with
// --goroutine-ancestry, else only a value a killed leakhound left undone.
Result<goruntime::AncestryControl> open_ancestry(const GoTarget& t,
                                                 const target::ProcessMemory& mem, bool enable) {
  auto at = goruntime::resolve_traceback_ancestors(t.elf, t.pclntab);
  if (!at) return at.error();
  auto c = goruntime::AncestryControl::open(t.proc, mem, t.runtime_addr(*at));
  if (!c) return c.error();
  if (enable) {
    if (auto e = c->enable(goruntime::kAncestryDepth); !e) return e.error();
  } else if (c->written_by_us()) {
    if (auto e = c->restore(); !e) return e.error();
    spdlog::warn(
        "PID {}: tracebackancestors left set by a leakhound that did not exit cleanly: "
        "restored",
        t.proc.pid());
  }
  return c;
}

// A journaled tracebackancestors of a leakhound that did not exit cleanly.
bool left_by_killed(const GoTarget& t) {
  auto rec = goruntime::load_record(t.proc.pid(), t.proc.start_time());
  return rec && rec->find(goruntime::WriteKind::TracebackAncestors);
}

}  // namespace

GoroutineCollector::GoroutineCollector(const GoTarget& t, const target::MemoryReader& mem,
                                       GoroutineOptions opts, goruntime::GLayout layout,
                                       std::function<int64_t()> now_ns)
    : t_(t),
      mem_(mem),
      opts_(opts),
      reader_(mem, std::move(layout), t.runtime_addr(t.syms.allgs), t.runtime_addr(t.syms.allglen),
              {}, t.stack_arch()),
      now_ns_(std::move(now_ns)),
      start_ns_(now_ns_()),
      next_allowed_ns_(start_ns_) {}

Result<std::unique_ptr<GoroutineCollector>> GoroutineCollector::start(
    const GoTarget& t, const target::MemoryReader& mem, const GoroutineOptions& opts,
    report::Report& r, std::function<int64_t()> now_ns) {
  if (!t.syms.allgs)
    return make_error("runtime.allgs was not found in the binary: goroutines cannot be listed");
  if (!t.g_layout) return make_error("{}", t.g_layout_error);
  const goruntime::ResolvedGLayout& layout = *t.g_layout;
  if (layout.source != "DWARF" && layout.source != "table")
    r.notes.push_back(fmt::format(
        "goroutines: {} is newer than the known runtime.g layouts and the binary has no DWARF: "
        "read with go1.{}'s layout (best effort)",
        t.build.go_version.raw, layout.layout.go_minor));
  spdlog::debug("runtime.g layout from {}", layout.source);
  std::unique_ptr<GoroutineCollector> c(
      new GoroutineCollector(t, mem, opts, layout.layout, std::move(now_ns)));
  if (opts.events) {
    auto p = attach_probes(t, c->reader_.layout(), opts.max_sites);
    if (!p) return make_error("--goroutine-events: {}", p.error().message);
    c->probes_.emplace(std::move(*p));
    r.goroutine_events = true;
  }
  c->proof_.emplace(t, c->reader_.layout(), opts.proof, r);
  if (opts.ancestry && !opts.ancestry_writer)
    return make_error("--goroutine-ancestry writes into the target: not with --read-only");
  if (opts.ancestry_writer && (opts.ancestry || left_by_killed(t))) {
    auto a = open_ancestry(t, *opts.ancestry_writer, opts.ancestry);
    if (opts.ancestry) {
      if (!a) return make_error("--goroutine-ancestry: {}", a.error().message);
      r.goroutine_ancestry = std::max(a->original(), goruntime::kAncestryDepth);
      c->ancestry_.emplace(std::move(*a));
    } else if (!a) {
      spdlog::debug("tracebackancestors: {}", a.error().message);
    }
  }
  c->start_ns_ = c->now_ns_();
  if (c->probes_) {
    auto base = c->probes_->read_sites(static_cast<uint32_t>(t.proc.pid()));
    if (!base) return make_error("--goroutine-events: {}", base.error().message);
    c->probe_baseline_ = std::move(*base);
  }
  if (auto s = c->snapshot(); !s) return s.error();
  return c;
}

double GoroutineCollector::now_s() const {
  return static_cast<double>(now_ns_() - start_ns_) / 1e9;
}

Result<goruntime::AllgSnapshot> GoroutineCollector::snapshot() {
  const int64_t began = now_ns_();
  const int64_t cpu_began = thread_cpu_ns();
  double t = now_s();
  auto snap = reader_.read();
  if (!snap) {
    failed_++;
    return snap.error();
  }
  rejected_ += snap->rejected;
  if (proof_) proof_->observe(*snap);
  std::map<SiteKey, uint64_t> counts;
  for (const auto& g : snap->live) counts[{g.gopc, g.startpc}]++;
  counts_.emplace_back(t, std::move(counts));
  // The duty is of leakhound's own CPU: wall time also counts the time it sat
  // preempted, which on a loaded or emulated machine (the arm64 guest: 5
  // snapshots in a 10 s window) stretched the interval to seconds.
  const double cost_ns = static_cast<double>(thread_cpu_ns() - cpu_began);
  next_allowed_ns_ = began + static_cast<int64_t>(cost_ns / opts_.max_duty);
  return snap;
}

Result<void> GoroutineCollector::poll() {
  if (proof_) proof_->poll(now_s());
  if (now_ns_() < next_allowed_ns_) return {};
  auto s = snapshot();
  if (!s) return s.error();
  return {};
}

void GoroutineCollector::trim(double keep_s) {
  if (counts_.empty()) return;
  const double cutoff = counts_.back().first - keep_s;
  auto keep = std::find_if(counts_.begin(), counts_.end(),
                           [&](const auto& c) { return c.first >= cutoff; });
  counts_.erase(counts_.begin(), keep);
}

void GoroutineCollector::stop(report::Report& r) {
  contribute(r);
  probes_.reset();
  if (ancestry_)
    if (auto a = ancestry_->restore(); !a)
      r.notes.push_back(fmt::format("--goroutine-ancestry: {}", a.error().message));
  ancestry_.reset();
}

void GoroutineCollector::fill_chain(
    const std::unordered_map<uint64_t, const goruntime::Goroutine*>& by_goid,
    const goruntime::Goroutine& g, report::GoroutineFinding& f) const {
  auto creator_of = [&](uint64_t goid) {
    report::Creator c;
    c.goid = goid;
    if (auto it = by_goid.find(goid); it != by_goid.end()) {
      c.alive = true;
      c.entry = t_.frame_at(it->second->startpc, false);
      c.created_at = t_.frame_at(it->second->gopc, true);
      if (c.entry.function == "runtime.main") c.created_at = Frame{"(main goroutine)", "", 0, 0};
    }
    return c;
  };
  if (g.ancestors) {
    // The runtime's own record: each creator's stack at its go statement.
    auto rec = goruntime::read_ancestors(mem_, g.ancestors);
    if (rec && !rec->empty()) {
      for (const goruntime::Ancestor& a : *rec) {
        if (f.chain.size() >= opts_.max_chain) break;
        report::Creator c = creator_of(a.goid);
        c.stack = t_.symbolize_stack(a.pcs);
        if (!c.alive && !c.stack.empty()) c.entry = c.stack.back();
        if (c.created_at.function.empty() && a.gopc) c.created_at = t_.frame_at(a.gopc, true);
        f.chain.push_back(std::move(c));
      }
      f.chain_source = "ancestry";
      return;
    }
    if (!rec) spdlog::debug("goroutine {}: {}", g.goid, rec.error().message);
  }
  // g.parentGoid (1.21+): as far up as creators are still alive.
  uint64_t parent = g.parent_goid;
  while (parent != 0 && f.chain.size() < opts_.max_chain) {
    report::Creator c = creator_of(parent);
    const bool alive = c.alive;
    f.chain.push_back(std::move(c));
    if (!alive) break;
    const uint64_t next = by_goid.at(parent)->parent_goid;
    if (next == parent) break;
    parent = next;
  }
  if (!f.chain.empty()) f.chain_source = "parent_goid";
}

void GoroutineCollector::contribute(report::Report& r) {
  // A target that exited has no final state: report the series gathered.
  auto final = r.target_exited ? Result<goruntime::AllgSnapshot>(make_error("the target exited"))
                               : snapshot();
  if (!final && !r.target_exited) {
    r.notes.push_back(fmt::format("goroutines: the last read failed: {}", final.error().message));
    if (counts_.empty()) return;
  }
  r.goroutines_read = !counts_.empty();
  r.goroutine_snapshots = counts_.size();
  if (rejected_)
    r.notes.push_back(fmt::format(
        "goroutines: {} g entries failed validation while being read (changing under us) and "
        "were skipped",
        rejected_));
  if (failed_ > 1)
    r.notes.push_back(fmt::format("goroutines: {} of {} reads of allgs failed", failed_,
                                  failed_ + counts_.size()));

  std::map<SiteKey, uint64_t> created, exited;
  if (probes_) {
    auto sites = probes_->read_sites(static_cast<uint32_t>(t_.proc.pid()));
    if (sites) {
      auto since = [](uint64_t now, uint64_t then) { return now > then ? now - then : 0; };
      for (const auto& [k, c] : *sites) {
        const probes::SiteCounts& base = probe_baseline_[k];
        created[k] = since(c.created, base.created);
        exited[k] = since(c.exited, base.exited);
      }
    } else {
      r.notes.push_back(fmt::format("--goroutine-events: {}", sites.error().message));
    }
    r.dropped_events += probes_->dropped();
  }

  // Every site seen in any snapshot, with its series (0 where absent), and
  // with the probes also sites whose goroutines all came and went between reads.
  std::map<SiteKey, report::GoroutineFinding> sites;
  for (const auto& [t, counts] : counts_) {
    for (const auto& [k, n] : counts) sites.try_emplace(k);
  }
  for (const auto& [k, n] : created)
    if (n > 0) sites.try_emplace(k);
  for (auto& [k, f] : sites) {
    for (const auto& [t, counts] : counts_) {
      auto it = counts.find(k);
      double n = it == counts.end() ? 0 : static_cast<double>(it->second);
      f.series.push_back({t, n});
      f.max_count = std::max<uint64_t>(f.max_count, static_cast<uint64_t>(n));
    }
    f.count = static_cast<uint64_t>(f.series.back().value);
    f.created_at = t_.frame_at(k.first, true);
    f.entry = t_.frame_at(k.second, false);
    f.system = goruntime::is_system_entry(f.entry.function);
    if (f.entry.function == "runtime.main") {
      // The runtime's bootstrap assembly starts it: no go statement to show.
      f.created_at = Frame{"(main goroutine)", "", 0, k.first};
    }
    const double window = f.series.back().t_s - f.series.front().t_s;
    f.trend = detect::analyze(f.series, opts_.trend);
    detect::require_min_growth(f.trend, window, opts_.min_growth);
    if (probes_) {
      f.created_window = static_cast<int64_t>(created[k]);
      f.exited_window = static_cast<int64_t>(exited[k]);
    }
  }

  // States and stacks of the goroutines alive at the end.
  std::map<SiteKey, std::vector<BlockedGoroutine>> blocked;
  if (final) {
    const int64_t now_ns = now_ns_();
    std::map<SiteKey, std::map<std::string, uint64_t>> states;
    std::map<SiteKey, std::map<std::vector<uint64_t>, uint64_t>> stacks;
    std::map<SiteKey, size_t> sampled;
    // The newest goroutine of each site (the one a chain is shown for),
    // preferring one that carries the runtime's ancestry record.
    std::unordered_map<uint64_t, const goruntime::Goroutine*> by_goid;
    std::map<SiteKey, const goruntime::Goroutine*> newest;
    for (const auto& g : final->live) {
      by_goid.emplace(g.goid, &g);
      const goruntime::Goroutine*& n = newest[{g.gopc, g.startpc}];
      if (!n || (g.ancestors != 0) > (n->ancestors != 0) ||
          ((g.ancestors != 0) == (n->ancestors != 0) && g.goid > n->goid))
        n = &g;
    }
    for (const auto& g : final->live) {
      SiteKey k{g.gopc, g.startpc};
      auto& f = sites[k];
      std::string state(reader_.state(g));
      states[k][state]++;
      const bool waiting = g.status == static_cast<uint32_t>(goruntime::GStatus::Waiting);
      BlockedGoroutine b{waiting && is_stuck_wait(state)};
      if (waiting && g.wait_since_ns > 0 && g.wait_since_ns < now_ns) {
        b.age_s = static_cast<double>(now_ns - g.wait_since_ns) / 1e9;
        f.longest_wait_s = std::max(f.longest_wait_s, b.age_s);
      }
      blocked[k].push_back(b);
      if (sampled[k] < opts_.stacks_per_site) {
        auto pcs = reader_.unwind(g);
        if (!pcs.empty()) {
          sampled[k]++;
          stacks[k][std::move(pcs)]++;
        }
      }
    }
    for (auto& [k, f] : sites) {
      for (const auto& [s, n] : states[k]) f.states.emplace_back(s, n);
      std::stable_sort(f.states.begin(), f.states.end(),
                       [](const auto& a, const auto& b) { return a.second > b.second; });
      if (!f.states.empty()) f.wait_reason = f.states.front().first;
      f.stack_sampled = sampled[k];
      const std::vector<uint64_t>* best = nullptr;
      for (const auto& [pcs, n] : stacks[k]) {
        if (n > f.stack_share) {
          f.stack_share = n;
          best = &pcs;
        }
      }
      if (best) f.stack = t_.symbolize_unwound(*best);
      if (auto n = newest.find(k); n != newest.end() && !f.system)
        fill_chain(by_goid, *n->second, f);
    }
  }

  if (proof_) proof_->apply(sites, r);
  // Where the runtime's check ran, what it did not prove is not stuck: the
  // GC found something still reaches what those goroutines wait on.
  if (final && !r.leak_check.ran) {
    for (auto& [k, f] : sites) {
      if (f.system || f.evidence != report::Evidence::Trend) continue;
      auto it = blocked.find(k);
      if (it == blocked.end()) continue;
      if (auto e = judge_stuck(it->second, f.series, opts_.stuck_after_s)) mark_stuck(f, *e);
    }
  }
  for (auto& [k, f] : sites) {
    if (!f.system) r.goroutines_user += f.count;
    r.goroutines_total += f.count;
    r.goroutines.push_back(std::move(f));
  }
}

Result<std::unique_ptr<Capability>> open_goroutines(OpenContext& ctx, report::Report& r) {
  const SessionOptions& o = ctx.opts;
  if (!ctx.go || !o.goroutines.enabled) return std::unique_ptr<Capability>();
  GoroutineOptions opts = o.goroutines;
  if (!o.read_only) opts.proof.writer = &ctx.mem;  // the runtime's leak check
  opts.ancestry = o.goroutine_ancestry;
  if (!o.read_only) opts.ancestry_writer = &ctx.mem;
  auto g = GoroutineCollector::start(*ctx.go, ctx.mem, opts, r);
  if (g) return std::unique_ptr<Capability>(std::move(*g));
  if (o.goroutines.events || o.goroutine_ancestry) return g.error();  // asked for explicitly
  r.notes.push_back(fmt::format("goroutines not tracked: {}", g.error().message));
  return std::unique_ptr<Capability>();
}

}  // namespace leakhound::collect
