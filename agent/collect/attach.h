// One attach session: open the target, start every capability's collector,
// poll them for the window, detach, and return the report.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>

#include "collect/session.h"
#include "report/model.h"
#include "util/result.h"

namespace leakhound::collect {

struct AttachOptions : SessionOptions {
  double duration_s = 30;
  double interval_s = 0.5;  // how often the collectors poll the target
};

struct AttachHooks {
  const std::atomic<bool>* stop = nullptr;         // set by SIGINT/SIGTERM: end early
  std::function<void(double elapsed_s)> progress;  // called after each poll
};

// Errors only when nothing could be gathered (bad PID, no permission, neither
// a Go program nor a process with a C allocator to trace).
// A target that exits mid-window yields the partial report (target_exited).
Result<report::Report> run_attach(const AttachOptions& opts, const AttachHooks& hooks);

}  // namespace leakhound::collect
