// `leakhound daemon`: watches every Go process of the host. A /proc scan at
// start and the kernel's exec/exit events (probes/proc_watch) find them; each
// gets a collect::Session, polled at an interval, with verdicts over a rolling
// window published for the HTTP API (daemon/http_api).
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "collect/session.h"
#include "daemon/budget.h"
#include "daemon/filter.h"
#include "util/result.h"

namespace leakhound::daemon {

// The rolling window is not shrunk below this (at the default 2 s interval,
// 30 points: the verdicts still have their minimum).
inline constexpr double kMinShrunkWindowS = 60;

struct DaemonOptions {
  std::string listen = "127.0.0.1:9464";
  double interval_s = 2;       // collector polls
  double window_s = 600;       // series kept for the verdicts
  double report_every_s = 15;  // reports (and /metrics values) refreshed
  double settle_s = 0.5;       // after exec, before attaching: the runtime initializes
  double rescan_s = 30;        // full /proc scan, catching events the ring buffer lost
  // The Go runtime's goroutine leak check (1.26+), asked for at most once per
  // this period per process; 0 (or --read-only): never.
  double leak_check_every_s = 600;
  size_t top_k = 5;
  // OOM kills of watched processes kept with their last reports (/api/v1/oom).
  size_t oom_keep = 8;
  // --memory-budget: the daemon's own RSS it sheds work to stay under
  // (daemon/budget.h); 0: none.
  uint64_t memory_budget_bytes = kDefaultMemoryBudget;
  std::string node;  // the node label of every metric ("": none)
  Filters filters;
  collect::SessionOptions session;  // pid ignored
};

// Runs until *stop; every session is detached cleanly before returning.
Result<void> run_daemon(const DaemonOptions& opts, const std::atomic<bool>& stop);

}  // namespace leakhound::daemon
