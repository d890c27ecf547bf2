// Proven goroutine leaks for the goroutine capability: asks the Go runtime
// (1.26+) to run its GC-based leak detector right after attach and once more
// before the end of the window (goruntime/leak_check.h), collects the
// goroutines it marked _Gleaked from every allgs read, and turns each site
// with any into a LEAK with evidence gc_proof.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>

#include "collect/go_target.h"
#include "goruntime/goroutines.h"
#include "goruntime/leak_check.h"
#include "probes/goroutine_probes.h"
#include "report/model.h"
#include "target/memory.h"

namespace leakhound::collect {

struct LeakProofOptions {
  // Where requests are written; null under --read-only (statuses the
  // runtime set on its own, e.g. for the program's pprof, are still read).
  const target::ProcessMemory* writer = nullptr;
  // Ask at all: attach does unless --no-leak-check; the daemon unless
  // --leak-check-every 0.
  bool request = false;
  // The first request right at attach (attach); the daemon asks through
  // request_now() on its own schedule (daemon/watcher.h) instead.
  bool at_attach = true;
  // The attach window: the second request goes in this long before its end
  // at the latest (0: no second request, e.g. the daemon).
  double window_s = 0;
};

class LeakProof {
 public:
  using SiteKey = probes::SiteKey;

  // Resolves the runtime's flag and, when allowed, asks for the first
  // detection. What cannot be done goes to r.leak_check.why_not, never an error.
  LeakProof(const GoTarget& t, const goruntime::GLayout& layout, const LeakProofOptions& opts,
            report::Report& r);

  // Asks for one detection now, if the check is open (Go 1.26+, asked for,
  // not read-only). Returns whether a request was written.
  bool request_now();
  // At each poll: the second request when its time has come (now_s: seconds
  // since the first snapshot); notes whether a GC took up the last one.
  void poll(double now_s);
  // Every allgs read: the goroutines marked leaked, kept by goid (a leaked
  // goroutine is blocked forever: it stays counted after the runtime resets
  // its status for the next detection).
  void observe(const goruntime::AllgSnapshot& snap);
  // Marks the proven sites (the findings of every site seen), fills
  // r.leak_check and its notes.
  void apply(std::map<SiteKey, report::GoroutineFinding>& sites, report::Report& r);

 private:
  bool request(const char* when);
  // Reads the flag: a request no longer pending was taken up by a GC cycle.
  void refresh();

  const goruntime::GLayout& layout_;
  LeakProofOptions opts_;
  std::optional<goruntime::GoroutineLeakCheck> check_;
  bool available_ = false;
  bool second_done_ = false;
  bool ran_ = false;           // some request was taken up by a GC cycle
  bool last_pending_ = false;  // the last request was not taken up (yet)
  std::string error_;          // a failed request or read, for the report
  std::map<SiteKey, std::map<uint64_t, uint8_t>> leaked_;  // site -> goid -> wait reason
};

}  // namespace leakhound::collect
