#include "report/terminal_writer.h"

#include <fmt/format.h>

#include <algorithm>

#include "report/rss_text.h"
#include "report/units.h"

namespace leakhound::report {
namespace {

struct Style {
  bool on;
  std::string operator()(const char* code, const std::string& s) const {
    return on ? fmt::format("\033[{}m{}\033[0m", code, s) : s;
  }
};
constexpr const char* kBold = "1";
constexpr const char* kRed = "1;31";
constexpr const char* kYellow = "1;33";
constexpr const char* kDim = "2";

std::string verdict_label(detect::Verdict v, const Style& st) {
  switch (v) {
    case detect::Verdict::Leak:
      return st(kRed, "LEAK   ");
    case detect::Verdict::Growing:
      return st(kYellow, "GROWING");
    case detect::Verdict::Stable:
      break;
  }
  return st(kDim, "stable ");
}

void write_header(std::ostream& out, const Report& r, const Style& st) {
  const Target& t = r.target;
  std::string title = fmt::format("leakhound report: pid {}", t.pid);
  if (!t.exe.empty()) title += "  " + t.exe;
  out << st(kBold, title) << "\n";
  if (t.go_version.empty()) {
    out << fmt::format("  not a Go program: native (C) allocations only; window {}\n",
                       human_duration(r.duration_s));
  } else {
    std::string go = t.go_version;
    if (!t.module_path.empty()) go += ", module " + t.module_path;
    out << "  " << go << "\n";
    out << fmt::format("  window {}, {} GC cycles, {} sampled allocations, {} sampled frees\n",
                       human_duration(r.duration_s), group_thousands(r.gc_cycles),
                       group_thousands(r.sampled_allocs), group_thousands(r.sampled_frees));
    if (r.sampler_enabled_by_us && r.sample_budget_per_s > 0) {
      std::string rates;
      for (const auto& p : r.sample_rates)
        rates += (rates.empty() ? "" : ", then ") +
                 human_bytes_compact(static_cast<double>(p.rate)) +
                 (p.from_s > 0 ? fmt::format(" at {:.0f}s", p.from_s) : "");
      out << fmt::format(
          "  heap sampler: off in the program; leakhound switched it on ({}) and restored it: "
          "{} of allocation, budget {:.0f} samples/s, ~{:.2f}% of a core\n",
          rates, human_rate(r.alloc_bytes_per_s), r.sample_budget_per_s, 100 * r.sampling_cost);
    } else if (r.sampler_enabled_by_us) {
      out << fmt::format(
          "  heap sampler: off in the program; leakhound switched it on at {} for the window "
          "and restored it\n",
          human_bytes_compact(static_cast<double>(r.sample_rate)));
    } else if (r.sample_rate > 0) {
      out << fmt::format("  heap sampler: on at rate {} (the program's own setting)\n",
                         human_bytes_compact(static_cast<double>(r.sample_rate)));
    } else {
      out << "  heap sampler: off: Go heap growth was not measured\n";
    }
  }
  if (r.dropped_events > 0) {
    out << st(kYellow, fmt::format("  dropped events: {} (buffers were full; counts are low)",
                                   group_thousands(r.dropped_events)))
        << "\n";
  } else {
    out << "  dropped events: 0\n";
  }
  if (r.read_only) out << "  read-only: nothing was written into the target\n";
  if (r.target_exited) out << st(kYellow, "  the target exited during the window") << "\n";
  for (const std::string& n : r.notes) out << "  note: " << n << "\n";
}

void write_stack(std::ostream& out, const std::vector<Frame>& stack, size_t max_frames,
                 const Style& st) {
  const std::vector<StackLine> lines = stack_lines(stack);
  size_t width = 0;
  for (const StackLine& l : lines) width = std::max(width, l.function.size());
  width = std::min<size_t>(width, 60);
  size_t shown = 0, hidden = 0;
  for (const StackLine& l : lines) {
    if (shown >= max_frames) {
      hidden += l.collapsed > 0 ? l.collapsed : 1;
      continue;
    }
    if (l.collapsed > 0) {
      out << "      "
          << st(kDim, fmt::format("… {} runtime frame{}", l.collapsed, l.collapsed == 1 ? "" : "s"))
          << "\n";
    } else {
      out << fmt::format("      {:<{}}  {}\n", l.function, width, l.location);
      ++shown;
    }
  }
  if (hidden > 0) {
    out << "      " << st(kDim, fmt::format("… {} more frame{}", hidden, hidden == 1 ? "" : "s"))
        << "\n";
  }
  if (stack.empty()) out << "      (no stack)\n";
}

// "412 of 415 sampled objects are reachable through main.sessions (global) →
// *maps.table → object from main.newSession; 412 confirmed by a re-read".
void write_retention(std::ostream& out, const Retention& r, const Style& st) {
  if (r.sampled_objects == 0) {
    out << st(kDim, "      held by: no live sampled object of this stack is on the heap now\n");
    return;
  }
  if (r.paths.empty()) {
    out << st(kDim, fmt::format("      held by: none of its {} sampled objects was reached from a "
                                "global or a goroutine's stack\n",
                                r.sampled_objects));
    return;
  }
  for (const RetentionPath& p : r.paths) {
    std::string chain = p.root_kind == "global" ? fmt::format("{} (global)", p.root) : p.root;
    if (p.goroutines > 1) chain += fmt::format(" and {} more goroutines", p.goroutines - 1);
    for (const auto& v : p.via) chain += " → " + v;
    chain += " → " + p.object;
    out << fmt::format(
        "      held by: {} of {} sampled objects are reachable through {}; {} "
        "confirmed by a re-read\n",
        p.objects, r.sampled_objects, chain, p.confirmed);
  }
}

void write_finding(std::ostream& out, size_t rank, const HeapFinding& f, const TerminalOptions& opt,
                   const Style& st) {
  const detect::Trend& t = f.trend;
  out << fmt::format("#{:<3} {}  {} in use ({} objects)  {}  confidence {}\n", rank,
                     verdict_label(t.verdict, st), human_bytes(static_cast<double>(f.inuse_bytes)),
                     group_thousands(f.inuse_objects), human_rate(t.slope_per_s),
                     percent(std::min(t.confidence, 0.999)));
  if (f.alloc_bytes_window > 0 || f.free_bytes_window > 0) {
    // t.n counts series points (post-GC snapshots taken at each poll), not GC cycles.
    out << fmt::format(
        "      in the window: {} allocated, {} freed; trend over {} post-GC points\n",
        human_bytes(static_cast<double>(f.alloc_bytes_window)),
        human_bytes(static_cast<double>(f.free_bytes_window)), t.n);
  }
  if (f.retention) write_retention(out, *f.retention, st);
  if (f.children.empty()) {
    write_stack(out, f.stack, opt.max_frames, st);
    return;
  }
  // A caller finding: its frames, then one line per child stack at the
  // child's own allocation site (its first frame that is not the runtime's).
  out << fmt::format("      in {} stacks below one caller, judged together:\n", f.children.size());
  write_stack(out, f.stack, opt.max_frames, st);
  for (const HeapFinding& c : f.children) {
    const std::vector<StackLine> lines = stack_lines(c.stack);
    auto site = std::find_if(lines.begin(), lines.end(),
                             [](const StackLine& l) { return l.collapsed == 0; });
    out << fmt::format(
        "        {} {:>10} in use  {:>12}  {} {}\n", verdict_label(c.trend.verdict, st),
        human_bytes(static_cast<double>(c.inuse_bytes)), human_rate(c.trend.slope_per_s),
        site == lines.end() ? "(runtime)" : site->function,
        site == lines.end() ? "" : site->location);
  }
}

}  // namespace

std::string short_file(const std::string& path) {
  const size_t last = path.rfind('/');
  if (last == std::string::npos || last == 0) return path;
  const size_t prev = path.rfind('/', last - 1);
  return prev == std::string::npos ? path : path.substr(prev + 1);
}

std::vector<StackLine> stack_lines(const std::vector<Frame>& stack) {
  std::vector<StackLine> lines;
  for (const Frame& f : stack) {
    if (is_runtime_frame(f)) {
      if (lines.empty() || lines.back().collapsed == 0) lines.push_back({});
      ++lines.back().collapsed;
      continue;
    }
    std::string loc = f.file.empty() ? "?" : short_file(f.file);
    if (f.line > 0) loc += fmt::format(":{}", f.line);
    lines.push_back({f.function.empty() ? "?" : f.function, std::move(loc), 0});
  }
  return lines;
}

namespace {

void write_heap(std::ostream& out, const Report& r, const TerminalOptions& opt, const Style& st) {
  if (r.target.go_version.empty()) return;  // not a Go program
  std::vector<const HeapFinding*> order;
  for (const HeapFinding& f : r.heap) order.push_back(&f);
  std::stable_sort(order.begin(), order.end(), [](const HeapFinding* a, const HeapFinding* b) {
    return finding_before(*a, *b);
  });
  const VerdictTally tally = tally_verdicts(r.heap);
  const size_t leaks = tally.leak, growing = tally.growing;

  out << "\n"
      << st(kBold, fmt::format("Go heap: {} leak{}, {} growing, {} stack{} tracked", leaks,
                               leaks == 1 ? "" : "s", growing, r.heap.size(),
                               r.heap.size() == 1 ? "" : "s"))
      << "\n";
  if (const detect::FdrResult& fdr = r.heap_fdr; fdr.judged > 0) {
    out << st(kDim,
              fmt::format("  {} stacks and {} callers judged at once: leak at p <= {:.2g}; at most "
                          "{:.0f}% of the leaks reported are expected to be false ({:.2f} of {})",
                          r.heap_stacks_judged, r.heap_callers_judged, fdr.threshold, fdr.q * 100,
                          fdr.false_leaks_bound(), fdr.leaks))
        << "\n";
  }
  if (r.heap_leak_floor_bytes_per_s > 0) {
    // What this window could not have seen: the answer to "no leak found".
    out << st(kDim, fmt::format("  leaks slower than {} of objects under the sampling rate may "
                                "be missed in this window (too few samples): a longer window "
                                "sees them",
                                human_bytes(r.heap_leak_floor_bytes_per_s) + "/s"))
        << "\n";
  }
  if (const RetentionWalk& w = r.retention_walk; w.ran) {
    std::string stacks = w.stacks_why_not.empty()
                             ? fmt::format("; {} goroutine stacks scanned ({} running, skipped)",
                                           w.goroutines, w.goroutines_running)
                             : "; goroutine stacks not scanned: " + w.stacks_why_not;
    const std::string paced = w.cpu_share < 1
                                  ? fmt::format("; {:.1f} s of CPU, paced to {:.0f}% of a core",
                                                w.cpu_seconds, w.cpu_share * 100)
                                  : "";
    out << st(kDim,
              fmt::format("  retention walk: {} of {} heap scanned in {:.1f} s ({} read{}{}{})",
                          human_bytes(static_cast<double>(w.scanned_bytes)),
                          human_bytes(static_cast<double>(w.heap_bytes)), w.seconds,
                          human_bytes(static_cast<double>(w.bytes_read)), paced, stacks,
                          w.complete ? "" : "; stopped by the " + w.stopped))
        << "\n";
  } else if (!w.why_not.empty()) {
    out << st(kDim, "  retention walk: not run: " + w.why_not) << "\n";
  }
  if (leaks + growing == 0) {
    out << "No growing heap stack was found in the window.\n";
    if (!opt.show_stable) return;
  }
  size_t listed = 0, rank = 0, unlisted = 0;
  for (const HeapFinding* f : order) {
    ++rank;
    if (f->trend.verdict == detect::Verdict::Stable && !opt.show_stable) break;
    if (listed >= opt.max_findings) {
      ++unlisted;
      continue;
    }
    out << "\n";
    write_finding(out, rank, *f, opt, st);
    ++listed;
  }
  if (unlisted > 0) {
    out << "\n"
        << fmt::format("… {} more finding{} not shown\n", unlisted, unlisted == 1 ? "" : "s");
  }
}

void write_native(std::ostream& out, const Report& r, const TerminalOptions& opt, const Style& st) {
  const NativeStats& s = r.native_stats;
  if (!s.tracked) {
    if (!s.why_not.empty()) out << "\n" << st(kDim, "Native allocations: " + s.why_not) << "\n";
    return;
  }
  const VerdictTally tally = tally_verdicts(r.native);
  const size_t leaks = tally.leak, growing = tally.growing;
  out << "\n"
      << st(kBold, fmt::format("Native (C) allocations: {} leak{}, {} growing, {} stack{} tracked",
                               leaks, leaks == 1 ? "" : "s", growing, r.native.size(),
                               r.native.size() == 1 ? "" : "s"))
      << "\n";
  const double rate = r.duration_s > 0 ? static_cast<double>(s.calls) / r.duration_s : 0;
  std::string cost;
  if (s.cost_ns_per_call >= 0)
    cost = fmt::format(", ~{:.1f} µs each (≈{} of a CPU)", s.cost_ns_per_call / 1000,
                       percent(rate * s.cost_ns_per_call / 1e9));
  out << fmt::format("  {}: {} probe hits ({}/s{}), {} allocations, {} frees in the window\n",
                     s.allocator, group_thousands(s.calls),
                     group_thousands(static_cast<uint64_t>(rate)), cost, group_thousands(s.allocs),
                     group_thousands(s.frees));
  out << fmt::format("  outstanding since attach: {} in {} blocks; {} frees of older blocks\n",
                     human_bytes(static_cast<double>(s.outstanding_bytes)),
                     group_thousands(s.outstanding_allocs), group_thousands(s.frees_unknown));
  if (s.dropped() > 0) {
    out << st(kYellow,
              fmt::format("  dropped: {} ({} table full at {} blocks, {} stacks, {} Go stacks, "
                          "{} calls): the numbers are low",
                          group_thousands(s.dropped()), group_thousands(s.dropped_table_full),
                          group_thousands(s.max_allocs), group_thousands(s.dropped_stack),
                          group_thousands(s.dropped_go_stack), group_thousands(s.dropped_pending)))
        << "\n";
  }
  if (leaks + growing == 0) {
    out << "No growing native stack was found in the window.\n";
    if (!opt.show_stable) return;
  }
  size_t listed = 0, rank = 0;
  for (const NativeFinding& f : r.native) {
    ++rank;
    if (f.trend.verdict == detect::Verdict::Stable && !opt.show_stable) break;
    if (listed >= opt.max_findings) break;
    const detect::Trend& t = f.trend;
    out << "\n"
        << fmt::format("#{:<3} {}  {} outstanding ({} blocks)  {}  confidence {}\n", rank,
                       verdict_label(t.verdict, st),
                       human_bytes(static_cast<double>(f.inuse_bytes)),
                       group_thousands(f.inuse_objects), human_rate(t.slope_per_s),
                       percent(std::min(t.confidence, 0.999)));
    if (f.oldest_age_s >= 0)
      out << fmt::format("      oldest block allocated {} ago\n", human_duration(f.oldest_age_s));
    write_stack(out, f.stack, opt.max_frames, st);
    ++listed;
  }
}

std::string signed_rate(double per_s, const char* unit) {
  return fmt::format("{:+.3g} {}/s", per_s, unit);
}

std::string frame_location(const Frame& f) {
  std::string loc = f.file.empty() ? "?" : short_file(f.file);
  if (f.line > 0) loc += fmt::format(":{}", f.line);
  return loc;
}

// The chain of creators, one line each: where the creating goroutine was
// (with the runtime's record, the program's own frame nearest the go
// statement: package main first, the user's code behind a library) and
// where it was itself created.
void write_creators(std::ostream& out, const GoroutineFinding& f, const Style& st) {
  constexpr size_t kShown = 4;
  for (size_t i = 0; i < f.chain.size() && i < kShown; i++) {
    const Creator& c = f.chain[i];
    const Frame* at = nullptr;
    for (const Frame& fr : c.stack)
      if (fr.function.starts_with("main.")) {
        at = &fr;
        break;
      }
    if (!at) at = first_program_frame(c.stack, true);
    if (!at && !c.entry.function.empty()) at = &c.entry;
    std::string line = fmt::format("goroutine {}", c.goid);
    if (at) line += fmt::format(" in {}  {}", at->function, frame_location(*at));
    if (!c.alive && c.stack.empty()) line += " (exited)";
    if (!c.created_at.function.empty())
      line +=
          fmt::format(", created by {}  {}", c.created_at.function, frame_location(c.created_at));
    out << "      " << st(kDim, i == 0 ? "from " : "     ") << line << "\n";
  }
  if (f.chain.size() > kShown)
    out << "      " << st(kDim, fmt::format("     ... {} more (JSON)", f.chain.size() - kShown))
        << "\n";
}

void write_goroutine(std::ostream& out, size_t rank, const GoroutineFinding& f,
                     const TerminalOptions& opt, const Style& st) {
  const detect::Trend& t = f.trend;
  if (f.evidence == Evidence::GcProof) {
    // A proof, not a statistic: no confidence to show.
    out << fmt::format("#{:<3} {} {}  {} goroutine{}  {}\n", rank, verdict_label(t.verdict, st),
                       st(kBold, "PROVEN"), group_thousands(f.count), f.count == 1 ? "" : "s",
                       signed_rate(t.slope_per_s, "goroutines"));
    out << "      " << f.evidence_text << "\n";
  } else if (f.evidence == Evidence::Stuck) {
    // A hint, not a proof: it says how long, not how sure.
    out << fmt::format("#{:<3} {} {}  {} goroutine{}  {}\n", rank, verdict_label(t.verdict, st),
                       st(kBold, "STUCK"), group_thousands(f.count), f.count == 1 ? "" : "s",
                       signed_rate(t.slope_per_s, "goroutines"));
    out << "      " << f.evidence_text << "\n";
    const StuckEvidence& e = f.stuck;
    out << fmt::format("      wait ages: min {}, median {}, p90 {}, max {}{}\n",
                       human_duration(e.min_s), human_duration(e.p50_s), human_duration(e.p90_s),
                       human_duration(e.max_s),
                       e.unknown_age ? fmt::format("; {} unknown", e.unknown_age) : "");
  } else {
    out << fmt::format("#{:<3} {}  {} goroutine{}  {}  confidence {}\n", rank,
                       verdict_label(t.verdict, st), group_thousands(f.count),
                       f.count == 1 ? "" : "s", signed_rate(t.slope_per_s, "goroutines"),
                       percent(std::min(t.confidence, 0.999)));
  }
  out << fmt::format("      created by {}  {}\n", f.created_at.function,
                     frame_location(f.created_at));
  out << fmt::format("      runs       {}\n", f.entry.function);
  write_creators(out, f, st);
  std::string states;
  for (const auto& [s, n] : f.states) {
    if (!states.empty()) states += ", ";
    states += fmt::format("{} ({})", s, group_thousands(n));
  }
  if (!states.empty()) {
    out << "      state: " << states;
    if (f.longest_wait_s >= 0) out << "; longest wait " << human_duration(f.longest_wait_s);
    out << "\n";
  }
  if (f.created_window >= 0) {
    out << fmt::format("      in the window: {} created, {} ended\n",
                       group_thousands(static_cast<uint64_t>(f.created_window)),
                       group_thousands(static_cast<uint64_t>(f.exited_window)));
  }
  if (f.stack_sampled > 0) {
    out << "      "
        << st(kDim, fmt::format("stack of {} of the {} read:", group_thousands(f.stack_share),
                                group_thousands(f.stack_sampled)))
        << "\n";
  }
  write_stack(out, f.stack, opt.max_frames, st);
}

void write_goroutines(std::ostream& out, const Report& r, const TerminalOptions& opt,
                      const Style& st) {
  if (!r.goroutines_read) return;
  std::vector<const GoroutineFinding*> order;
  for (const GoroutineFinding& f : r.goroutines) order.push_back(&f);
  std::stable_sort(
      order.begin(), order.end(),
      [](const GoroutineFinding* a, const GoroutineFinding* b) { return finding_before(*a, *b); });
  const VerdictTally tally = tally_verdicts(r.goroutines);
  const size_t leaks = tally.leak, growing = tally.growing;
  size_t proven = 0, stuck = 0;
  for (const GoroutineFinding* f : order) {
    proven += f->evidence == Evidence::GcProof;
    stuck += f->evidence == Evidence::Stuck;
  }
  out << "\n"
      << st(kBold,
            fmt::format("Goroutines: {} leak{}{}{}, {} growing; {} live ({} user) from {} "
                        "creation site{}",
                        leaks, leaks == 1 ? "" : "s",
                        proven ? fmt::format(" ({} proven by the runtime's GC)", proven) : "",
                        stuck ? fmt::format(" ({} stuck)", stuck) : "", growing,
                        group_thousands(r.goroutines_total), group_thousands(r.goroutines_user),
                        r.goroutines.size(), r.goroutines.size() == 1 ? "" : "s"))
      << "\n";
  if (leaks + growing == 0) out << "No growing goroutine creation site was found in the window.\n";
  size_t listed = 0, rank = 0;
  for (const GoroutineFinding* f : order) {
    ++rank;
    if (f->trend.verdict == detect::Verdict::Stable && !opt.show_stable) break;
    if (listed >= opt.max_findings) break;
    out << "\n";
    write_goroutine(out, rank, *f, opt, st);
    ++listed;
  }
  if (!opt.show_stable) {
    // The largest stable sites, for context (what pprof's goroutine profile shows first).
    std::vector<const GoroutineFinding*> stable;
    for (const GoroutineFinding* f : order) {
      if (f->trend.verdict == detect::Verdict::Stable && !f->system && f->count > 0)
        stable.push_back(f);
    }
    std::stable_sort(stable.begin(), stable.end(),
                     [](const auto* a, const auto* b) { return a->count > b->count; });
    if (!stable.empty()) out << "\nLargest stable sites:\n";
    for (size_t i = 0; i < stable.size() && i < 3; i++) {
      out << fmt::format("  {:>7}  {}  {}  ({})\n", group_thousands(stable[i]->count),
                         stable[i]->created_at.function, frame_location(stable[i]->created_at),
                         stable[i]->wait_reason);
    }
  }
}

// "at this rate the limit is reached in ~3h40m", or why there is no forecast.
std::string forecast_line(const MemoryForecast& m) {
  if (!m.read) return "memory limit: unknown (" + m.why_unread + ")";
  std::string where = fmt::format("cgroup v{} {}", m.cgroup_version, m.cgroup);
  if (!m.limited) {
    return fmt::format(
        "memory limit: none ({}; usage {}): the process can grow until the node "
        "runs out",
        where, human_bytes(static_cast<double>(m.usage_bytes)));
  }
  std::string head = fmt::format(
      "memory limit: {} ({}{}), usage {} ({})", human_bytes(static_cast<double>(m.limit_bytes)),
      where, m.limit_cgroup == m.cgroup ? "" : ", set on " + m.limit_cgroup,
      human_bytes(static_cast<double>(m.usage_bytes)),
      percent(static_cast<double>(m.usage_bytes) /
              static_cast<double>(std::max<uint64_t>(1, m.limit_bytes))));
  if (m.seconds_to_limit < 0) return head + "; not growing";
  return head + fmt::format("; growing {}: at this rate the limit is reached in ~{}",
                            human_rate(m.trend.slope_per_s), human_eta(m.seconds_to_limit));
}

void write_process(std::ostream& out, const Report& r, const Style& st) {
  if (r.memory.read || !r.memory.why_unread.empty()) {
    const bool warn = r.memory.seconds_to_limit >= 0;
    out << "\n" << (warn ? st(kYellow, forecast_line(r.memory)) : forecast_line(r.memory)) << "\n";
  }
  // The runtime's own limit next to the cgroup's.
  if (std::string g = gomemlimit_line(r.gomemlimit); !g.empty()) {
    out << (r.gomemlimit.seconds_to_spiral >= 0 ? st(kYellow, g) : g) << "\n";
  }
  for (const std::string& line : rss_breakdown_lines(r.rss)) out << line << "\n";
  if (r.process.empty()) return;
  out << "\n" << st(kBold, "Process (/proc)") << "\n";
  for (const ProcessFinding& f : r.process) {
    const bool bytes = f.metric == "rss_bytes";
    std::string value =
        bytes ? human_bytes(f.value) : group_thousands(static_cast<uint64_t>(f.value));
    std::string rate =
        bytes ? human_rate(f.trend.slope_per_s) : fmt::format("{:+.3g}/s", f.trend.slope_per_s);
    out << fmt::format("  {}  {:<11} {:>10}  {}\n", verdict_label(f.trend.verdict, st), f.metric,
                       value, rate);
  }
}

}  // namespace

void write_terminal(std::ostream& out, const Report& r, const TerminalOptions& opt) {
  const Style st{opt.color};
  write_header(out, r, st);
  write_heap(out, r, opt, st);
  write_native(out, r, opt, st);
  write_goroutines(out, r, opt, st);
  write_process(out, r, st);
}

}  // namespace leakhound::report
