#include "collect/runtime_memory/runtime_memory_collector.h"

#include "collect/session.h"
#include "target/proc_stats.h"
#include "util/clock.h"

namespace leakhound::collect {

Result<std::unique_ptr<RuntimeMemoryCollector>> RuntimeMemoryCollector::start(
    const GoTarget& t, const target::MemoryReader& mem) {
  const pid_t pid = t.proc.pid();
  std::unique_ptr<RuntimeMemoryCollector> c(new RuntimeMemoryCollector(
      mem, [pid] { return target::read_rss_bytes(pid); }, monotonic_ns));
  // Resolved with runtime.g's layout (once per executable in the daemon).
  if (t.g_layout && t.g_layout->memstats) {
    c->layout_ = *t.g_layout->memstats;
    c->source_ = t.g_layout->memstats_source;
  } else {
    auto l = goruntime::resolve_memstats_layout(t.elf, t.build.go_version, &c->source_);
    if (!l) return l.error();
    c->layout_ = *l;
  }
  auto syms = goruntime::resolve_memstats_symbols(t.elf, t.pclntab, c->layout_);
  if (!syms) return syms.error();
  c->memstats_ = t.runtime_addr(syms->memstats);
  c->gc_controller_ = t.runtime_addr(syms->gc_controller);
  if (!syms->from_symtab) c->source_ += ", addresses from the code";
  // One reading now proves the addresses before the window starts.
  auto first = goruntime::read_memstats(mem, c->layout_, c->memstats_, c->gc_controller_);
  if (!first) return first.error();
  c->start_ns_ = c->now_ns_();
  return c;
}

std::unique_ptr<RuntimeMemoryCollector> RuntimeMemoryCollector::over(
    const target::MemoryReader& mem, const goruntime::MemStatsLayout& layout, uint64_t memstats,
    uint64_t gc_controller, std::function<Result<uint64_t>()> read_rss,
    std::function<int64_t()> now_ns) {
  std::unique_ptr<RuntimeMemoryCollector> c(
      new RuntimeMemoryCollector(mem, std::move(read_rss), std::move(now_ns)));
  c->layout_ = layout;
  c->memstats_ = memstats;
  c->gc_controller_ = gc_controller;
  c->start_ns_ = c->now_ns_();
  return c;
}

Result<void> RuntimeMemoryCollector::poll() {
  RuntimeMemReading x;
  x.t_s = static_cast<double>(now_ns_() - start_ns_) / 1e9;
  auto ms = goruntime::read_memstats(mem_, layout_, memstats_, gc_controller_);
  if (!ms) return ms.error();
  auto rss = read_rss_();
  if (!rss) return rss.error();
  x.ms = *ms;
  x.rss = *rss;
  readings_.push_back(x);
  return {};
}

void RuntimeMemoryCollector::trim(double keep_s) {
  if (readings_.empty()) return;
  const double cut = readings_.back().t_s - keep_s;
  std::erase_if(readings_, [cut](const RuntimeMemReading& x) { return x.t_s < cut; });
}

void RuntimeMemoryCollector::contribute(report::Report& r) {
  r.rss.layout = source_;
  reconcile_rss(readings_, r, r.rss);
  forecast_gomemlimit(readings_, layout_.go_minor, r.gomemlimit);
}

Result<std::unique_ptr<Capability>> open_runtime_memory(OpenContext& ctx, report::Report& r) {
  if (!ctx.go) {
    r.rss.why_not = "not a Go program";
    return std::unique_ptr<Capability>();
  }
  auto m = RuntimeMemoryCollector::start(*ctx.go, ctx.mem);
  if (m) return std::unique_ptr<Capability>(std::move(*m));
  r.rss.why_not = m.error().message;
  r.notes.push_back(fmt::format("RSS breakdown not available: {}", m.error().message));
  return std::unique_ptr<Capability>();
}

}  // namespace leakhound::collect
