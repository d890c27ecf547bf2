#include "collect/process_collector.h"

#include "target/proc_stats.h"

namespace leakhound::collect {

ProcessCollector::ProcessCollector(pid_t pid, ProcessOptions opts)
    : pid_(pid), opts_(opts), start_(std::chrono::steady_clock::now()) {}

Result<void> ProcessCollector::poll() {
  double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
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
  return {};
}

void ProcessCollector::finish(report::Report& r) {
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
}

}  // namespace leakhound::collect
