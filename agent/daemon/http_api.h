// The daemon's HTTP endpoints (cpp-httplib, one thread pool of its own):
//   /                               the processes watched, for people (ui_pages.h)
//   /ui/report?pid=N                the attach --html page over the rolling window
//   /metrics                        Prometheus exposition
//   /api/v1/processes               the processes watched (JSON)
//   /api/v1/report?pid=N            the JSON report contract over the rolling window
//   /api/v1/oom[?pid=N]             OOM kills of watched processes, with their last reports
//   /debug/pprof/heap?pid=N         gzipped profile.proto, as Go's own endpoint
//   /debug/pprof/goroutine?pid=N
//   /healthz                        "ok"
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "daemon/metrics.h"
#include "daemon/process_table.h"
#include "util/result.h"

namespace httplib {
class Server;
}

namespace leakhound::daemon {

class HttpApi {
 public:
  // Binds host:port (an error when taken) and serves in a thread of its own.
  static Result<std::unique_ptr<HttpApi>> start(const std::string& host, int port,
                                                const ProcessTable& table,
                                                const MetricsOptions& metrics);
  ~HttpApi();  // stops serving and joins
  int port() const { return port_; }

 private:
  HttpApi() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

// "127.0.0.1:9464", "[::1]:9464", ":9464" (every address) into host and port.
Result<std::pair<std::string, int>> parse_listen(const std::string& s);

}  // namespace leakhound::daemon
