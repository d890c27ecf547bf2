#include "collect/process/process_collector.h"

#include <algorithm>
#include <utility>

#include "collect/session.h"
#include "target/proc_stats.h"

namespace leakhound::collect {

ProcessCollector::ProcessCollector(pid_t pid, ProcessOptions opts, std::function<int64_t()> now_ns)
    : pid_(pid),
      opts_(opts),
      now_ns_(std::move(now_ns)),
      start_ns_(now_ns_()),
      cgroup_(target::read_memory_limit(pid)) {}

Result<void> ProcessCollector::poll() {
  const double t = static_cast<double>(now_ns_() - start_ns_) / 1e9;
  auto fds = target::count_fds(pid_);
  if (!fds) return fds.error();
  auto threads = target::read_threads(pid_);
  if (!threads) return threads.error();
  auto rss = target::read_rss_bytes(pid_);
  if (!rss) return rss.error();
  auto add = [&](const char* metric, uint64_t v) {
    series_[metric].push_back({t, static_cast<double>(v)});
  };
  add("fds", fds->total());
  add("fds.socket", fds->socket);
  add("fds.file", fds->file);
  add("fds.pipe", fds->pipe);
  add("fds.anon", fds->anon);
  add("threads", *threads);
  add("rss_bytes", *rss);
  if (cgroup_) {
    if (auto u = target::read_usage(*cgroup_)) usage_.push_back({t, static_cast<double>(*u)});
  }
  return {};
}

void ProcessCollector::trim(double keep_s) {
  auto cut = [keep_s](std::vector<detect::Point>& v) {
    if (!v.empty()) detect::trim_series(v, v.back().t_s - keep_s);
  };
  for (auto& [metric, v] : series_) cut(v);
  cut(usage_);
}

void ProcessCollector::contribute(report::Report& r) {
  // Order of the report: totals first, then fds by kind.
  static constexpr const char* kOrder[] = {"fds",      "fds.socket", "fds.file", "fds.pipe",
                                           "fds.anon", "threads",    "rss_bytes"};
  for (const char* metric : kOrder) {
    auto it = series_.find(metric);
    if (it == series_.end() || it->second.empty()) continue;
    report::ProcessFinding f;
    f.metric = metric;
    f.series = it->second;
    f.value = f.series.back().value;
    f.trend = detect::analyze(f.series, opts_.trend);
    double window = f.series.back().t_s - f.series.front().t_s;
    // RSS moves in pages and with the Go heap's own cycles: ask for 4 MiB.
    double min_growth = f.metric == "rss_bytes" ? 4.0 * (1 << 20) : opts_.min_growth;
    detect::require_min_growth(f.trend, window, min_growth);
    r.process.push_back(std::move(f));
  }
  forecast(r.memory);
}

void ProcessCollector::forecast(report::MemoryForecast& m) const {
  if (!cgroup_) {
    m.why_unread = cgroup_.error().message;
    return;
  }
  m.read = true;
  m.cgroup_version = cgroup_->version;
  m.cgroup = cgroup_->cgroup;
  m.limit_cgroup = cgroup_->limit_cgroup;
  m.limited = cgroup_->limit_bytes.has_value();
  m.limit_bytes = cgroup_->limit_bytes.value_or(0);
  m.series = usage_;
  m.usage_bytes =
      usage_.empty() ? cgroup_->usage_bytes : static_cast<uint64_t>(usage_.back().value);
  if (usage_.size() < 2) return;
  m.trend = detect::analyze(usage_, opts_.trend);
  detect::require_min_growth(m.trend, usage_.back().t_s - usage_.front().t_s,
                             opts_.min_memory_growth);
  // Forecast from a rise the statistics back, never from a flat or falling one.
  if (m.limited && m.trend.verdict != detect::Verdict::Stable && m.trend.slope_per_s > 0) {
    double left = static_cast<double>(m.limit_bytes) - static_cast<double>(m.usage_bytes);
    m.seconds_to_limit = std::max(0.0, left / m.trend.slope_per_s);
  }
}

Result<std::unique_ptr<Capability>> open_process(OpenContext& ctx, report::Report&) {
  auto c = std::make_unique<ProcessCollector>(ctx.proc.pid(), ctx.opts.process);
  if (auto e = c->poll(); !e) spdlog::debug("process poll: {}", e.error().message);
  return std::unique_ptr<Capability>(std::move(c));
}

}  // namespace leakhound::collect
