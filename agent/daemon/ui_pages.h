// The daemon's pages for people: / lists the watched processes, and
// /ui/report?pid=N is the attach --html page over the rolling window,
// reloading itself while the user does not interact with it.
#pragma once

#include <string>
#include <vector>

#include "daemon/process_table.h"
#include "detect/trend.h"

namespace leakhound::daemon {

inline constexpr int kUiRefreshSeconds = 5;

std::string process_list_page(const std::vector<ProcessEntry>& procs);
std::string report_page(const ProcessEntry& e);

// Go heap in use over the window: the stacks' series summed at each GC cycle.
std::vector<detect::Point> heap_inuse_series(const report::Report& r);

}  // namespace leakhound::daemon
