#include "daemon/metrics.h"

#include <fmt/format.h>
#include <malloc.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "report/terminal_writer.h"
#include "util/log.h"

namespace leakhound::daemon {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

class Families {
 public:
  // Labels every series ends with (the node).
  explicit Families(std::vector<ClientMetric::Label> common) : common_(std::move(common)) {}
  MetricFamily& family(const std::string& name, const std::string& help, MetricType type) {
    auto [it, fresh] = index_.try_emplace(name, families_.size());
    if (fresh) families_.push_back(MetricFamily{name, help, type, {}});
    return families_[it->second];
  }
  void add(const std::string& name, const std::string& help, MetricType type,
           std::vector<ClientMetric::Label> labels, double value) {
    ClientMetric m;
    m.label = std::move(labels);
    m.label.insert(m.label.end(), common_.begin(), common_.end());
    if (type == MetricType::Counter)
      m.counter.value = value;
    else
      m.gauge.value = value;
    family(name, help, type).metric.push_back(std::move(m));
  }
  std::vector<MetricFamily> take() { return std::move(families_); }

 private:
  std::vector<ClientMetric::Label> common_;
  std::vector<MetricFamily> families_;
  std::map<std::string, size_t> index_;
};

std::vector<ClientMetric::Label> identity(const ProcessEntry& e) {
  return {{"pid", std::to_string(e.pid)}, {"exe", e.exe},     {"container_id", e.pod.container_id},
          {"pod_uid", e.pod.pod_uid},     {"pod", e.pod.pod}, {"namespace", e.pod.ns}};
}

std::vector<ClientMetric::Label> with(std::vector<ClientMetric::Label> l,
                                      std::initializer_list<ClientMetric::Label> more) {
  l.insert(l.end(), more);
  return l;
}

// The frame a reader looks for: the first that is not the runtime's. cgo's
// glue is kept: the label names the series users already have.
std::string top_function(const std::vector<Frame>& stack) {
  const Frame* f = first_program_frame(stack, /*skip_cgo_glue=*/false);
  return f ? f->function : std::string("(unknown)");
}

void per_process(Families& out, const ProcessEntry& e, size_t top_k) {
  const auto id = identity(e);
  constexpr auto G = MetricType::Gauge;
  out.add("leakhound_process_info", "A process leakhound watches (value 1).", G,
          with(id, {{"go_version", e.go_version}}), 1);
  if (!e.report) return;
  const report::Report& r = *e.report;
  const std::pair<const char*, report::VerdictTally> verdicts[] = {
      {"heap", report::tally_verdicts(r.heap)},
      {"goroutine", report::tally_verdicts(r.goroutines)},
      {"native", report::tally_verdicts(r.native)},
      {"process", report::tally_verdicts(r.process)}};
  for (const auto& [kind, tally] : verdicts) {
    const char* help = "Findings of the process with this verdict over the rolling window.";
    out.add("leakhound_leak_verdicts", help, G, with(id, {{"kind", kind}, {"verdict", "leak"}}),
            static_cast<double>(tally.leak));
    out.add("leakhound_leak_verdicts", help, G, with(id, {{"kind", kind}, {"verdict", "growing"}}),
            static_cast<double>(tally.growing));
  }
  if (!r.target.go_version.empty()) {
    double inuse = 0, growth = 0;
    for (const auto& f : r.heap) {
      inuse += static_cast<double>(f.inuse_bytes);
      if (f.trend.verdict != detect::Verdict::Stable) growth += f.trend.slope_per_s;
    }
    out.add("leakhound_heap_inuse_bytes",
            "Estimated Go heap in use after the last GC (unsampled, as pprof).", G, id, inuse);
    out.add("leakhound_heap_growth_bytes_per_second",
            "Growth of the Go heap stacks flagged leak or growing.", G, id, growth);
    out.add("leakhound_gc_cycles", "GC cycles seen in the rolling window.", G, id,
            static_cast<double>(r.gc_cycles));
    if (r.goroutines_read)
      out.add("leakhound_goroutines", "Live goroutines (as runtime.NumGoroutine).", G, id,
              static_cast<double>(r.goroutines_user));
    size_t rank = 0;
    for (const auto& f : r.heap) {
      if (++rank > top_k) break;
      auto l = with(id, {{"rank", std::to_string(rank)},
                         {"function", top_function(f.stack)},
                         {"verdict", std::string(detect::to_string(f.trend.verdict))}});
      out.add("leakhound_top_stack_inuse_bytes",
              "Go heap in use of the process's top stacks (leaks first).", G, l,
              static_cast<double>(f.inuse_bytes));
      out.add("leakhound_top_stack_growth_bytes_per_second",
              "Growth of the process's top Go heap stacks.", G, l, f.trend.slope_per_s);
    }
  }
  // Proven goroutine leaks, the sites with the most first: top K, as stacks.
  std::vector<const report::GoroutineFinding*> proven;
  for (const auto& f : r.goroutines)
    if (f.evidence == report::Evidence::GcProof) proven.push_back(&f);
  std::stable_sort(proven.begin(), proven.end(),
                   [](const auto* a, const auto* b) { return a->gc_leaked > b->gc_leaked; });
  if (proven.size() > top_k) proven.resize(top_k);
  for (const auto* f : proven) {
    out.add("leakhound_goroutines_leaked",
            "Goroutines the Go runtime's GC proved leaked (blocked forever), per creation site "
            "(top K sites of the process).",
            G, with(id, {{"site", goroutine_site_label(*f)}, {"function", f->entry.function}}),
            static_cast<double>(f->gc_leaked));
  }
  if (r.goroutines_read) {
    // The top K user sites (the runtime's own are not NumGoroutine's either);
    // two go statements of one function and line would make one label: summed.
    std::vector<std::pair<std::string, double>> sites;
    for (const auto& f : r.goroutines) {
      if (f.system) continue;
      std::string site = goroutine_site_label(f);
      auto it =
          std::find_if(sites.begin(), sites.end(), [&](const auto& s) { return s.first == site; });
      if (it != sites.end())
        it->second += static_cast<double>(f.count);
      else if (sites.size() < top_k)
        sites.emplace_back(std::move(site), static_cast<double>(f.count));
    }
    for (const auto& [site, count] : sites)
      out.add("leakhound_goroutines_by_site",
              "Live goroutines of the process's top creation sites (leaks first).", G,
              with(id, {{"site", site}}), count);
  }
  if (const report::MemoryForecast& m = r.memory; m.read) {
    out.add("leakhound_memory_cgroup_usage_bytes",
            "Memory charged to the process's cgroup (its container's, in Kubernetes).", G, id,
            static_cast<double>(m.usage_bytes));
    if (m.limited)
      out.add("leakhound_memory_cgroup_limit_bytes",
              "The lowest memory limit of the process's cgroup and its parents.", G, id,
              static_cast<double>(m.limit_bytes));
    if (m.seconds_to_limit >= 0)
      out.add("leakhound_memory_limit_forecast_seconds",
              "Seconds until the cgroup's usage reaches its limit at the growth of the window "
              "(absent: no limit, or not growing).",
              G, id, m.seconds_to_limit);
  }
  if (const report::RssBreakdown& b = r.rss; b.read) {
    // The parts add up to part="rss" (least squares over the window).
    const char* help =
        "Growth of the process's RSS over the window and its parts (part=\"rss\" is the sum of "
        "the others): Go heap live, GC headroom, goroutine stacks, runtime metadata, native "
        "outstanding, the C allocator's overhead, unexplained.";
    std::vector<std::pair<const char*, double>> parts = {{"rss", b.rss_per_s},
                                                         {"heap_live", b.heap_live_per_s},
                                                         {"gc_headroom", b.gc_headroom_per_s},
                                                         {"stacks", b.stacks_per_s},
                                                         {"runtime_metadata", b.metadata_per_s}};
    if (b.native_tracked) parts.emplace_back("native", b.native_per_s);
    if (b.native_resident) parts.emplace_back("native_allocator", b.native_allocator_per_s);
    parts.emplace_back("unexplained", b.unexplained_per_s);
    for (const auto& [part, v] : parts)
      out.add("leakhound_rss_growth_bytes_per_second", help, G, with(id, {{"part", part}}), v);
    out.add("leakhound_rss_explained_ratio",
            "Share of the RSS growth its parts explain (1 - |unexplained| / rss; 0 when flat).", G,
            id, b.explained);
  }
  if (const report::GoMemLimitForecast& f = r.gomemlimit; f.limited && f.seconds_to_spiral >= 0)
    out.add("leakhound_gomemlimit_forecast_seconds",
            "Seconds until the live heap, at its growth over the window, leaves the GC no room "
            "under GOMEMLIMIT (it then runs continuously); absent: no GOMEMLIMIT, or not growing.",
            G, id, f.seconds_to_spiral);
  if (r.native_stats.tracked)
    out.add("leakhound_native_outstanding_bytes",
            "C allocations (malloc family, anonymous mmap) outstanding since attach.", G, id,
            static_cast<double>(r.native_stats.outstanding_bytes));
  for (const auto& f : r.process) {
    if (f.metric == "threads") {
      out.add("leakhound_threads", "Threads of the process.", G, id, f.value);
    } else if (f.metric == "rss_bytes") {
      out.add("leakhound_resident_bytes", "Resident set size of the process.", G, id, f.value);
    } else if (f.metric.rfind("fds", 0) == 0) {
      std::string kind = f.metric == "fds" ? "all" : f.metric.substr(4);
      out.add("leakhound_open_fds", "Open file descriptors of the process, by kind.", G,
              with(id, {{"kind", kind}}), f.value);
    }
  }
  out.add("leakhound_dropped_events", "Events the probes lost for this process (numbers low).", G,
          id, static_cast<double>(r.dropped_events));
  out.add("leakhound_window_seconds", "Length of the rolling window behind the verdicts.", G, id,
          r.duration_s);
}

}  // namespace

std::string goroutine_site_label(const report::GoroutineFinding& f) {
  const Frame& at = f.created_at.function.empty() ? f.entry : f.created_at;
  if (at.line > 0)
    return fmt::format("{} ({}:{})", at.function, report::short_file(at.file), at.line);
  return at.function.empty() ? std::string("(unknown)") : at.function;
}

AgentSelf read_agent_self() {
  AgentSelf s;
  struct rusage ru {};
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    s.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                    static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  }
  std::ifstream statm("/proc/self/statm");
  double size = 0, resident = 0;
  if (statm >> size >> resident) s.resident_bytes = resident * static_cast<double>(getpagesize());
  struct mallinfo2 mi = mallinfo2();
  s.heap_bytes = static_cast<double>(mi.uordblks + mi.hblkhd);
  return s;
}

std::string render_metrics(const std::vector<ProcessEntry>& procs, const AgentCounters& c,
                           const AgentSelf& self, const MetricsOptions& o, const OomStatus& oom,
                           const std::vector<OomCount>& oom_counts) {
  Families out(o.node.empty() ? std::vector<ClientMetric::Label>{}
                              : std::vector<ClientMetric::Label>{{"node", o.node}});
  constexpr auto G = MetricType::Gauge;
  constexpr auto C = MetricType::Counter;
  size_t watched = 0, shed_native = 0, shed_detached = 0;
  for (const ProcessEntry& e : procs) {
    if (e.shed == "detached")
      ++shed_detached;
    else
      ++watched;
    if (e.shed == "native") ++shed_native;
  }
  out.add("leakhound_processes_attached", "Processes watched now.", G, {},
          static_cast<double>(watched));
  out.add("leakhound_attach_total", "Processes attached to since start.", C, {},
          static_cast<double>(c.attached_total));
  out.add("leakhound_detach_total", "Processes detached from (exited) since start.", C, {},
          static_cast<double>(c.detached_total));
  out.add("leakhound_attach_failures_total", "Go processes that could not be attached to.", C, {},
          static_cast<double>(c.attach_failures_total));
  out.add("leakhound_process_events_total", "Process events from the kernel.", C,
          {{"kind", "exec"}}, static_cast<double>(c.exec_events_total));
  out.add("leakhound_process_events_total", "Process events from the kernel.", C,
          {{"kind", "exit"}}, static_cast<double>(c.exit_events_total));
  out.add("leakhound_process_events_dropped_total",
          "Process events the kernel's ring buffer lost (the periodic /proc scan catches up).", C,
          {}, static_cast<double>(c.events_dropped));
  out.add("leakhound_probe_sets",
          "Uprobe sets attached: one per executable, whatever its number of processes.", G, {},
          static_cast<double>(c.probe_sets));
  out.add("leakhound_agent_cpu_seconds_total", "CPU time of the leakhound daemon itself.", C, {},
          self.cpu_seconds);
  out.add("leakhound_agent_resident_bytes", "Resident memory of the leakhound daemon itself.", G,
          {}, self.resident_bytes);
  out.add("leakhound_agent_heap_bytes",
          "Heap memory the leakhound daemon has allocated and not freed (malloc in use).", G, {},
          self.heap_bytes);
  if (c.memory_budget_bytes) {
    out.add("leakhound_agent_memory_bytes",
            "The daemon's resident memory as its memory budget counts it (last reading).", G, {},
            static_cast<double>(c.memory_bytes));
    out.add("leakhound_agent_memory_budget_bytes", "The daemon's memory budget (--memory-budget).",
            G, {}, static_cast<double>(c.memory_budget_bytes));
    out.add("leakhound_agent_window_seconds",
            "The rolling window now (shorter than --window while the budget shrinks it).", G, {},
            c.window_s);
    const char* shed_help = "Work shed to stay under the memory budget, by step.";
    out.add("leakhound_shed_total", shed_help, C, {{"reason", "native"}},
            static_cast<double>(c.shed_native_total));
    out.add("leakhound_shed_total", shed_help, C, {{"reason", "window"}},
            static_cast<double>(c.shed_window_total));
    out.add("leakhound_shed_total", shed_help, C, {{"reason", "detach"}},
            static_cast<double>(c.shed_detach_total));
    out.add("leakhound_shed_recovered_total",
            "Shed steps taken back once well under the memory budget.", C, {},
            static_cast<double>(c.recovered_total));
    const char* now_help = "Processes whose work is shed now: native tracking, or detached.";
    out.add("leakhound_processes_shed", now_help, G, {{"kind", "native"}},
            static_cast<double>(shed_native));
    out.add("leakhound_processes_shed", now_help, G, {{"kind", "detached"}},
            static_cast<double>(shed_detached));
  }
  if (oom.available || !oom.reason.empty())
    out.add("leakhound_oom_watch_available",
            "1 when OOM kills are traced (the mark_victim tracepoint), 0 when they cannot be.", G,
            {}, oom.available ? 1 : 0);
  for (const OomCount& k : oom_counts)
    out.add("leakhound_oom_kills_total",
            "Watched processes the kernel's OOM killer took, by executable, namespace and "
            "constraint (cgroup: a memory cgroup's limit; global: the host's memory).",
            C, {{"exe", k.exe}, {"namespace", k.ns}, {"constraint", k.constraint}},
            static_cast<double>(k.kills));
  if (oom.available)
    out.add("leakhound_oom_events_dropped_total",
            "OOM kills the kernel's ring buffer lost (none expected).", C, {},
            static_cast<double>(c.oom_events_dropped));
  for (const ProcessEntry& e : procs)
    if (e.shed != "detached") per_process(out, e, o.top_k);
  return prometheus::TextSerializer().Serialize(out.take());
}

}  // namespace leakhound::daemon
