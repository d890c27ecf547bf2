#include "collect/heap/heap_verdicts.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <string>

#include "detect/caller_tree.h"

namespace leakhound::collect {
namespace {

// The series from `from_s` on, unless that leaves too few points for a leak
// verdict to be reachable (then all of it). Cut at fewer, a report whose
// span from `from_s` has just reached min_points would judge a steady leak
// on too few points to pass, after the report before it judged all of them:
// a daemon's verdict flapping leak, growing, leak as the sample budget's
// calibration ended (daemon_e2e's OOM case).
std::vector<detect::Point> judged(const std::vector<detect::Point>& s, double from_s,
                                  size_t min_points) {
  auto it =
      std::find_if(s.begin(), s.end(), [&](const detect::Point& p) { return p.t_s >= from_s; });
  if (static_cast<size_t>(s.end() - it) < min_points) return s;
  return {it, s.end()};
}

bool worth_listing(const report::HeapFinding& f) {
  return f.inuse_bytes != 0 || f.alloc_objects_window != 0 ||
         f.trend.verdict != detect::Verdict::Stable;
}

// One stack judged on its own: the series its verdict rests on (corrected for
// its warm-up when its allocations since attach are known, else from
// judged_from_s), and whether its fit cannot tell a leak from its warm-up.
struct Alone {
  detect::Trend trend;
  std::vector<detect::Point> series;
  bool long_lived = false;  // detect::warmup_ambiguous
};

Alone judge_stack(const StackSeries& st, const VerdictOptions& o) {
  Alone j;
  const std::vector<detect::Point>& series = st.finding.series;
  const size_t min_points = detect::points_for_leak(o.trend);
  if (!st.allocated.empty()) {
    const std::vector<detect::Point> s = judged(series, st.warmup_from_s, min_points);
    const std::vector<detect::Point> a =
        s.size() == series.size() ? st.allocated : judged(st.allocated, st.warmup_from_s, 0);
    detect::WarmupVerdict v = detect::analyze_warmup(s, a, o.window_s, o.trend);
    j.trend = v.trend;
    j.series = std::move(v.corrected);
    j.long_lived = detect::warmup_ambiguous(v.fit, o.window_s);
  } else {
    j.series = judged(series, st.judged_from_s, min_points);
    j.trend = detect::analyze(j.series, o.trend);
  }
  detect::require_retention(j.trend, static_cast<double>(st.finding.alloc_bytes_window), o.window_s,
                            o.min_retained_fraction);
  return j;
}

struct Aggregate {
  detect::Trend trend;
  std::vector<detect::Point> series;
};

// The summed series of `members`. With their warm-ups known, each member is
// corrected for its own (its lifetime, its rate) and the corrected series
// are summed and judged: fitted as one population, a live set filling slowly
// next to fast churn under one loop reads as "1% kept" and keeps its fill (a
// CI run: main.every's remainder of sessions kept 10 s and 10 MB/s of churn,
// a leak). The sum stops at "growing" when most of its rise comes from
// members whose own warm-up cannot be told from a leak. Else judged from the
// latest start among them.
Aggregate judge_sum(const std::vector<StackSeries>& stacks, const std::vector<Alone>& alone,
                    const std::vector<size_t>& members, const VerdictOptions& o) {
  std::vector<const std::vector<detect::Point>*> parts, corrected;
  double from = -std::numeric_limits<double>::infinity(), allocated = 0;
  bool warmup = true;
  for (size_t i : members) {
    parts.push_back(&stacks[i].finding.series);
    corrected.push_back(&alone[i].series);
    warmup = warmup && !stacks[i].allocated.empty();
    from = std::max(from, stacks[i].judged_from_s);
    allocated += static_cast<double>(stacks[i].finding.alloc_bytes_window);
  }
  Aggregate a;
  a.series = detect::sum_series(parts);
  if (!warmup) {
    a.trend = detect::analyze(judged(a.series, from, detect::points_for_leak(o.trend)), o.trend);
    detect::require_retention(a.trend, allocated, o.window_s, o.min_retained_fraction);
    return a;
  }
  a.trend = detect::analyze(detect::sum_series(corrected), o.trend);
  detect::require_retention(a.trend, allocated, o.window_s, o.min_retained_fraction);
  if (a.trend.verdict != detect::Verdict::Leak) return a;
  double rise = 0, long_rise = 0;
  for (size_t i : members) {
    const std::vector<detect::Point>& c = alone[i].series;
    if (c.size() < 2) continue;
    const double g = c.back().value - c.front().value;
    rise += g;
    if (alone[i].long_lived) long_rise += g;
  }
  if (rise > 0 && long_rise >= 0.5 * rise) {
    a.trend.verdict = detect::Verdict::Growing;
    a.trend.reason = detect::kWarmupAmbiguousReason;
  }
  return a;
}

report::HeapFinding caller_finding(const std::vector<StackSeries>& stacks,
                                   const std::vector<size_t>& members, size_t depth,
                                   Aggregate agg) {
  report::HeapFinding f;
  f.trend = agg.trend;
  f.series = std::move(agg.series);
  // The caller and its callers, as the child listed first has them (the
  // others reach the caller through the same functions; lines may differ):
  // the line shown is that of the biggest leak under it.
  const size_t lead = *std::min_element(members.begin(), members.end(), [&](size_t a, size_t b) {
    return report::finding_before(stacks[a].finding, stacks[b].finding);
  });
  const std::vector<Frame>& first = stacks[lead].finding.stack;
  f.stack.assign(first.end() - static_cast<std::ptrdiff_t>(std::min(depth, first.size())),
                 first.end());
  for (size_t i : members) {
    const report::HeapFinding& c = stacks[i].finding;
    f.inuse_bytes += c.inuse_bytes;
    f.inuse_objects += c.inuse_objects;
    f.alloc_bytes_window += c.alloc_bytes_window;
    f.alloc_objects_window += c.alloc_objects_window;
    f.free_bytes_window += c.free_bytes_window;
    f.free_objects_window += c.free_objects_window;
    if (worth_listing(c)) f.children.push_back(c);
  }
  std::stable_sort(f.children.begin(), f.children.end(),
                   [](const report::HeapFinding& a, const report::HeapFinding& b) {
                     return report::finding_before(a, b);
                   });
  return f;
}

// How many frames from the root down to a stack's innermost frame of the
// program's own code: where a stack that leaks on its own is headed (0 when
// it has none).
size_t program_depth(const std::vector<Frame>& st,
                     const std::function<bool(std::string_view)>& is_program) {
  const auto own =
      std::find_if(st.begin(), st.end(), [&](const Frame& f) { return is_program(f.function); });
  return static_cast<size_t>(st.end() - own);
}

// Stacks that leak on their own, grouped by their path from the root down to
// their innermost frame of the program's own code: one function's leaking
// allocation sites (or its leaking calls into a library), however many.
std::map<std::vector<std::string_view>, std::vector<size_t>> leaks_by_function(
    const std::vector<StackSeries>& stacks, const std::vector<long>& owner,
    const std::vector<size_t>& own_depth) {
  std::map<std::vector<std::string_view>, std::vector<size_t>> out;
  for (size_t i = 0; i < stacks.size(); ++i) {
    if (owner[i] != -2 || own_depth[i] == 0) continue;
    const std::vector<Frame>& st = stacks[i].finding.stack;  // leaf first
    std::vector<std::string_view> path;
    for (auto it = st.rbegin(); it != st.rbegin() + static_cast<std::ptrdiff_t>(own_depth[i]); ++it)
      path.push_back(it->function);
    out[std::move(path)].push_back(i);
  }
  return out;
}

// Every stack whose path from the root starts with `prefix`.
std::vector<size_t> stacks_below(const std::vector<StackSeries>& stacks,
                                 const std::vector<std::string_view>& prefix) {
  std::vector<size_t> out;
  for (size_t i = 0; i < stacks.size(); ++i) {
    const std::vector<Frame>& st = stacks[i].finding.stack;
    if (st.size() < prefix.size()) continue;
    if (std::equal(prefix.begin(), prefix.end(), st.rbegin(),
                   [](std::string_view a, const Frame& f) { return a == f.function; }))
      out.push_back(i);
  }
  return out;
}

}  // namespace

// Two passes, because which stacks a caller's remainder excludes depends on
// the cutoff, and the cutoff on every p-value:
// 1. every stack and the full sum below every caller are judged; the
//    Benjamini-Hochberg cutoff is chosen over all of those p-values and
//    applied to the stacks;
// 2. callers deepest first: a caller's stacks that are not yet part of a
//    finding (a stack that leaks on its own, a deeper caller finding) are
//    summed and judged again at the same cutoff. If that remainder leaks, the
//    caller is a finding with its remainder, and with the findings already
//    headed at the same function (its own sites that leak on their own).
//    The remainder, not the full sum, so that one leaking stack (or one
//    deeper caller finding) does not also make each of its callers a leak:
//    an ancestor becomes a finding only if what is left below it leaks too.
//    And never the findings at functions it calls: each stays where it was
//    found. Taken in, a leak at one function would be hidden under any
//    caller above it that a second, weaker leak makes a finding: a loop or a
//    server's connection handler calling every leak of the program (a CI
//    run: main.splitLeak's finding swallowed by main.every's, formed by
//    16 KiB/s leaking in a sibling stack next to a live set still filling).
// Before the callers, the stacks that leak on their own are grouped by the
// innermost function of the program they pass through (by the same path):
// two or more are one finding at that function, with the stacks below it
// that no finding at another function holds. One function's leak split over
// its call sites (four `make`s in one handler, or calls into a library that
// allocates through several paths) is one leak however many samples each
// stack has; at a fine sampling rate each is a leak on its own, and only
// its own would otherwise name the function once.
HeapVerdicts judge_heap(std::vector<StackSeries> stacks, const VerdictOptions& o) {
  HeapVerdicts out;
  std::vector<std::vector<std::string>> names(stacks.size());
  std::vector<Alone> alone(stacks.size());
  for (size_t i = 0; i < stacks.size(); ++i) {
    alone[i] = judge_stack(stacks[i], o);
    stacks[i].finding.trend = alone[i].trend;
    for (const Frame& fr : stacks[i].finding.stack) names[i].push_back(fr.function);
  }
  const std::function<bool(std::string_view)> may_be_caller =
      o.may_be_caller ? o.may_be_caller : [](std::string_view) { return true; };
  const std::vector<detect::CallerNode> nodes = detect::caller_nodes(names, may_be_caller);

  std::vector<detect::Trend> full(nodes.size());
  for (size_t n = 0; n < nodes.size(); ++n)
    full[n] = judge_sum(stacks, alone, nodes[n].stacks, o).trend;
  std::vector<detect::Trend*> all;
  all.reserve(stacks.size() + full.size());
  for (auto& s : stacks) all.push_back(&s.finding.trend);
  for (auto& t : full) all.push_back(&t);
  out.fdr = detect::control_false_leaks(all, o.trend.alpha, o.fdr);
  out.stacks_judged = stacks.size();
  out.callers_judged = nodes.size();

  // owner[i]: -1 free, -2 a leak on its own, >= 0 index of its caller finding.
  std::vector<long> owner(stacks.size(), -1);
  for (size_t i = 0; i < stacks.size(); ++i)
    if (stacks[i].finding.trend.verdict == detect::Verdict::Leak) owner[i] = -2;
  const std::function<bool(std::string_view)>& is_program =
      o.is_program ? o.is_program : may_be_caller;
  std::vector<size_t> own_depth(stacks.size());
  for (size_t i = 0; i < stacks.size(); ++i)
    own_depth[i] = program_depth(stacks[i].finding.stack, is_program);
  std::vector<std::optional<report::HeapFinding>> callers;
  std::vector<size_t> caller_depth;
  // Whether stack i is part of a finding headed at the function `depth`
  // frames from the root (on its path): a leak on its own there, or a
  // caller finding there.
  auto headed_at = [&](size_t i, size_t depth) {
    return (owner[i] == -2 && own_depth[i] == depth) ||
           (owner[i] >= 0 && caller_depth[static_cast<size_t>(owner[i])] == depth);
  };
  // `members` become one caller finding, replacing the one at the same
  // function that any of them were part of.
  auto adopt = [&](const std::vector<size_t>& members, size_t depth, Aggregate agg) {
    for (size_t i : members)
      if (owner[i] >= 0) callers[static_cast<size_t>(owner[i])].reset();
    for (size_t i : members) owner[i] = static_cast<long>(callers.size());
    callers.emplace_back(caller_finding(stacks, members, depth, std::move(agg)));
    caller_depth.push_back(depth);
  };
  // In reverse order of their paths, which puts every path before its
  // prefixes. Paths that are not prefixes of one another have no stack in
  // common, so their order does not matter.
  const auto groups = leaks_by_function(stacks, owner, own_depth);
  for (auto g = groups.rbegin(); g != groups.rend(); ++g) {
    const auto& [path, leaking] = *g;
    if (leaking.size() < 2) continue;
    // With the function's other stacks when their sum still leaks (they are
    // its children either way); else the leaking ones alone.
    std::vector<size_t> members;
    for (size_t i : stacks_below(stacks, path))
      if (owner[i] == -1 || headed_at(i, path.size())) members.push_back(i);
    Aggregate agg = judge_sum(stacks, alone, members, o);
    if (agg.trend.verdict != detect::Verdict::Leak || agg.trend.p_value > out.fdr.threshold) {
      members = leaking;
      agg = judge_sum(stacks, alone, members, o);
      if (agg.trend.verdict != detect::Verdict::Leak) continue;
    }
    adopt(members, path.size(), std::move(agg));
  }
  for (const detect::CallerNode& node : nodes) {
    std::vector<size_t> rest;
    for (size_t i : node.stacks)
      if (owner[i] == -1) rest.push_back(i);
    if (rest.size() < 2) continue;  // one stack's sum is that stack, judged already
    Aggregate agg = judge_sum(stacks, alone, rest, o);
    if (agg.trend.verdict != detect::Verdict::Leak) continue;
    if (agg.trend.p_value > out.fdr.threshold) continue;
    // The caller is a leak beyond what the findings below it explain: one
    // finding with its remainder and whatever leaks at the caller itself.
    std::vector<size_t> members;
    for (size_t i : node.stacks)
      if (owner[i] == -1 || headed_at(i, node.depth)) members.push_back(i);
    adopt(members, node.depth, std::move(agg));
  }
  for (size_t i = 0; i < stacks.size(); ++i)
    if (owner[i] < 0 && worth_listing(stacks[i].finding))
      out.findings.push_back(std::move(stacks[i].finding));
  for (auto& c : callers)
    if (c) out.findings.push_back(std::move(*c));
  // Leaks as reported: a leaking stack inside a caller finding counts once,
  // as the caller.
  out.fdr.leaks = report::tally_verdicts(out.findings).leak;
  return out;
}

}  // namespace leakhound::collect
