// The RSS breakdown and GOMEMLIMIT's forecast in words, for the terminal
// report and the HTML page: "RSS +2.0 MiB/s: Go heap live +1.0 MiB/s, GC
// headroom +1.0 MiB/s (GOGC=100), ...".
#pragma once

#include <string>
#include <vector>

#include "report/model.h"

namespace leakhound::report {

// The breakdown's lines (empty when it was not read and says nothing).
std::vector<std::string> rss_breakdown_lines(const RssBreakdown& b);
// GOMEMLIMIT's forecast in one line; empty when no GOMEMLIMIT is set.
std::string gomemlimit_line(const GoMemLimitForecast& f);

}  // namespace leakhound::report
