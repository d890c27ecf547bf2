// Per-process resources from /proc at each poll: open fds by kind, threads
// and RSS, as series with the same trend verdicts as heap and goroutines.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "detect/trend.h"
#include "report/model.h"
#include "util/result.h"

namespace leakhound::collect {

struct ProcessOptions {
  detect::TrendConfig trend;
  double min_growth = 3;  // fds or threads over the window, for "growing"/"leak"
};

class ProcessCollector {
 public:
  ProcessCollector(pid_t pid, ProcessOptions opts);
  Result<void> poll();
  void finish(report::Report& r);

 private:
  pid_t pid_;
  ProcessOptions opts_;
  std::chrono::steady_clock::time_point start_;
  std::map<std::string, std::vector<detect::Point>> series_;
};

}  // namespace leakhound::collect
