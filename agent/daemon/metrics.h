// Prometheus exposition of the daemon's state (text format 0.0.4, through
// prometheus-cpp's serializer). Per-process series carry the process's
// identity labels; per-stack and per-site series are limited to the top K
// findings of each process, so the number of series stays bounded by
// processes x K. With a node name (Kubernetes: the downward API's NODE_NAME)
// every series also carries node="...".
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "daemon/process_table.h"

namespace leakhound::daemon {

struct AgentSelf {
  double cpu_seconds = 0;  // user + system
  double resident_bytes = 0;
  // Bytes the daemon's malloc has handed out and not got back (all arenas):
  // exact where RSS moves by pages, so a leak of a few KiB per process shows.
  double heap_bytes = 0;
};
AgentSelf read_agent_self();

struct MetricsOptions {
  size_t top_k = 5;  // heap stacks and goroutine sites per process
  std::string node;  // "" (outside Kubernetes): no node label
};

std::string render_metrics(const std::vector<ProcessEntry>& procs, const AgentCounters& c,
                           const AgentSelf& self, const MetricsOptions& o,
                           const OomStatus& oom = {}, const std::vector<OomCount>& oom_counts = {});

// The site label of a goroutine creation site: the go statement's function and
// line, "main.startWorkers (main.go:42)". Every per-site series uses it, so
// that PromQL can match them on (pid, site).
std::string goroutine_site_label(const report::GoroutineFinding& f);

}  // namespace leakhound::daemon
