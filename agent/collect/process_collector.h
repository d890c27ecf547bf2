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
#include "target/cgroup.h"
#include "util/result.h"

namespace leakhound::collect {

struct ProcessOptions {
  detect::TrendConfig trend;
  double min_growth = 3;  // fds or threads over the window, for "growing"/"leak"
  // Memory growth over the window below this is too little to forecast from.
  double min_memory_growth = 4 << 20;
};

class ProcessCollector {
 public:
  ProcessCollector(pid_t pid, ProcessOptions opts);
  Result<void> poll();
  void finish(report::Report& r);  // fills findings; keeps collecting
  // Drops points older than keep_s seconds before the last one.
  void trim(double keep_s);

 private:
  void forecast(report::MemoryForecast& m) const;
  pid_t pid_;
  ProcessOptions opts_;
  std::chrono::steady_clock::time_point start_;
  std::map<std::string, std::vector<detect::Point>> series_;
  Result<target::MemoryLimit> cgroup_;
  std::vector<detect::Point> usage_;
};

}  // namespace leakhound::collect
