// Per-process resources from /proc at each poll: open fds by kind, threads
// and RSS, as series with the same trend verdicts as heap and goroutines.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "collect/capability.h"
#include "detect/trend.h"
#include "report/model.h"
#include "target/cgroup.h"
#include "util/clock.h"
#include "util/result.h"

namespace leakhound::collect {

struct ProcessOptions {
  detect::TrendConfig trend;
  double min_growth = 3;  // fds or threads over the window, for "growing"/"leak"
  // Memory growth over the window below this is too little to forecast from.
  double min_memory_growth = 4 << 20;
};

// Registration (collect/session.cpp): /proc series, for every target.
Result<std::unique_ptr<Capability>> open_process(OpenContext& ctx, report::Report& r);

class ProcessCollector final : public Capability {
 public:
  // now_ns: the clock of the series (monotonic; a fake one in tests).
  ProcessCollector(pid_t pid, ProcessOptions opts, std::function<int64_t()> now_ns = &monotonic_ns);
  std::string_view name() const override { return "process"; }
  // /proc reads race the target's exit: the session notices that itself.
  spdlog::level::level_enum poll_error_level() const override { return spdlog::level::debug; }
  Result<void> poll() override;
  void trim(double keep_s) override;
  void contribute(report::Report& r) override;              // findings and the forecast
  void stop(report::Report& r) override { contribute(r); }  // holds nothing in the target

 private:
  void forecast(report::MemoryForecast& m) const;
  pid_t pid_;
  ProcessOptions opts_;
  std::function<int64_t()> now_ns_;
  int64_t start_ns_;
  std::map<std::string, std::vector<detect::Point>> series_;
  Result<target::MemoryLimit> cgroup_;
  std::vector<detect::Point> usage_;
};

}  // namespace leakhound::collect
