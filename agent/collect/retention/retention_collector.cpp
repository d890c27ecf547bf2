#include "collect/retention/retention_collector.h"

#include <elf.h>

#include <algorithm>
#include <unordered_set>

#include "collect/session.h"
#include "util/clock.h"
#include "util/log.h"

namespace leakhound::collect {
namespace {

using report::HeapFinding;

bool explain(const HeapFinding& f) {
  return f.trend.verdict == detect::Verdict::Leak || f.trend.verdict == detect::Verdict::Growing;
}

void buckets_of(const HeapFinding& f, std::vector<uint64_t>& out) {
  out.insert(out.end(), f.buckets.begin(), f.buckets.end());
  for (const auto& c : f.children) buckets_of(c, out);
}

// Runs of one name (a linked list, a tree's levels) read as one step.
std::vector<std::string> collapse(std::vector<std::string> v) {
  std::vector<std::string> out;
  for (auto& s : v) {
    if (!out.empty() && (out.back() == s || out.back() == s + " …")) {
      out.back() = s + " …";
      continue;
    }
    out.push_back(std::move(s));
  }
  return out;
}

// A goroutine stack's part of the stack frames are unwound from: deep
// enough that a slot maps to its own frame, not the last one unwound.
constexpr size_t kMaxFrames = 1024;

std::string_view base_name(std::string_view path) {
  const size_t k = path.rfind('/');
  return k == std::string_view::npos ? path : path.substr(k + 1);
}

}  // namespace

struct RetentionCollector::StackRoots {
  struct G {
    goruntime::Goroutine g;
    bool unwound = false;
    std::vector<uint64_t> pcs, tops;  // innermost first; tops: each frame's end
  };
  std::vector<G> gs;  // by stack address; each scanned from its saved SP to stack.hi

  G* find(uint64_t slot) {
    auto it = std::upper_bound(gs.begin(), gs.end(), slot,
                               [](uint64_t v, const G& g) { return v < g.g.sp; });
    if (it == gs.begin()) return nullptr;
    --it;
    return slot < it->g.stack_hi ? &*it : nullptr;
  }
};

std::string RetentionCollector::function_at(uint64_t pc) const {
  // The physical function: the one whose frame it is. A PC at an entry is
  // a goroutine that never ran; any other is a return PC (pc-1: the call).
  const uint64_t link = pc - t_.bias;
  auto fn = t_.pclntab.func_for_pc(link);
  if (!fn || fn->entry != link) fn = t_.pclntab.func_for_pc(link - 1);
  return fn ? fn->name : fmt::format("{:#x}", pc);
}

RetentionCollector::StackRoots RetentionCollector::stack_roots(goruntime::WalkRoots& roots,
                                                               report::RetentionWalk& w) const {
  StackRoots sr;
  if (!goroutines_) {
    w.stacks_why_not = stacks_why_not_;
    return sr;
  }
  auto snap = goroutines_->read();
  if (!snap) {
    w.stacks_why_not = snap.error().message;
    return sr;
  }
  for (const auto& g : snap->live) {
    const auto st = static_cast<goruntime::GStatus>(g.status);
    // A running goroutine's saved SP is stale (its live frames are below
    // it); a stack being copied is about to move.
    if (st == goruntime::GStatus::Running || st == goruntime::GStatus::CopyStack) {
      w.goroutines_running++;
      continue;
    }
    if (g.sp < g.stack_lo || g.sp >= g.stack_hi) continue;
    sr.gs.push_back({g});
  }
  std::sort(sr.gs.begin(), sr.gs.end(),
            [](const auto& a, const auto& b) { return a.g.sp < b.g.sp; });
  for (auto& g : sr.gs) {
    // The runtime's frames at the stack's top are fallback roots: their dead
    // slots hold what user code held a moment before. Every frame from the
    // first user one up is a root.
    g.pcs = goroutines_->unwind(g.g, &g.tops);
    g.unwound = true;
    uint64_t user = g.g.sp;
    for (size_t k = 0; k < g.pcs.size() && is_runtime_function(function_at(g.pcs[k])); k++)
      user = g.tops[k];
    if (user >= g.g.stack_hi) user = g.g.sp;  // all runtime: a runtime goroutine, all roots
    if (user > g.g.sp) roots.stacks.push_back({g.g.sp, user, true});
    roots.stacks.push_back({user, g.g.stack_hi, false});
  }
  w.goroutines = sr.gs.size();
  return sr;
}

Result<std::unique_ptr<RetentionCollector>> RetentionCollector::start(
    const GoTarget& t, const target::MemoryReader& mem, const RetentionOptions& opts) {
  // 1.22+: allocation headers and span heap bits; 1.21: the arenas' bitmaps,
  // one bit a word. Before, two bits a word in another format, not read:
  // no answer rather than a wrong one.
  if (!t.build.go_version.at_least(1, 21))
    return make_error("retention paths need Go >= 1.21 (this is {})", t.build.go_version.raw);
  std::string source;
  auto l = goruntime::resolve_heap_layout(t.elf, t.build.go_version, &source);
  if (!l) return l.error();
  auto mh = goruntime::resolve_mheap(t.elf, t.pclntab, static_cast<uint32_t>(l->mheap_arenas));
  if (!mh) return mh.error();
  if (!t.pclntab.moduledata()) return make_error("the runtime's moduledata was not found");
  return over(t, mem, opts, *l, std::move(source), t.runtime_addr(*mh),
              t.runtime_addr(t.pclntab.moduledata()));
}

std::unique_ptr<RetentionCollector> RetentionCollector::over(const GoTarget& t,
                                                             const target::MemoryReader& mem,
                                                             const RetentionOptions& opts,
                                                             const goruntime::HeapLayout& layout,
                                                             std::string layout_source,
                                                             uint64_t mheap, uint64_t moduledata) {
  std::unique_ptr<RetentionCollector> c(new RetentionCollector(t, mem, opts));
  c->layout_ = layout;
  c->layout_source_ = std::move(layout_source);
  c->mheap_ = mheap;
  c->moduledata_ = moduledata;
  for (const auto& s : t.elf.symbols()) {
    if (s.type == STT_OBJECT && s.value && s.size) c->globals_[s.value] = {s.size, s.name};
  }
  if (!t.syms.allgs) {
    c->stacks_why_not_ = "runtime.allgs was not found in the binary";
  } else if (!t.g_layout) {
    c->stacks_why_not_ = t.g_layout_error;
  } else {
    goruntime::AllgLimits lim;
    lim.max_depth = kMaxFrames;
    c->goroutines_.emplace(mem, t.g_layout->layout, t.runtime_addr(t.syms.allgs),
                           t.runtime_addr(t.syms.allglen), lim, t.stack_arch());
  }
  return c;
}

std::string RetentionCollector::global_name(uint64_t addr) const {
  const uint64_t link = addr - t_.bias;
  if (auto it = globals_.upper_bound(link); it != globals_.begin()) {
    --it;
    if (link - it->first < it->second.first) {
      const uint64_t off = link - it->first;
      return off ? fmt::format("{}+{:#x}", it->second.second, off) : it->second.second;
    }
  }
  for (const auto& s : t_.elf.sections()) {
    if (s.addr && link >= s.addr && link - s.addr < s.size)
      return fmt::format("{}+{:#x}", s.name, link - s.addr);
  }
  return fmt::format("{:#x}", link);
}

void RetentionCollector::contribute(report::Report& r) {
  std::vector<HeapFinding*> todo;
  for (auto& f : r.heap) {
    if (!explain(f)) continue;
    todo.push_back(&f);
    // A caller's stacks each get their own paths too.
    for (auto& c : f.children) todo.push_back(&c);
  }
  if (todo.empty()) return;
  report::RetentionWalk& w = r.retention_walk;
  w = {};
  w.layout_source = layout_source_;
  w.from_us = unix_us();
  const int64_t cpu_from = thread_cpu_ns();
  auto spans = goruntime::HeapSpans::read(mem_, layout_, mheap_);
  if (!spans) {
    w.why_not = spans.error().message;
    return;
  }
  std::vector<goruntime::SpecialRoot> specials;
  auto sampled = spans->sampled_objects(mem_, layout_, {}, &specials);
  if (!sampled) {
    w.why_not = sampled.error().message;
    return;
  }
  auto roots = goruntime::read_walk_roots(mem_, layout_, moduledata_);
  if (!roots) {
    w.why_not = roots.error().message;
    return;
  }
  if (layout_.go_minor < 22) {
    auto l2 = goruntime::read_arena_l2(mem_, layout_, mheap_);
    if (!l2) {
      w.why_not = l2.error().message;
      return;
    }
    roots->arena_l2 = *l2;
    // arenaBaseOffset (malloc.go): amd64's heap addresses are offset so that
    // arena indexes start at 0; arm64's are not.
    roots->arena_base_offset =
        t_.elf.machine() == binary::Machine::AArch64 ? 0 : 0xffff800000000000ULL;
  }
  roots->mheap = mheap_;
  StackRoots stacks = stack_roots(*roots, w);
  roots->specials = std::move(specials);
  // The wanted objects: every live sampled object of the findings' buckets.
  std::unordered_map<uint64_t, std::vector<uint64_t>> by_bucket;
  for (const auto& [obj, b] : *sampled) by_bucket[b].push_back(obj);
  std::unordered_set<uint64_t> wanted;
  std::vector<std::vector<uint64_t>> objects(todo.size());
  for (size_t i = 0; i < todo.size(); i++) {
    std::vector<uint64_t> bs;
    buckets_of(*todo[i], bs);
    for (uint64_t b : bs) {
      if (auto it = by_bucket.find(b); it != by_bucket.end()) {
        objects[i].insert(objects[i].end(), it->second.begin(), it->second.end());
        wanted.insert(it->second.begin(), it->second.end());
      }
    }
  }
  // Name a sampled object by its allocation site when it belongs to a finding.
  std::unordered_map<uint64_t, std::string> site;
  for (auto* f : todo) {
    std::vector<uint64_t> bs;
    buckets_of(*f, bs);
    std::string fn;
    for (const auto& fr : f->stack) {
      if (!is_runtime_function(fr.function)) {
        fn = fr.function;
        break;
      }
    }
    for (uint64_t b : bs) site[b] = fn;
  }
  goruntime::HeapWalker walker(mem_, layout_, *spans, *roots, opts_.budget);
  goruntime::WalkResult res = walker.walk(wanted);
  w.to_us = unix_us();
  w.cpu_seconds = static_cast<double>(thread_cpu_ns() - cpu_from) / 1e9;
  w.ran = true;
  w.heap_bytes = res.heap_bytes;
  w.scanned_bytes = res.bytes_scanned;
  w.bytes_read = res.bytes_read + spans->bytes_read();
  w.objects = res.objects;
  w.no_layout = res.no_layout;
  w.stack_bytes = res.stack_bytes;
  w.specials = roots->specials.size();
  w.second_pass = res.second_pass;
  w.cpu_share = opts_.budget.cpu_share;
  w.paused_seconds = res.paused_seconds;
  // The finalizer and cleanup roots by slot: their function words, and a
  // finalized object's own words (end → start, kind, object).
  struct SpecialSlot {
    uint64_t start;
    const goruntime::SpecialRoot* root;
  };
  std::map<uint64_t, SpecialSlot> special_slots;
  for (const auto& sp : roots->specials) {
    for (const auto& [slot, v] : sp.words) special_slots[slot + 8] = {slot, &sp};
    uint64_t base = 0;
    if (const auto* s = spans->find(sp.object, &base);
        s && sp.kind == goruntime::SpecialRoot::Kind::Finalizer)
      special_slots[base + s->elemsize] = {base, &sp};
  }
  auto special_root = [&](uint64_t slot) -> std::optional<std::string> {
    auto it = special_slots.upper_bound(slot);
    if (it == special_slots.end() || slot < it->second.start) return std::nullopt;
    const goruntime::SpecialRoot& sp = *it->second.root;
    std::string what;
    if (auto t = res.special_types.find(sp.object); t != res.special_types.end())
      what = t->second + " object";
    else if (const auto* s = spans->find(sp.object, nullptr))
      what = fmt::format("{} B object", s->elemsize);
    else
      what = "object";
    return fmt::format("{} of {}",
                       sp.kind == goruntime::SpecialRoot::Kind::Finalizer ? "finalizer" : "cleanup",
                       what);
  };
  w.seconds = res.seconds;
  w.complete = res.complete;
  w.stopped = res.stopped;
  spdlog::debug(
      "retention walk: {} objects, {} of {} heap bytes scanned, {} read, {:.2f} s; {} paths "
      "followed through a new object on the re-read, {} objects reached by a second walk",
      res.objects, res.bytes_scanned, res.heap_bytes, w.bytes_read, res.seconds, res.followed,
      res.second_pass);

  auto label = [&](const goruntime::PathStep& s) {
    // A typed object holding several of its type is an array (a slice's or
    // a map's backing store): "[]T"; one is what a *T points at.
    if (!s.type.empty())
      return (s.type_size && s.size >= 2 * s.type_size + 8 ? "[]" : "*") + s.type;
    if (auto it = sampled->find(s.addr); it != sampled->end()) {
      if (auto st = site.find(it->second); st != site.end() && !st->second.empty())
        return fmt::format("object from {}", st->second);
    }
    return fmt::format("{} B object", s.size);
  };
  // A stack root holds only while its goroutine lives on the same stack with
  // the slot in its live part: a moved or freed stack keeps stale words.
  std::unordered_map<uint64_t, goruntime::Goroutine> now;
  if (goroutines_ && !stacks.gs.empty()) {
    if (auto snap = goroutines_->read()) {
      for (const auto& g : snap->live) now.emplace(g.g, g);
    }
  }
  auto stack_holds = [&](const StackRoots::G& g, uint64_t slot) {
    auto it = now.find(g.g.g);
    if (it == now.end()) return false;
    const goruntime::Goroutine& n = it->second;
    if (n.goid != g.g.goid || n.stack_lo != g.g.stack_lo || n.stack_hi != g.g.stack_hi)
      return false;
    const auto st = static_cast<goruntime::GStatus>(n.status);
    return st == goruntime::GStatus::Running ||
           (n.sp <= slot && st != goruntime::GStatus::CopyStack);
  };
  // "goroutine 42 (created by main.startWorker at worker.go:31), frame
  // main.worker": the group key leaves out the goroutine's id.
  auto stack_root = [&](StackRoots::G& g, uint64_t slot, std::string* key) {
    if (!g.unwound) {
      g.pcs = goroutines_->unwind(g.g, &g.tops);
      g.unwound = true;
    }
    const Frame created = t_.frame_at(g.g.gopc, true);
    std::string who = fmt::format("created by {}", created.function);
    if (!created.file.empty())
      who += fmt::format(" at {}:{}", base_name(created.file), created.line);
    std::string frame;
    for (size_t k = 0; k < g.pcs.size(); k++) {
      if (slot >= g.tops[k]) continue;
      frame = ", frame " + function_at(g.pcs[k]);
      break;
    }
    *key = who + frame;
    return fmt::format("goroutine {} ({}){}", g.g.goid, who, frame);
  };
  for (size_t i = 0; i < todo.size(); i++) {
    report::Retention ret;
    ret.sampled_objects = objects[i].size();
    std::map<std::string, report::RetentionPath> groups;
    std::map<std::string, std::unordered_set<uint64_t>> goids;
    for (uint64_t obj : objects[i]) {
      auto it = res.paths.find(obj);
      if (it == res.paths.end() || it->second.steps.empty()) continue;
      ret.reached++;
      const auto& steps = it->second.steps;
      report::RetentionPath p;
      const uint64_t slot = steps.front().slot;
      std::string key;
      bool confirmed = it->second.confirmed;
      StackRoots::G* g = stacks.find(slot);
      if (g) {
        p.root = stack_root(*g, slot, &key);
        p.root_kind = "goroutine";
        key.insert(0, "goroutine\n");
        confirmed = confirmed && stack_holds(*g, slot);
      } else if (auto sp = special_root(slot)) {
        p.root = *sp;
        p.root_kind = p.root.starts_with("finalizer") ? "finalizer" : "cleanup";
        key = p.root_kind + "\n" + p.root;
      } else {
        p.root = global_name(slot);
        p.root_kind = "global";
        key = p.root;
      }
      std::vector<std::string> via;
      for (size_t k = 0; k + 1 < steps.size(); k++) via.push_back(label(steps[k]));
      p.via = collapse(std::move(via));
      p.object = label(steps.back());
      for (const auto& v : p.via) key += "\n" + v;
      key += "\n" + p.object;
      auto [grp, fresh] = groups.try_emplace(key, std::move(p));
      grp->second.objects++;
      if (confirmed) grp->second.confirmed++;
      if (g) goids[key].insert(g->g.goid);
    }
    for (auto& [k, p] : groups) {
      if (auto it = goids.find(k); it != goids.end()) p.goroutines = it->second.size();
      ret.paths.push_back(std::move(p));
    }
    std::stable_sort(ret.paths.begin(), ret.paths.end(),
                     [](const auto& a, const auto& b) { return a.objects > b.objects; });
    if (ret.paths.size() > opts_.max_paths) ret.paths.resize(opts_.max_paths);
    todo[i]->retention = std::move(ret);
  }
}

Result<std::unique_ptr<Capability>> open_retention(OpenContext& ctx, report::Report& r) {
  if (!ctx.go || !ctx.opts.retention.enabled) return std::unique_ptr<Capability>();
  auto c = RetentionCollector::start(*ctx.go, ctx.mem, ctx.opts.retention);
  if (c) return std::unique_ptr<Capability>(std::move(*c));
  r.retention_walk.why_not = c.error().message;
  r.notes.push_back(fmt::format("retention paths not available: {}", c.error().message));
  return std::unique_ptr<Capability>();
}

}  // namespace leakhound::collect
