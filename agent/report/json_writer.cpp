#include "report/json_writer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace leakhound::report {
namespace {

// Ordered: keys come out in contract order, "schema" first.
using json = nlohmann::ordered_json;

// JSON has no NaN or infinity (nlohmann would write null); statistics are
// finite by construction, this keeps a consumer's parser safe regardless.
double finite(double v) { return std::isfinite(v) ? v : 0; }

json series_to_json(const std::vector<detect::Point>& s) {
  json series = json::array();
  for (const detect::Point& p : s) series.push_back({finite(p.t_s), finite(p.value)});
  return series;
}

json stack_to_json(const std::vector<Frame>& frames) {
  json stack = json::array();
  for (const Frame& fr : frames) stack.push_back(frame_to_json(fr));
  return stack;
}

// The statistics behind a verdict; growth in the series' units per second.
json trend_to_json(const detect::Trend& t, const char* unit) {
  return {{"points", t.n},
          {"test", std::string(t.test)},
          {"mk_s", finite(t.mk_s)},
          {"mk_z", finite(t.mk_z)},
          {"ar1", finite(t.ar1)},
          {"drift_z", finite(t.drift_z)},
          {"relative_growth", finite(t.relative_growth)},
          {"signal_to_noise", finite(t.signal_to_noise)},
          {"retained_fraction", finite(t.retained_fraction)},
          {fmt::format("first_half_growth_{}_per_s", unit), finite(t.first_half_slope_per_s)},
          {fmt::format("second_half_growth_{}_per_s", unit), finite(t.second_half_slope_per_s)},
          {"reason", std::string(t.reason)}};
}

json sampler_to_json(const Report& r) {
  json j = {{"rate", r.sample_rate},
            {"original_rate", r.original_sample_rate},
            {"enabled_by_leakhound", r.sampler_enabled_by_us}};
  if (r.sample_budget_per_s > 0) {
    json rates = json::array();
    for (const auto& p : r.sample_rates) rates.push_back({{"from_s", p.from_s}, {"rate", p.rate}});
    j["budget"] = {{"samples_per_s", r.sample_budget_per_s},
                   {"alloc_bytes_per_s", r.alloc_bytes_per_s},
                   {"cost_cpu_fraction", r.sampling_cost},
                   {"rates", std::move(rates)}};
  }
  return j;
}

json leak_check_to_json(const GoroutineLeakCheck& c) {
  json j = {{"available", c.available},
            {"requests", c.requests},
            {"ran", c.ran},
            {"proven_sites", c.proven_sites},
            {"proven_goroutines", c.proven_goroutines}};
  if (c.runtime_count >= 0) j["runtime_count"] = c.runtime_count;
  if (!c.why_not.empty()) j["why_not"] = c.why_not;
  return j;
}

json goroutine_to_json(const GoroutineFinding& f) {
  const detect::Trend& t = f.trend;
  json states = json::object();
  for (const auto& [s, n] : f.states) states[s] = n;
  json j = {
      // Contract fields.
      {"verdict", std::string(detect::to_string(t.verdict))},
      {"evidence", std::string(to_string(f.evidence))},
      {"count", f.count},
      {"growth_per_s", finite(t.slope_per_s)},
      {"created_at", frame_to_json(f.created_at)},
      {"entry", frame_to_json(f.entry)},
      {"wait_reason", f.wait_reason},
      {"stack", stack_to_json(f.stack)},
      // Additions.
      {"confidence", finite(t.confidence)},
      {"p_value", finite(t.p_value)},
      {"max_count", f.max_count},
      {"states", std::move(states)},
      {"longest_wait_s", finite(f.longest_wait_s)},
      {"stack_share", f.stack_share},
      {"stack_sampled", f.stack_sampled},
      {"system", f.system},
  };
  if (f.evidence == Evidence::GcProof) {
    j["gc_leaked"] = f.gc_leaked;
    j["evidence_text"] = f.evidence_text;
  } else if (f.evidence == Evidence::Stuck) {
    const StuckEvidence& e = f.stuck;
    j["evidence_text"] = f.evidence_text;
    j["stuck"] = {{"threshold_s", finite(e.threshold_s)},
                  {"blocked", e.blocked},
                  {"older", e.older},
                  {"unknown_age", e.unknown_age},
                  {"age_s",
                   {{"min", finite(e.min_s)},
                    {"p50", finite(e.p50_s)},
                    {"p90", finite(e.p90_s)},
                    {"max", finite(e.max_s)}}}};
  }
  if (f.created_window >= 0) {
    j["created_window"] = f.created_window;
    j["exited_window"] = f.exited_window;
  }
  if (!f.chain.empty()) {
    json chain = json::array();
    for (const Creator& c : f.chain) {
      json cj = {{"goid", c.goid}, {"alive", c.alive}};
      if (!c.entry.function.empty()) cj["entry"] = frame_to_json(c.entry);
      if (!c.created_at.function.empty()) cj["created_at"] = frame_to_json(c.created_at);
      if (!c.stack.empty()) cj["stack"] = stack_to_json(c.stack);
      chain.push_back(std::move(cj));
    }
    j["creators"] = {{"source", f.chain_source}, {"chain", std::move(chain)}};
  }
  j["series"] = series_to_json(f.series);
  j["trend"] = trend_to_json(t, "goroutines");
  return j;
}

json process_to_json(const ProcessFinding& f) {
  return {{"metric", f.metric},
          {"verdict", std::string(detect::to_string(f.trend.verdict))},
          {"value", finite(f.value)},
          {"growth_per_s", finite(f.trend.slope_per_s)},
          {"confidence", finite(f.trend.confidence)},
          {"series", series_to_json(f.series)},
          {"trend", trend_to_json(f.trend, "units")}};
}

json memory_to_json(const MemoryForecast& m) {
  if (!m.read) return {{"read", false}, {"why", m.why_unread}};
  json j = {{"read", true},
            {"cgroup_version", m.cgroup_version},
            {"cgroup", m.cgroup},
            {"limited", m.limited},
            {"limit_bytes", m.limited ? json(m.limit_bytes) : json(nullptr)},
            {"limit_cgroup", m.limit_cgroup},
            {"usage_bytes", m.usage_bytes},
            {"verdict", std::string(detect::to_string(m.trend.verdict))},
            {"growth_bytes_per_s", finite(m.trend.slope_per_s)},
            {"seconds_to_limit",
             m.seconds_to_limit >= 0 ? json(finite(m.seconds_to_limit)) : json(nullptr)},
            {"series", series_to_json(m.series)}};
  return j;
}

json rss_to_json(const RssBreakdown& b) {
  if (!b.read) return {{"read", false}, {"why", b.why_not}};
  auto rate = [](double v) { return finite(v); };
  return {
      {"read", true},
      {"layout", b.layout},
      {"window_s", finite(b.window_s)},
      {"points", b.points},
      {"growth_bytes_per_s",
       {{"rss", rate(b.rss_per_s)},
        {"heap_live", rate(b.heap_live_per_s)},
        {"gc_headroom", rate(b.gc_headroom_per_s)},
        {"stacks", rate(b.stacks_per_s)},
        {"runtime_metadata", rate(b.metadata_per_s)},
        {"native", b.native_tracked ? json(rate(b.native_per_s)) : json(nullptr)},
        {"native_allocator",
         b.native_resident ? json(rate(b.native_allocator_per_s)) : json(nullptr)},
        {"unexplained", rate(b.unexplained_per_s)}}},
      {"explained", finite(b.explained)},
      {"bytes",
       {{"rss", b.rss_bytes},
        {"heap_live", b.heap_live_bytes},
        {"heap_inuse", b.heap_inuse_bytes},
        {"heap_free", b.heap_free_bytes},
        {"heap_goal", b.heap_goal_bytes},
        {"stacks", b.stacks_bytes},
        {"runtime_metadata", b.metadata_bytes},
        {"native", b.native_tracked ? json(b.native_bytes) : json(nullptr)},
        {"native_resident", b.native_resident ? json(b.native_resident_bytes) : json(nullptr)}}},
      {"gogc", b.gogc},
      {"gomemlimit_bytes", b.gomemlimit >= 0 ? json(b.gomemlimit) : json(nullptr)},
      {"gc_cpu_fraction", finite(b.gc_cpu_fraction)},
      {"gc_cpu_fraction_per_s", finite(b.gc_cpu_fraction_per_s)},
      {"top_stack", b.top_stack.empty()
                        ? json(nullptr)
                        : json({{"stack", stack_to_json(b.top_stack)},
                                {"growth_bytes_per_s", finite(b.top_stack_per_s)},
                                {"share_of_rss_growth", finite(b.top_stack_share)}})},
      {"series",
       {{"rss", series_to_json(b.rss_series)},
        {"heap_live", series_to_json(b.live_series)},
        {"heap_goal", series_to_json(b.goal_series)},
        {"gc_cpu_fraction", series_to_json(b.gc_cpu_series)}}}};
}

json gomemlimit_to_json(const GoMemLimitForecast& f) {
  if (!f.limited) return {{"limited", false}};
  auto eta = [](double s) { return s >= 0 ? json(finite(s)) : json(nullptr); };
  return {{"limited", true},
          {"limit_bytes", f.limit_bytes},
          {"non_heap_bytes", f.non_heap_bytes},
          {"bound_live_bytes", f.bound_live_bytes},
          {"saturation_live_bytes", f.saturation_live_bytes},
          {"live_growth_bytes_per_s", finite(f.live_per_s)},
          {"bound_now", f.bound_now},
          {"seconds_to_bound", eta(f.seconds_to_bound)},
          {"seconds_to_saturation", eta(f.seconds_to_saturation)},
          {"runway_bytes", f.runway_bytes},
          {"runway_share", finite(f.runway_share)},
          {"spiral_live_bytes", f.spiral_live_bytes},
          {"seconds_to_spiral", eta(f.seconds_to_spiral)}};
}

// The contract's Finding (heap and native alike) and its verdict's statistics;
// each kind adds its own fields after these.
json finding_core(const HeapFinding& f) {
  const detect::Trend& t = f.trend;
  return {
      // Contract fields.
      {"verdict", std::string(detect::to_string(t.verdict))},
      {"evidence", std::string(to_string(Evidence::Trend))},
      {"inuse_bytes", f.inuse_bytes},
      {"inuse_objects", f.inuse_objects},
      {"growth_bytes_per_s", finite(t.slope_per_s)},
      {"stack", stack_to_json(f.stack)},
      // Additions.
      {"confidence", finite(t.confidence)},
      {"p_value", finite(t.p_value)},
  };
}

json retention_to_json(const Retention& r) {
  json paths = json::array();
  for (const RetentionPath& p : r.paths) {
    json j = {{"root", p.root},     {"root_kind", p.root_kind}, {"via", p.via},
              {"object", p.object}, {"objects", p.objects},     {"confirmed", p.confirmed}};
    if (p.root_kind == "goroutine") j["goroutines"] = p.goroutines;
    paths.push_back(std::move(j));
  }
  return {
      {"sampled_objects", r.sampled_objects}, {"reached", r.reached}, {"paths", std::move(paths)}};
}

json retention_walk_to_json(const RetentionWalk& w) {
  json j = {{"ran", w.ran},
            {"heap_bytes", w.heap_bytes},
            {"scanned_bytes", w.scanned_bytes},
            {"bytes_read", w.bytes_read},
            {"objects", w.objects},
            {"no_layout", w.no_layout},
            {"goroutines", w.goroutines},
            {"goroutines_running", w.goroutines_running},
            {"stack_bytes", w.stack_bytes},
            {"specials", w.specials},
            {"second_pass", w.second_pass},
            {"seconds", finite(w.seconds)},
            {"cpu_seconds", finite(w.cpu_seconds)},
            {"cpu_share", finite(w.cpu_share)},
            {"paused_seconds", finite(w.paused_seconds)},
            {"complete", w.complete},
            {"layout_source", w.layout_source}};
  if (w.ran) j["walked_unix_us"] = {{"from", w.from_us}, {"to", w.to_us}};
  if (!w.stopped.empty()) j["stopped"] = w.stopped;
  if (!w.why_not.empty()) j["why_not"] = w.why_not;
  if (!w.stacks_why_not.empty()) j["stacks_why_not"] = w.stacks_why_not;
  return j;
}

json finding_to_json(const HeapFinding& f) {
  json j = finding_core(f);
  // A caller finding's stack is the caller and its callers; its children are
  // the stacks below it, as findings of their own.
  j["kind"] = f.children.empty() ? "stack" : "caller";
  j["alloc_bytes_window"] = f.alloc_bytes_window;
  j["alloc_objects_window"] = f.alloc_objects_window;
  j["free_bytes_window"] = f.free_bytes_window;
  j["free_objects_window"] = f.free_objects_window;
  j["series"] = series_to_json(f.series);
  j["trend"] = trend_to_json(f.trend, "bytes");
  if (!f.children.empty()) {
    json children = json::array();
    for (const HeapFinding& c : f.children) children.push_back(finding_to_json(c));
    j["children"] = std::move(children);
  }
  if (f.retention) j["retention"] = retention_to_json(*f.retention);
  return j;
}

// How many false heap leaks the thresholds allow (detect/fdr.h).
json heap_verdicts_to_json(const Report& r) {
  const detect::FdrResult& f = r.heap_fdr;
  return {{"stacks_judged", r.heap_stacks_judged},
          {"callers_judged", r.heap_callers_judged},
          {"fdr_q", finite(f.q)},
          {"p_threshold", finite(f.threshold)},
          {"leaks", f.leaks},
          {"expected_false_leaks", finite(f.false_leaks_bound())},
          {"expected_false_leaks_if_none", finite(f.false_leaks_if_none())},
          {"leak_floor_bytes_per_s", finite(r.heap_leak_floor_bytes_per_s)}};
}

json native_finding_to_json(const NativeFinding& f) {
  json j = finding_core(f);
  j["oldest_age_s"] = finite(f.oldest_age_s);
  j["go_attributed"] = f.go_attributed;
  j["series"] = series_to_json(f.series);
  j["trend"] = trend_to_json(f.trend, "bytes");
  return j;
}

json native_stats_to_json(const NativeStats& s, double duration_s) {
  json j = {{"tracked", s.tracked}};
  if (!s.tracked) {
    j["why_not"] = s.why_not;
    return j;
  }
  j.update({{"allocator", s.allocator},
            {"probes", s.probes},
            {"go_attribution", s.go_attribution},
            {"why_no_go", s.why_no_go},
            {"calls", s.calls},
            {"calls_per_s", duration_s > 0 ? finite(static_cast<double>(s.calls) / duration_s) : 0},
            {"cost_ns_per_call",
             s.cost_ns_per_call >= 0 ? json(finite(s.cost_ns_per_call)) : json(nullptr)},
            {"allocs", s.allocs},
            {"frees", s.frees},
            {"frees_unknown", s.frees_unknown},
            {"go_stacks", s.go_stacks},
            {"outstanding_bytes", s.outstanding_bytes},
            {"outstanding_allocs", s.outstanding_allocs},
            {"max_allocs", s.max_allocs},
            {"resident_bytes", s.resident_bytes},
            {"resident_mappings", s.resident_mappings},
            {"attached_unix_us", {{"from", s.attached_from_us}, {"to", s.attached_to_us}}},
            {"read_unix_us", {{"from", s.read_from_us}, {"to", s.read_to_us}}},
            {"dropped",
             {{"total", s.dropped()},
              {"table_full", s.dropped_table_full},
              {"stack", s.dropped_stack},
              {"go_stack", s.dropped_go_stack},
              {"pending", s.dropped_pending}}}});
  return j;
}

}  // namespace

json frame_to_json(const Frame& f) {
  json j = {{"function", f.function}, {"file", f.file}, {"line", f.line}};
  if (f.pc != 0) j["pc"] = fmt::format("{:#x}", f.pc);
  if (!f.module.empty()) j["module"] = f.module;
  if (!f.module.empty()) j["module"] = f.module;
  return j;
}

json to_json(const Report& r) {
  std::vector<const HeapFinding*> order;
  order.reserve(r.heap.size());
  for (const HeapFinding& f : r.heap) order.push_back(&f);
  std::stable_sort(order.begin(), order.end(), [](const HeapFinding* a, const HeapFinding* b) {
    return finding_before(*a, *b);
  });
  json heap = json::array();
  for (const HeapFinding* f : order) heap.push_back(finding_to_json(*f));
  std::vector<const GoroutineFinding*> gorder;
  for (const GoroutineFinding& f : r.goroutines) gorder.push_back(&f);
  std::stable_sort(
      gorder.begin(), gorder.end(),
      [](const GoroutineFinding* a, const GoroutineFinding* b) { return finding_before(*a, *b); });
  json goroutines = json::array();
  size_t gproven = 0, gstuck = 0;
  for (const GoroutineFinding* f : gorder) {
    goroutines.push_back(goroutine_to_json(*f));
    gproven += f->evidence == Evidence::GcProof;
    gstuck += f->evidence == Evidence::Stuck;
  }
  json native = json::array();
  for (const NativeFinding& f : r.native) {  // sorted by the collector (sort_findings)
    native.push_back(native_finding_to_json(f));
  }
  json process = json::array();
  for (const ProcessFinding& f : r.process) process.push_back(process_to_json(f));
  const VerdictTally heap_v = tally_verdicts(r.heap), native_v = tally_verdicts(r.native),
                     goroutine_v = tally_verdicts(r.goroutines);
  json out = {
      // Contract fields.
      {"schema", "leakhound.report/v1"},
      {"target",
       {{"pid", r.target.pid},
        {"exe", r.target.exe},
        {"go_version", r.target.go_version},
        {"module", r.target.module_path}}},
      {"window", {{"duration_s", finite(r.duration_s)}, {"gc_cycles", r.gc_cycles}}},
      {"dropped_events", r.dropped_events},
      {"heap", std::move(heap)},
      {"native", std::move(native)},
      {"goroutines", std::move(goroutines)},
      // Additions.
      {"summary",
       {{"heap_leaks", heap_v.leak},
        {"heap_growing", heap_v.growing},
        {"heap_stacks", r.heap.size()},
        {"native_leaks", native_v.leak},
        {"native_growing", native_v.growing},
        {"native_stacks", r.native.size()},
        {"goroutine_leaks", goroutine_v.leak},
        {"goroutine_growing", goroutine_v.growing},
        {"goroutine_proven", gproven},
        {"goroutine_stuck", gstuck},
        {"goroutine_sites", r.goroutines.size()},
        {"process_leaks", tally_verdicts(r.process).leak}}},
      {"goroutine_stats",
       {{"read", r.goroutines_read},
        {"total", r.goroutines_total},
        {"user", r.goroutines_user},
        {"snapshots", r.goroutine_snapshots},
        {"events", r.goroutine_events},
        {"ancestry_depth", r.goroutine_ancestry},
        {"leak_check", leak_check_to_json(r.leak_check)}}},
      {"native_stats", native_stats_to_json(r.native_stats, r.duration_s)},
      {"process", std::move(process)},
      {"memory", memory_to_json(r.memory)},
      {"rss", rss_to_json(r.rss)},
      {"gomemlimit", gomemlimit_to_json(r.gomemlimit)},
      {"gc_cycles", r.gc_cycles},
      {"heap_events", r.heap_events},
      {"sampled_allocs", r.sampled_allocs},
      {"sampled_frees", r.sampled_frees},
      {"heap_verdicts", heap_verdicts_to_json(r)},
      {"sampler", sampler_to_json(r)},
      {"read_only", r.read_only},
      {"target_exited", r.target_exited},
      {"notes", r.notes},
  };
  if (r.retention_walk.ran || !r.retention_walk.why_not.empty())
    out["retention_walk"] = retention_walk_to_json(r.retention_walk);
  return out;
}

std::string write_json(const Report& r) { return to_json(r).dump(2) + "\n"; }

}  // namespace leakhound::report
