// `stuck` evidence for goroutine sites, where the runtime cannot prove a leak
// (Go 1.21-1.25, or the check off): every goroutine of the site is blocked
// on a channel, a select or a sync object, the site's count never fell over
// the window, and the goroutines it had at the start of the window have all
// been blocked longer than --stuck-after. A strong hint, never a proof: an
// idle worker pool looks the same.
//
// The ages come from the runtime's g.waitsince: the start of the first GC
// cycle that saw the goroutine blocked (mgcmark.go, markroot), reset when it
// runs again (proc.go, execute). An age is thus a lower bound, and unknown
// (waitsince 0) until a GC cycle has seen the goroutine blocked.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "detect/trend.h"
#include "report/model.h"

namespace leakhound::collect {

// Waits that only end when another goroutine acts: channel operations,
// select with cases, sync.Mutex/RWMutex/WaitGroup/Cond, semaphores. IO
// waits, sleeps, timers and `select {}` (parked on purpose) do not count.
bool is_stuck_wait(std::string_view r);

// One live goroutine of a site at the last read.
struct BlockedGoroutine {
  bool counted_wait = false;  // waiting, on a wait is_stuck_wait() accepts
  double age_s = -1;          // since the GC first saw it blocked; -1: unknown
};

// The site's evidence when it is stuck, else nullopt. series: the site's live
// count per snapshot over the window.
std::optional<report::StuckEvidence> judge_stuck(const std::vector<BlockedGoroutine>& gs,
                                                 const std::vector<detect::Point>& series,
                                                 double stuck_after_s);

// Makes f a `leak` with evidence stuck (its count never fell) and says why.
void mark_stuck(report::GoroutineFinding& f, const report::StuckEvidence& e);

}  // namespace leakhound::collect
