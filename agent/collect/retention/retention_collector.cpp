#include "collect/retention/retention_collector.h"

#include <elf.h>

#include <algorithm>
#include <unordered_set>

#include "collect/session.h"
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

}  // namespace

Result<std::unique_ptr<RetentionCollector>> RetentionCollector::start(
    const GoTarget& t, const target::MemoryReader& mem, const RetentionOptions& opts) {
  // Before 1.22 the heap's pointer bits live in the arenas' bitmaps, which
  // this walk does not read: no answer rather than a wrong one.
  if (!t.build.go_version.at_least(1, 22))
    return make_error("retention paths need Go >= 1.22 (this is {})", t.build.go_version.raw);
  std::unique_ptr<RetentionCollector> c(new RetentionCollector(t, mem, opts));
  auto l = goruntime::resolve_heap_layout(t.elf, t.build.go_version, &c->layout_source_);
  if (!l) return l.error();
  c->layout_ = *l;
  auto mh = goruntime::resolve_mheap(t.elf, t.pclntab, static_cast<uint32_t>(l->mheap_arenas));
  if (!mh) return mh.error();
  c->mheap_ = t.runtime_addr(*mh);
  if (!t.pclntab.moduledata()) return make_error("the runtime's moduledata was not found");
  c->moduledata_ = t.runtime_addr(t.pclntab.moduledata());
  for (const auto& s : t.elf.symbols()) {
    if (s.type == STT_OBJECT && s.value && s.size) c->globals_[s.value] = {s.size, s.name};
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
  auto spans = goruntime::HeapSpans::read(mem_, layout_, mheap_);
  if (!spans) {
    w.why_not = spans.error().message;
    return;
  }
  auto sampled = spans->sampled_objects(mem_, layout_);
  if (!sampled) {
    w.why_not = sampled.error().message;
    return;
  }
  auto roots = goruntime::read_walk_roots(mem_, layout_, moduledata_);
  if (!roots) {
    w.why_not = roots.error().message;
    return;
  }
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
  w.ran = true;
  w.heap_bytes = res.heap_bytes;
  w.scanned_bytes = res.bytes_scanned;
  w.bytes_read = res.bytes_read + spans->bytes_read();
  w.objects = res.objects;
  w.no_layout = res.no_layout;
  w.seconds = res.seconds;
  w.complete = res.complete;
  w.stopped = res.stopped;
  spdlog::debug("retention walk: {} objects, {} of {} heap bytes scanned, {} read, {:.2f} s",
                res.objects, res.bytes_scanned, res.heap_bytes, w.bytes_read, res.seconds);

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
  for (size_t i = 0; i < todo.size(); i++) {
    report::Retention ret;
    ret.sampled_objects = objects[i].size();
    std::map<std::string, report::RetentionPath> groups;
    for (uint64_t obj : objects[i]) {
      auto it = res.paths.find(obj);
      if (it == res.paths.end() || it->second.steps.empty()) continue;
      ret.reached++;
      const auto& steps = it->second.steps;
      report::RetentionPath p;
      p.root = global_name(steps.front().slot);
      p.root_kind = "global";
      std::vector<std::string> via;
      for (size_t k = 0; k + 1 < steps.size(); k++) via.push_back(label(steps[k]));
      p.via = collapse(std::move(via));
      p.object = label(steps.back());
      std::string key = p.root;
      for (const auto& v : p.via) key += "\n" + v;
      key += "\n" + p.object;
      auto [g, fresh] = groups.try_emplace(key, std::move(p));
      g->second.objects++;
      if (it->second.confirmed) g->second.confirmed++;
    }
    for (auto& [k, p] : groups) ret.paths.push_back(std::move(p));
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
