// `leakhound daemon`: watches every Go process of the host. A /proc scan at
// start and the kernel's exec/exit events (probes/proc_watch) find them; each
// gets a collect::Session, polled at an interval, with verdicts over a rolling
// window published for the HTTP API (daemon/http_api).
#pragma once

#include <atomic>
#include <regex>
#include <string>
#include <vector>

#include "collect/session.h"
#include "util/result.h"

namespace leakhound::daemon {

struct Filters {
  std::vector<std::string> include_exe, exclude_exe;  // regexes on the executable's path
  std::vector<std::string> include_namespace, exclude_namespace;  // Kubernetes namespaces
  std::vector<std::string> include_container;                     // container ID prefixes
};

struct DaemonOptions {
  std::string listen = "127.0.0.1:9464";
  double interval_s = 2;       // collector polls
  double window_s = 600;       // series kept for the verdicts
  double report_every_s = 15;  // reports (and /metrics values) refreshed
  double settle_s = 0.5;       // after exec, before attaching: the runtime initializes
  double rescan_s = 30;        // full /proc scan, catching events the ring buffer lost
  size_t top_k = 5;
  Filters filters;
  collect::SessionOptions session;  // pid ignored
};

// Runs until *stop; every session is detached cleanly before returning.
Result<void> run_daemon(const DaemonOptions& opts, const std::atomic<bool>& stop);

// Compiled filters, separate for tests.
class Filter {
 public:
  static Result<Filter> compile(const Filters& f);
  // Whether a process with this executable path is wanted, before its pod is known.
  bool exe_wanted(const std::string& exe_path) const;
  bool pod_wanted(const std::string& ns, const std::string& container_id) const;

 private:
  std::vector<std::regex> inc_exe_, exc_exe_;
  Filters raw_;
};

}  // namespace leakhound::daemon
