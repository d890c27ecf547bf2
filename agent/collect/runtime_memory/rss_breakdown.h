// The arithmetic of "where the RSS goes" and of GOMEMLIMIT's forecast, over
// readings of RSS and of the Go runtime's own statistics (goruntime/memstats.h).
// Pure functions: unit-tested without a process (tests/unit/collect).
#pragma once

#include <vector>

#include "detect/trend.h"
#include "goruntime/memstats.h"
#include "report/model.h"

namespace leakhound::collect {

struct RuntimeMemReading {
  double t_s = 0;
  uint64_t rss = 0;
  goruntime::MemStatsSnapshot ms;
};

// Least-squares slope (units per second); 0 for fewer than two distinct times.
// Least squares, not Theil-Sen: the slope of a sum is the sum of the slopes,
// so the parts add up to the RSS slope exactly and "unexplained" is the slope
// of what no part accounts for.
double ols_slope(const std::vector<detect::Point>& s);

// The native findings' outstanding bytes summed at each of their points.
std::vector<detect::Point> native_total(const std::vector<report::NativeFinding>& fs);

// Fills everything in `b` but `layout` from the readings, the report's heap
// findings (the stack growing fastest) and native outstanding (r.native, when
// r.native_stats.tracked).
void reconcile_rss(const std::vector<RuntimeMemReading>& rd, const report::Report& r,
                   report::RssBreakdown& b);

// GOMEMLIMIT's forecast (docs/report-format.md, *GOMEMLIMIT forecast*): the
// memory limit's heap goal is limit - non-heap memory - a headroom
// (memory_limit_heap_goal); the GC runs back to back once the live heap
// reaches it (saturation), and the limit rather than GOGC sets the goal once
// live * (1 + GOGC/100) passes it (bound). The spiral comes a runway before
// saturation: the pacer starts a cycle `runway` bytes before the goal, so once
// the room left is no more than the runway (a share of the live heap, as the
// scan work it is made from) the next cycle is due as the last one ends.
// Times at the live heap's fitted slope.
void forecast_gomemlimit(const std::vector<RuntimeMemReading>& rd, int go_minor,
                         report::GoMemLimitForecast& f);

}  // namespace leakhound::collect
