#include "collect/goroutines/stuck.h"

#include <algorithm>
#include <cmath>

#include "report/units.h"
#include "util/log.h"

namespace leakhound::collect {

bool is_stuck_wait(std::string_view r) {
  if (r == "select (no cases)") return false;
  return r.starts_with("chan ") || r.starts_with("select") || r.starts_with("sync.") ||
         r == "semacquire";
}

std::optional<report::StuckEvidence> judge_stuck(const std::vector<BlockedGoroutine>& gs,
                                                 const std::vector<detect::Point>& series,
                                                 double stuck_after_s) {
  if (gs.empty() || series.empty() || stuck_after_s <= 0) return std::nullopt;
  for (size_t i = 1; i < series.size(); ++i)
    if (series[i].value < series[i - 1].value) return std::nullopt;  // some ended
  report::StuckEvidence e;
  e.threshold_s = stuck_after_s;
  std::vector<double> ages;
  for (const BlockedGoroutine& g : gs) {
    if (!g.counted_wait) return std::nullopt;  // one that runs, sleeps or waits on IO
    if (g.age_s < 0) {
      e.unknown_age++;
      continue;
    }
    ages.push_back(g.age_s);
    if (g.age_s > stuck_after_s) e.older++;
  }
  e.blocked = gs.size();
  // The goroutines there at the start of the window (the count never fell)
  // must all be old: younger ones are the site's newest, still blocked too.
  const auto at_start = static_cast<uint64_t>(std::max(1.0, series.front().value));
  if (e.older < at_start) return std::nullopt;
  std::sort(ages.begin(), ages.end());
  auto q = [&](double p) {
    return ages[static_cast<size_t>(std::lround(p * static_cast<double>(ages.size() - 1)))];
  };
  e.min_s = ages.front();
  e.p50_s = q(0.5);
  e.p90_s = q(0.9);
  e.max_s = ages.back();
  return e;
}

void mark_stuck(report::GoroutineFinding& f, const report::StuckEvidence& e) {
  f.evidence = report::Evidence::Stuck;
  f.stuck = e;
  f.trend.verdict = detect::Verdict::Leak;
  // judge_stuck returns only with some old goroutine: there are ages.
  const std::string on = f.wait_reason.empty() ? "a channel" : f.wait_reason;
  if (e.blocked == 1) {
    f.evidence_text = fmt::format(
        "stuck: its only goroutine has been blocked on {} for {} (longer than {}); the count "
        "never fell. Not a proof: something may still wake it",
        on, report::human_duration(e.max_s), report::human_duration(e.threshold_s));
  } else {
    f.evidence_text = fmt::format(
        "stuck: all {} goroutines blocked on {}, {} of them for longer than {} (blocked {} to {}, "
        "median {}); the count never fell. Not a proof: something may still wake them",
        e.blocked, on, e.older, report::human_duration(e.threshold_s),
        report::human_duration(e.min_s), report::human_duration(e.max_s),
        report::human_duration(e.p50_s));
  }
  if (e.unknown_age)
    f.evidence_text +=
        fmt::format(" ({} not yet seen blocked by a GC cycle: age unknown)", e.unknown_age);
}

}  // namespace leakhound::collect
