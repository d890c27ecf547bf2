// What every capability (Go heap, goroutines, native allocations, /proc
// series, and the next ones) is to a Session: one set of verbs with the same
// meaning for all, so `attach` (one window) and the daemon (a rolling window,
// a report every period) drive them alike.
//
//   poll()            one series point; cheap enough to run every interval
//   trim(keep_s)      forget points older than keep_s before the newest
//   contribute(r)     add findings over what is held now; stops nothing, may
//                     be called any number of times (the daemon's reports)
//   stop(r)           the last contribution, then release everything held in
//                     the target: probes detached, writes undone. Once.
//
// Sorting, truncation and the report's frame belong to the Session
// (collect/report_assembly.h), not to the capabilities.
//
// A capability is a folder of collect/ (collect/heap, collect/native, ...)
// whose header declares one open function, registered by one line in
// collect/session.cpp's table:
//
//   Result<std::unique_ptr<Capability>> open_<name>(OpenContext&, report::Report&);
//
// It returns the running capability; null when it does not apply to this
// target or cannot start and is not essential (it says why in the report: a
// note, or its section's why_not); an error only when the session cannot go
// on without it (asked for explicitly, or all there is to measure).
#pragma once

#include <memory>
#include <string_view>

#include "report/model.h"
#include "util/log.h"
#include "util/result.h"

namespace leakhound::collect {

struct OpenContext;  // collect/session.h: the options and the target, read once

class Capability {
 public:
  virtual ~Capability() = default;
  // For log lines: "heap", "goroutines", "native", "process".
  virtual std::string_view name() const = 0;
  // How loud a failed poll of a live target is. A capability whose series
  // are the report's core warns; one whose reads race the target by nature
  // (allgs, /proc) fails now and then and only says so at debug.
  virtual spdlog::level::level_enum poll_error_level() const { return spdlog::level::warn; }

  virtual Result<void> poll() = 0;
  virtual void trim(double keep_s) = 0;
  virtual void contribute(report::Report& r) = 0;
  virtual void stop(report::Report& r) = 0;
};

}  // namespace leakhound::collect
