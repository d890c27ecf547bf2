#include "collect/native/native_collector.h"

#include <elf.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "binary/elf_file.h"
#include "collect/session.h"
#include "detect/warmup.h"
#include "goruntime/cgo_tls.h"
#include "goruntime/g_layout.h"
#include "probes/native_calibration.h"
#include "target/native_symbolizer.h"
#include "target/proc_stats.h"
#include "util/clock.h"
#include "util/log.h"

namespace leakhound::collect {
namespace {

std::string basename_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool is_libc(const std::string& base) {
  return base.rfind("libc.so", 0) == 0 || base.rfind("libc-", 0) == 0 ||
         base.rfind("ld-musl", 0) == 0 || base.rfind("libc.musl", 0) == 0;
}

// Libraries that replace malloc when preloaded or linked.
bool is_allocator_lib(const std::string& base) {
  for (const char* n : {"jemalloc", "tcmalloc", "mimalloc", "malloc"})
    if (base.find(n) != std::string::npos) return true;
  return false;
}

// The allocator's entry points in elf; empty when it does not define malloc.
std::vector<probes::AllocatorFunction> allocator_functions(const binary::ElfFile& elf) {
  std::vector<probes::AllocatorFunction> out;
  for (const std::string& name : probes::NativeProbes::function_names()) {
    auto sym = elf.symbol(name);
    if (!sym || sym->value == 0 || (sym->type != STT_FUNC && sym->type != STT_GNU_IFUNC)) continue;
    auto off = elf.vaddr_to_offset(sym->value);
    if (!off) continue;
    auto head = elf.read_vaddr(sym->value, 2);
    out.push_back({name, *off, head && probes::uprobe_emulated(*head)});
  }
  bool malloc_found = false, free_found = false;
  for (const auto& f : out) {
    malloc_found |= f.name == "malloc";
    free_found |= f.name == "free";
  }
  if (!malloc_found || !free_found) out.clear();
  return out;
}

bool in_exec_mapping(const std::vector<target::Mapping>& maps, uint64_t pc) {
  auto it = std::upper_bound(maps.begin(), maps.end(), pc,
                             [](uint64_t v, const target::Mapping& m) { return v < m.start; });
  if (it == maps.begin()) return false;
  --it;
  return pc < it->end && it->exec;
}

// Go attribution of cgo calls: where a thread finds its g, and the g and m
// fields the BPF walk reads.
Result<void> go_config(const GoTarget& t, lh_native_config& cfg) {
  if (!t.g_layout) return make_error("{}", t.g_layout_error);
  const goruntime::GLayout* l = &t.g_layout->layout;
  // A GOT slot holding the offset (unrelaxed initial-exec TLS) is read from the process.
  auto mem = target::ProcessMemory::open(t.proc.pid(), /*writable=*/false);
  auto off = goruntime::find_g_tls_offset(t.elf, t.pclntab, mem ? &*mem : nullptr, t.bias);
  if (!off) return off.error();
  cfg.go = 1;
  cfg.tls_g_off = static_cast<uint64_t>(*off);
  cfg.g_m = l->g_m;
  cfg.m_g0 = l->m_g0;
  cfg.m_curg = l->m_curg;
  cfg.g_status = l->atomicstatus;
  cfg.g_stack_lo = l->stack_lo;
  cfg.g_stack_hi = l->stack_hi;
  cfg.g_syscallpc = l->syscallpc;
  // Before 1.23 reentersyscall saves no frame pointer: asmcgocall left one in sched.bp.
  cfg.g_syscallbp =
      l->syscallbp != goruntime::kAbsent ? static_cast<uint32_t>(l->syscallbp) : l->sched_bp;
  return {};
}

}  // namespace

Result<Allocator> find_allocator(const target::Process& proc, const binary::ElfFile& exe) {
  auto maps = proc.maps();
  if (!maps) return maps.error();
  const std::string root = fmt::format("/proc/{}/root", proc.pid());

  // The executable first: static programs carry their allocator.
  if (auto fns = allocator_functions(exe); !fns.empty())
    return Allocator{proc.exe_path(), proc.exe_link(), true, std::move(fns)};
  std::vector<std::string> libs;
  for (const auto& m : *maps) {
    if (!m.exec || m.path.empty() || m.path[0] != '/' || m.path == proc.exe_path()) continue;
    if (m.path.find(" (deleted)") != std::string::npos) continue;
    std::string base = basename_of(m.path);
    if (!is_libc(base) && !is_allocator_lib(base)) continue;
    if (std::find(libs.begin(), libs.end(), m.path) == libs.end()) libs.push_back(m.path);
  }
  // A replacement allocator (preloaded or linked) wins over libc's.
  std::stable_partition(libs.begin(), libs.end(),
                        [](const std::string& p) { return !is_libc(basename_of(p)); });
  std::string tried;
  for (const std::string& lib : libs) {
    auto elf = binary::ElfFile::open(root + lib);
    if (!elf) {
      spdlog::debug("native: {}: {}", lib, elf.error().message);
      continue;
    }
    auto fns = allocator_functions(*elf);
    if (!fns.empty()) return Allocator{lib, root + lib, false, std::move(fns)};
    tried += (tried.empty() ? "" : ", ") + lib;
  }
  if (!tried.empty())
    return make_error("no malloc and free found in {} of PID {}", tried, proc.pid());
  // A static C program's malloc is found by name in .symtab: strip removed it.
  if (!exe.section(".go.buildinfo") && !exe.section(".interp") && !exe.has_symtab())
    return make_error(
        "PID {}'s executable is statically linked and stripped: its malloc cannot be found "
        "without a symbol table (.symtab); trace an unstripped build",
        proc.pid());
  return make_error("PID {} uses no C allocator (no libc is mapped: a pure Go program?)",
                    proc.pid());
}

Result<std::unique_ptr<NativeCollector>> NativeCollector::start(const target::Process& proc,
                                                                const GoTarget* go,
                                                                Allocator allocator,
                                                                const NativeOptions& opts,
                                                                report::Report& r) {
  std::unique_ptr<NativeCollector> c(new NativeCollector(proc, go, opts, monotonic_ns));
  c->allocator_ = std::move(allocator);
  c->stats_.allocator = c->allocator_.path;
  c->stats_.max_allocs = opts.max_allocs;

  probes::NativeProbeConfig cfg;
  cfg.pid = proc.pid();
  cfg.binary = c->allocator_.open_path;
  cfg.functions = c->allocator_.functions;
  cfg.process.track_mmap = opts.track_mmap ? 1 : 0;
  cfg.max_allocs = opts.max_allocs;
  cfg.max_stacks = opts.max_stacks;
  cfg.max_go_stacks = opts.max_stacks;
  if (go) {
    if (auto e = go_config(*go, cfg.process); e) {
      c->stats_.go_attribution = true;
    } else {
      c->stats_.why_no_go = e.error().message;
      r.notes.push_back("native allocations are not attributed to Go frames: " + e.error().message);
    }
  }
  // Before the target's probes, so the target never pays for the measurement.
  bool malloc_emulated = false, free_emulated = false;
  for (const auto& f : c->allocator_.functions) {
    if (f.name == "malloc") malloc_emulated = f.emulated_entry;
    if (f.name == "free") free_emulated = f.emulated_entry;
  }
  if (auto cost = probes::measure_native_probe_cost(malloc_emulated, free_emulated); cost) {
    c->stats_.cost_ns_per_call = *cost;
  } else {
    spdlog::debug("native: probe cost not measured: {}", cost.error().message);
  }
  auto p = probes::NativeProbes::attach(cfg);
  if (!p) return p.error();
  c->stats_.tracked = true;
  c->stats_.probes = p->probe_count();
  c->stats_.attached_from_us = p->entries_attached_unix_us().first;
  c->stats_.attached_to_us = p->entries_attached_unix_us().last;
  c->probes_ = std::make_unique<probes::NativeProbes>(std::move(*p));
  c->start_ns_ = c->now_ns_();
  spdlog::info("native: tracking {} ({} probes){}", c->allocator_.path, c->stats_.probes,
               c->stats_.go_attribution ? ", cgo calls attributed to Go frames" : "");
  if (auto e = c->poll(); !e) return e.error();
  return c;
}

std::unique_ptr<NativeCollector> NativeCollector::over(const target::Process& proc,
                                                       const GoTarget* go,
                                                       const NativeOptions& opts,
                                                       std::unique_ptr<probes::NativeTables> tables,
                                                       std::function<int64_t()> now_ns) {
  std::unique_ptr<NativeCollector> c(new NativeCollector(proc, go, opts, std::move(now_ns)));
  c->probes_ = std::move(tables);
  c->stats_.tracked = true;
  c->stats_.attached_from_us = c->stats_.attached_to_us = unix_us();
  c->start_ns_ = c->now_ns_();
  return c;
}

Result<void> NativeCollector::poll() {
  if (!probes_ || stopped_) return {};
  // What each stack allocated, read before what it holds: a block allocated
  // between the two reads is then in what the stack holds but not yet in
  // its total, never the other way round, so a stack that keeps everything
  // never looks as if it freed some.
  std::vector<probes::StackTotal> totals;
  if (from_attach_) {
    if (auto t = probes_->read_totals(static_cast<uint32_t>(proc_.pid())); t) {
      totals = std::move(*t);
    } else {
      spdlog::debug("native: per-stack totals unreadable: {}", t.error().message);
      from_attach_ = false;
    }
  }
  const int64_t read_from = unix_us();
  auto blocks = probes_->read_outstanding(static_cast<uint32_t>(proc_.pid()));
  if (!blocks) return blocks.error();
  stats_.read_from_us = read_from;
  stats_.read_to_us = unix_us();
  const double t = static_cast<double>(now_ns_() - start_ns_) / 1e9;
  // What the probes cost the target since the last poll; past the budget the
  // probes come off (unless --native asked for them whatever the cost).
  const uint64_t calls = probes_->counters()[LH_NATIVE_CALLS];
  if (t - last_t_ >= 0.2 && stats_.cost_ns_per_call > 0) {
    const double rate = static_cast<double>(calls - last_calls_) / (t - last_t_);
    const double share = rate * stats_.cost_ns_per_call / 1e9;
    if (share > opts_.max_cpu_share && opts_.mode == NativeOptions::Mode::Auto) {
      probes_->detach();
      stopped_ = true;
      stop_note_ = fmt::format(
          "native tracking stopped after {:.1f} s: the program called its allocator {:.0f} "
          "times/s, ~{:.0f}% of a CPU in probes (over the {:.0f}% budget; --native keeps them "
          "on, --no-native leaves them off)",
          t, rate, share * 100, opts_.max_cpu_share * 100);
      spdlog::warn("{}", stop_note_);
    }
    last_calls_ = calls;
    last_t_ = t;
  }
  const uint32_t idx = static_cast<uint32_t>(times_.size());
  times_.push_back(t);
  std::map<Key, Sample> now;
  std::map<Key, uint64_t> oldest;
  for (const auto& b : *blocks) {
    Key k{b.a.c_stack, b.a.go_stack};
    Sample& s = now[k];
    s.poll = idx;
    s.bytes += b.a.size;
    s.objects++;
    uint64_t& o = oldest[k];
    if (o == 0 || b.a.ts_ns < o) o = b.a.ts_ns;
  }
  for (auto& [k, s] : now) {
    Track& tr = tracks_[k];
    tr.samples.push_back(s);
    tr.oldest_ns = oldest[k];
  }
  for (const auto& st : totals) {
    auto& a = tracks_[Key{st.c_stack, st.go_stack}].allocated;
    if (a.empty() || a.back().second != st.total.bytes) a.emplace_back(idx, st.total.bytes);
  }
  measure_resident(*blocks, t);
  return {};
}

// The allocator's mappings, found through the blocks outstanding now, and
// their RSS; a poll whose /proc reads fail (the process exiting) has no point.
void NativeCollector::measure_resident(const std::vector<probes::OutstandingAlloc>& blocks,
                                       double t) {
  auto maps = proc_.maps();
  if (!maps) return;
  std::sort(maps->begin(), maps->end(),
            [](const auto& a, const auto& b) { return a.start < b.start; });
  std::vector<uint64_t> addrs;
  addrs.reserve(blocks.size());
  for (const auto& b : blocks) addrs.push_back(b.addr);
  resident_.note(addrs, *maps);
  auto smaps = target::read_smaps_rss(proc_.pid());
  if (!smaps || !proc_.alive()) return;
  resident_.record(t, *smaps);
}

std::vector<Frame> NativeCollector::symbolize(const Key& k,
                                              const std::vector<target::Mapping>& maps,
                                              bool* go_attributed) const {
  std::vector<Frame> out;
  const std::vector<uint64_t> c = probes_->c_stack(k.c_stack);
  std::vector<uint64_t> gs = probes_->go_stack(k.go_stack);
  // Before Go 1.23 the walk starts at sched.bp, the frame of a callee of
  // runtime.cgocall: its return address repeats the syscall pc's function.
  if (go_ && gs.size() >= 2) {
    auto a = go_->pclntab.func_for_pc(gs[0] - go_->bias);
    auto b = go_->pclntab.func_for_pc(gs[1] - go_->bias);
    if (a && b && a->entry == b->entry) gs.erase(gs.begin());
  }
  auto is_go = [&](uint64_t pc) {
    return go_ && go_->pclntab.func_for_pc(pc - go_->bias).has_value();
  };
  for (uint64_t pc : c) {
    // Past a C frame built without frame pointers the walk reads garbage.
    if (!in_exec_mapping(maps, pc)) break;
    if (is_go(pc)) {
      if (!gs.empty()) break;  // the goroutine's own frames follow below
      for (Frame& f : go_->symbolize_unwound({pc})) out.push_back(std::move(f));
      continue;
    }
    if (!symbolizer_) {
      out.push_back(Frame{fmt::format("{:#x}", pc), "", 0, pc});
      continue;
    }
    for (Frame& f : symbolizer_->frames(pc, true)) out.push_back(std::move(f));  // inlined too
  }
  if (!gs.empty() && go_) {
    *go_attributed = true;
    for (Frame& f : go_->symbolize_unwound(gs)) out.push_back(std::move(f));
  }
  return out;
}

void NativeCollector::trim(double keep_s) {
  if (times_.empty()) return;
  const double cutoff = times_.back() - keep_s;
  const auto first =
      std::find_if(times_.begin(), times_.end(), [&](double t) { return t >= cutoff; });
  const auto drop = static_cast<uint32_t>(first - times_.begin());
  if (drop == 0) return;
  times_.erase(times_.begin(), first);
  // The window no longer starts at attach: the warm-up is behind it, and
  // the fit's model (nothing seen before t = 0) no longer holds.
  from_attach_ = false;
  resident_.trim(cutoff);
  // Samples are numbered by poll: renumber from the first one kept.
  for (auto it = tracks_.begin(); it != tracks_.end();) {
    auto& v = it->second.samples;
    v.erase(v.begin(),
            std::find_if(v.begin(), v.end(), [&](const Sample& s) { return s.poll >= drop; }));
    for (Sample& s : v) s.poll -= drop;
    it->second.allocated.clear();
    it = v.empty() ? tracks_.erase(it) : std::next(it);
  }
}

void NativeCollector::stop(report::Report& r) {
  if (!probes_) return;
  auto ignored = poll();  // the last point, as close to the end as possible
  (void)ignored;
  spdlog::info("native: final read of the outstanding table done");
  contribute(r);
  probes_.reset();  // detach
  spdlog::debug("native: probes detached");
}

void NativeCollector::contribute(report::Report& r) {
  if (!probes_) return;
  if (stopped_) r.notes.push_back(stop_note_);
  const int64_t end_ns = now_ns_();
  auto counters = probes_->counters();
  report::NativeStats stats = stats_;  // the totals below are this report's
  stats.calls = counters[LH_NATIVE_CALLS];
  stats.allocs = counters[LH_NATIVE_ALLOCS];
  stats.frees = counters[LH_NATIVE_FREES];
  stats.frees_unknown = counters[LH_NATIVE_FREES_UNKNOWN];
  stats.go_stacks = counters[LH_NATIVE_GO_STACKS];
  stats.dropped_table_full = counters[LH_NATIVE_DROP_TABLE_FULL];
  stats.dropped_stack = counters[LH_NATIVE_DROP_STACK];
  stats.dropped_go_stack = counters[LH_NATIVE_DROP_GO_STACK];
  stats.dropped_pending = counters[LH_NATIVE_DROP_PENDING];
  stats.resident_series = resident_.series();
  stats.resident_bytes =
      stats.resident_series.empty() ? 0 : static_cast<uint64_t>(stats.resident_series.back().value);
  stats.resident_mappings = resident_.mappings();
  r.dropped_events += stats.dropped();

  // Read through the PID: kept only when the target is still alive after
  // the reads, else they may describe another process that took its PID.
  auto maps = proc_.maps();
  std::vector<target::Mapping> exec_maps;
  if (maps && proc_.alive()) {
    exec_maps = std::move(*maps);
    std::sort(exec_maps.begin(), exec_maps.end(),
              [](const auto& a, const auto& b) { return a.start < b.start; });
  }
  if (!symbolizer_) {
    auto s = target::NativeSymbolizer::open(proc_.pid());
    if (s && proc_.alive()) {
      symbolizer_.emplace(std::move(*s));
    } else {
      r.notes.push_back("native frames not symbolized: " +
                        (s ? fmt::format("PID {} has exited", proc_.pid()) : s.error().message));
    }
  }

  // Stacks that symbolize alike (ids differing only past the last valid
  // frame) are one finding: their series add up point by point.
  struct Merged {
    std::vector<Frame> stack;
    std::vector<double> bytes, objects;
    std::vector<double> allocated;  // bytes since attach, at each poll
    bool allocated_known = true;
    uint64_t oldest_ns = 0;
    bool go = false;
  };
  std::map<std::string, Merged> merged;
  const size_t n = times_.size();
  const uint32_t last = n ? static_cast<uint32_t>(n - 1) : 0;
  for (const auto& [k, tr] : tracks_) {
    if (tr.samples.empty()) continue;  // allocated, all of it freed by every poll
    bool go_attr = false;
    std::vector<Frame> stack = symbolize(k, exec_maps, &go_attr);
    // The Go runtime's own mappings (x_cgo_mmap: heap metadata, thread stacks
    // of the runtime) are Go memory, which the heap capability covers.
    if (std::any_of(stack.begin(), stack.end(),
                    [](const Frame& f) { return f.function == "x_cgo_mmap"; }))
      continue;
    std::string sig;
    for (const Frame& f : stack) sig += fmt::format("{}|{}|{};", f.function, f.file, f.line);
    if (stack.empty()) sig = fmt::format("#{:x}", k.c_stack);
    Merged& m = merged[sig];
    if (m.bytes.empty()) {
      m.stack = std::move(stack);
      m.bytes.assign(n, 0);
      m.objects.assign(n, 0);
      m.allocated.assign(n, 0);
    }
    // The total as of each poll: the last change at or before it.
    m.allocated_known = m.allocated_known && from_attach_ && !tr.allocated.empty();
    for (size_t i = 0, j = 0; m.allocated_known && i < n; ++i) {
      while (j + 1 < tr.allocated.size() && tr.allocated[j + 1].first <= i) ++j;
      if (tr.allocated[j].first <= i) m.allocated[i] += static_cast<double>(tr.allocated[j].second);
    }
    m.go |= go_attr;
    for (const Sample& s : tr.samples) {
      if (s.poll >= n) continue;
      m.bytes[s.poll] += static_cast<double>(s.bytes);
      m.objects[s.poll] += static_cast<double>(s.objects);
    }
    if (!tr.samples.empty() && tr.samples.back().poll == last &&
        (m.oldest_ns == 0 || tr.oldest_ns < m.oldest_ns))
      m.oldest_ns = tr.oldest_ns;
  }
  const double window = n ? times_.back() : 0;
  for (auto& [sig, m] : merged) {
    report::NativeFinding f;
    std::vector<detect::Point> series;
    series.reserve(n);
    for (size_t i = 0; i < n; i++) series.push_back({times_[i], m.bytes[i]});
    if (m.allocated_known) {
      // Blocks from before attach are never seen: a stack whose blocks
      // live a while fills from zero after attach, like a leak. Fitted for
      // that warm-up with its own allocations since attach, as the heap's
      // stacks are when leakhound switched the sampler on.
      std::vector<detect::Point> allocated;
      allocated.reserve(n);
      for (size_t i = 0; i < n; i++) allocated.push_back({times_[i], m.allocated[i]});
      // Exact counts: with the share freed before the next poll fitted too.
      f.trend = detect::analyze_warmup(series, allocated, window, opts_.trend, true).trend;
    } else {
      f.trend = detect::analyze(series, opts_.trend);
    }
    detect::require_min_growth(f.trend, window, opts_.min_growth_bytes);
    f.inuse_bytes = n ? static_cast<uint64_t>(m.bytes[n - 1]) : 0;
    f.inuse_objects = n ? static_cast<uint64_t>(m.objects[n - 1]) : 0;
    stats.outstanding_bytes += f.inuse_bytes;
    stats.outstanding_allocs += f.inuse_objects;
    if (f.inuse_bytes == 0 && f.trend.verdict == detect::Verdict::Stable) continue;
    if (m.oldest_ns)
      f.oldest_age_s = static_cast<double>(end_ns - static_cast<int64_t>(m.oldest_ns)) / 1e9;
    f.go_attributed = m.go;
    f.stack = std::move(m.stack);
    f.series = std::move(series);
    r.native.push_back(std::move(f));
  }
  spdlog::debug("native: {} findings symbolized", r.native.size());
  r.native_stats = stats;
}

Result<std::unique_ptr<Capability>> open_native(OpenContext& ctx, report::Report& r) {
  if (!ctx.allocator) return std::unique_ptr<Capability>();  // why_not said by the session
  auto n = NativeCollector::start(ctx.proc, ctx.go, std::move(*ctx.allocator), ctx.opts.native, r);
  ctx.allocator.reset();
  if (n) return std::unique_ptr<Capability>(std::move(*n));
  if (ctx.required || ctx.opts.native.mode == NativeOptions::Mode::On || !ctx.go) return n.error();
  r.native_stats.why_not = n.error().message;
  spdlog::debug("native: {}", n.error().message);
  return std::unique_ptr<Capability>();
}

}  // namespace leakhound::collect
