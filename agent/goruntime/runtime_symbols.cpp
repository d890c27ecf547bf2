#include "goruntime/runtime_symbols.h"

#include <elf.h>

#include <functional>
#include <map>
#include <set>
#include <string_view>

#include "goruntime/data_refs.h"

namespace leakhound::goruntime {
namespace {

using binary::ElfFile;
using AddrSet = std::set<uint64_t>;
using RefPred = std::function<bool(const DataRef&)>;

// mprof.go 1.20-1.27: `var MemProfileRate int = 512 * 1024`, statically
// initialized, so a stripped binary still holds it in .noptrdata. 1.18-1.19:
// `= defaultMemProfileRate(512 * 1024)`, set by runtime.init (0 in the file).
constexpr uint64_t kDefaultMemProfileRate = 512 * 1024;
bool rate_set_by_init(const binary::GoVersion& v) { return !v.at_least(1, 20); }

std::string hex_list(const AddrSet& s) {
  std::string out;
  for (uint64_t a : s) out += fmt::format("{}{:#x}", out.empty() ? "" : " ", a);
  return out.empty() ? "none" : out;
}

// The PT_LOAD segment holding [addr, addr+len), or nullptr.
const binary::Segment* load_segment(const ElfFile& elf, uint64_t addr, uint64_t len) {
  for (const auto& s : elf.segments()) {
    // Written so that no sum can wrap (addresses come from hostile input).
    if (s.type == PT_LOAD && len <= s.memsz && addr >= s.vaddr && addr - s.vaddr <= s.memsz - len)
      return &s;
  }
  return nullptr;
}

// Go puts its globals in .noptrdata/.data/.bss/.noptrbss: a writable,
// non-executable PT_LOAD segment and, when section headers exist, a
// SHF_WRITE section that is not RELRO (.data.rel.ro of PIE/cgo builds).
bool in_writable_data(const ElfFile& elf, uint64_t addr, uint64_t len) {
  const binary::Segment* seg = load_segment(elf, addr, len);
  if (!seg || !(seg->flags & PF_W) || (seg->flags & PF_X)) return false;
  for (const auto& sec : elf.sections()) {
    if (!(sec.flags & SHF_ALLOC) || addr < sec.addr || addr - sec.addr >= sec.size) continue;
    if (!(sec.flags & SHF_WRITE) || sec.name.starts_with(".data.rel.ro")) return false;
  }
  return true;
}

// The value a global has when the process starts: from the file, or 0 in
// the zero-filled (bss) tail of its segment. nullopt when not knowable.
std::optional<uint64_t> initial_value(const ElfFile& elf, uint64_t addr, size_t width) {
  const binary::Segment* seg = load_segment(elf, addr, width);
  if (!seg || width > 8) return std::nullopt;
  const uint64_t off = addr - seg->vaddr;
  if (off >= seg->filesz) return 0;
  if (width > seg->filesz - off) return std::nullopt;
  auto bytes = elf.read_vaddr(addr, width);
  if (!bytes) return std::nullopt;
  uint64_t v = 0;
  for (size_t i = 0; i < width; i++) v |= uint64_t{(*bytes)[i]} << (8 * i);  // little-endian
  return v;
}

bool reads(const DataRef& r, uint8_t width) { return r.reads() && r.width == width; }

class Resolver {
 public:
  Resolver(const ElfFile& elf, const binary::Pclntab& pcln) : elf_(elf), pcln_(pcln) {}

  // Data references of a runtime function; nullptr when the pclntab has no
  // such function (inlined everywhere or renamed in this release).
  Result<const std::vector<DataRef>*> refs(const std::string& fn) {
    if (auto it = cache_.find(fn); it != cache_.end()) return &it->second;
    auto fi = pcln_.func_by_name(fn);
    if (!fi) return static_cast<const std::vector<DataRef>*>(nullptr);
    auto r = find_data_refs(elf_, fi->entry, fi->end);
    if (!r) return Error{fn + ": " + r.error().message};
    return &cache_.emplace(fn, std::move(*r)).first->second;
  }

  struct Anchor {
    std::string fn;
    RefPred pred;
  };

  // Targets of the refs selected by each anchor's predicate, intersected over
  // the anchors the pclntab has; at least `min_present` of them must be there
  // (so that one function inlined away in some release does not break it, but
  // one function alone never decides). `used` lists the functions used.
  Result<AddrSet> intersect(std::string_view global, const std::vector<Anchor>& anchors,
                            size_t min_present, std::string& used) {
    std::optional<AddrSet> acc;
    std::string missing;
    size_t present = 0;
    for (const Anchor& a : anchors) {
      auto r = refs(a.fn);
      if (!r) return r.error();
      if (!*r) {
        missing += (missing.empty() ? "" : ", ") + a.fn;
        continue;
      }
      present++;
      AddrSet s;
      for (const DataRef& d : **r) {
        if (a.pred(d) && (!acc || acc->count(d.target))) s.insert(d.target);
      }
      acc = std::move(s);
      used += (used.empty() ? "" : ", ") + a.fn;
    }
    if (present < min_present) {
      return make_error("{}: cannot recover it: {} not in the pclntab (have: {})", global, missing,
                        used.empty() ? "none" : used);
    }
    return acc.value_or(AddrSet{});
  }

  // Keeps the candidates in writable data whose start value passes `check`,
  // then demands exactly one.
  Result<uint64_t> pick(std::string_view global, const AddrSet& cands, size_t width,
                        const std::function<bool(uint64_t)>& check, std::string_view how) {
    AddrSet ok;
    for (uint64_t a : cands) {
      auto v = initial_value(elf_, a, width);
      if (a % width == 0 && in_writable_data(elf_, a, width) && v && check(*v)) ok.insert(a);
    }
    if (ok.size() == 1) return *ok.begin();
    return make_error(
        "{}: no unique address from {} ({} candidates before the data-segment/initial-value "
        "checks: {}; {} after: {})",
        global, how, cands.size(), hex_list(cands), ok.size(), hex_list(ok));
  }

  const ElfFile& elf_;
  const binary::Pclntab& pcln_;
  std::map<std::string, std::vector<DataRef>> cache_;
};

bool is_zero(uint64_t v) { return v == 0; }

// mProfCycle (mprof.go 1.19-1.27): mProf_Malloc and mProf_Free read it with
// mProfCycle.read() (a 4-byte atomic load); mProf_Flush loads it in
// setFlushed. Other 4-byte loads there (debug.profstackdepth in mProf_Malloc
// 1.23+) are not shared by all three. 1.18: `mProf struct{cycle uint32;
// flushed bool}` under proflock; mProf_Malloc and mProf_Free load mProf.cycle
// (4 bytes at +0), mProf_Flush only the flushed byte.
Result<uint64_t> find_mprof_cycle(Resolver& r, const binary::GoVersion& v) {
  auto p = [](const DataRef& d) { return reads(d, 4); };
  std::string used;
  std::vector<Resolver::Anchor> anchors = {{"runtime.mProf_Malloc", p}, {"runtime.mProf_Free", p}};
  if (v.at_least(1, 19)) anchors.push_back({"runtime.mProf_Flush", p});
  auto c = r.intersect("runtime.mProfCycle", anchors, 2, used);
  if (!c) return c.error();
  return r.pick("runtime.mProfCycle", *c, 4, is_zero, "4-byte loads common to " + used);
}

// mbuckets (mprof.go 1.18-1.27; a plain *bucket in 1.18): stkbucket takes &mbuckets (`allnext =
// &mbuckets`, next to &bbuckets/&xbuckets) and mProf_FlushLocked loads it
// (8 bytes) to walk the list; mProf_Flush in case FlushLocked were inlined.
Result<uint64_t> find_mbuckets(Resolver& r) {
  auto any = [](const DataRef&) { return true; };
  auto p = [](const DataRef& d) { return reads(d, 8); };
  auto flush = r.refs("runtime.mProf_FlushLocked");
  if (!flush) return flush.error();
  std::string walker = *flush ? "runtime.mProf_FlushLocked" : "runtime.mProf_Flush";
  std::string used;
  auto c = r.intersect("runtime.mbuckets", {{"runtime.stkbucket", any}, {walker, p}}, 2, used);
  if (!c) return c.error();
  return r.pick("runtime.mbuckets", *c, 8, is_zero,
                "refs in stkbucket that " + walker + " loads as 8 bytes");
}

// runtime.init of 1.18-1.19 runs `MemProfileRate = defaultMemProfileRate(...)`,
// inlined as a 1-byte load of disableMemoryProfiling, then a CMOV and an
// 8-byte store to MemProfileRate (no immediate: measured with go1.19.13).
// Returns {store target, the 1-byte read's target} pairs found there.
Result<std::set<std::pair<uint64_t, uint64_t>>> init_rate_stores(Resolver& r) {
  auto refs = r.refs("runtime.init");
  if (!refs) return refs.error();
  if (!*refs) return make_error("function runtime.init is not in the pclntab");
  std::set<std::pair<uint64_t, uint64_t>> out;
  const auto& v = **refs;
  for (size_t i = 1; i < v.size(); i++) {
    const DataRef& st = v[i];
    if (st.kind != RefKind::Store || st.width != 8) continue;
    // The nearest read before it; on arm64 the store's own ADRP+ADD (an
    // AddressOf ref) lies in between (measured with go1.19.13 arm64).
    size_t j = i - 1;
    while (j > 0 && v[j].kind == RefKind::AddressOf && i - j < 3) j--;
    const DataRef& rd = v[j];
    if (reads(rd, 1) && st.insn - rd.insn <= 32) out.insert({st.target, rd.target});
  }
  return out;
}

// MemProfileRate (8-byte int): profilealloc reads it (nextSample, 1.24+ also
// c.memProfRate), allocmcache reads it (c.nextSample = nextSample()), and so
// does the sampling test: in mallocgc for 1.18-1.23, in the mallocgc* size
// class helpers from 1.24 (mallocgcSmallNoscan exists 1.24-1.27). In 1.18-1.19
// it must also be the store in runtime.init guarded by a 1-byte read.
Result<uint64_t> find_mem_profile_rate(Resolver& r, const binary::GoVersion& v) {
  auto p = [](const DataRef& d) { return reads(d, 8); };
  const std::string sampler =
      v.at_least(1, 24) ? "runtime.mallocgcSmallNoscan" : "runtime.mallocgc";
  std::string used;
  auto c =
      r.intersect("runtime.MemProfileRate",
                  {{"runtime.profilealloc", p}, {"runtime.allocmcache", p}, {sampler, p}}, 2, used);
  if (!c) return c.error();
  if (rate_set_by_init(v)) {
    auto stores = init_rate_stores(r);
    if (!stores) return make_error("runtime.MemProfileRate: {}", stores.error().message);
    AddrSet kept;
    for (const auto& [target, guard] : *stores) {
      if (c->count(target)) kept.insert(target);
    }
    return r.pick("runtime.MemProfileRate", kept, 8, is_zero,
                  "8-byte loads common to " + used +
                      " that runtime.init stores after a 1-byte read (Go 1.18-1.19)");
  }
  return r.pick(
      "runtime.MemProfileRate", *c, 8, [](uint64_t x) { return x == kDefaultMemProfileRate; },
      "8-byte loads common to " + used + " holding 524288 in the file");
}

// disableMemoryProfiling (proc.go schedinit, 1.20-1.27): `if
// disableMemoryProfiling { MemProfileRate = 0 }`: a 1-byte read (amd64 CMPB
// $0; arm64 LDRB then TBZ) right before an 8-byte store of 0 to MemProfileRate.
// 1.18-1.19: the 1-byte read before runtime.init's store (init_rate_stores).
Result<uint64_t> find_disable_memory_profiling(Resolver& r, uint64_t mem_profile_rate,
                                               const binary::GoVersion& version) {
  if (rate_set_by_init(version)) {
    auto stores = init_rate_stores(r);
    if (!stores) return make_error("runtime.disableMemoryProfiling: {}", stores.error().message);
    AddrSet c;
    for (const auto& [target, guard] : *stores) {
      if (target == mem_profile_rate) c.insert(guard);
    }
    return r.pick(
        "runtime.disableMemoryProfiling", c, 1, [](uint64_t x) { return x <= 1; },
        "the 1-byte read before runtime.init's store to MemProfileRate (Go 1.18-1.19)");
  }
  auto refs = r.refs("runtime.schedinit");
  if (!refs) return refs.error();
  if (!*refs) {
    return make_error(
        "runtime.disableMemoryProfiling: function runtime.schedinit is not in the "
        "pclntab");
  }
  AddrSet c;
  const auto& v = **refs;
  for (size_t i = 1; i < v.size(); i++) {
    const DataRef& st = v[i];
    const DataRef& rd = v[i - 1];
    if (st.kind == RefKind::Store && st.width == 8 && st.target == mem_profile_rate &&
        st.imm == 0 && reads(rd, 1) && st.insn - rd.insn <= 24) {
      c.insert(rd.target);
    }
  }
  return r.pick(
      "runtime.disableMemoryProfiling", c, 1, [](uint64_t x) { return x <= 1; },
      "the 1-byte read guarding `MemProfileRate = 0` in schedinit");
}

// allgs (proc.go 1.18-1.27): allgadd appends to the slice (8-byte refs to
// allgs, +8 len, +16 cap) and forEachG loads its pointer and length.
Result<uint64_t> find_allgs(Resolver& r) {
  auto add = r.refs("runtime.allgadd");
  auto each = r.refs("runtime.forEachG");
  if (!add) return add.error();
  if (!each) return each.error();
  if (!*add || !*each) {
    return make_error("runtime.allgs: allgadd or forEachG is not in the pclntab");
  }
  AddrSet a8, e8, c;
  for (const DataRef& d : **add) {
    if (d.width == 8) a8.insert(d.target);
  }
  for (const DataRef& d : **each) {
    if (reads(d, 8)) e8.insert(d.target);
  }
  for (uint64_t x : e8) {
    if (e8.count(x + 8) && a8.count(x) && a8.count(x + 8) && a8.count(x + 16)) c.insert(x);
  }
  return r.pick("runtime.allgs", c, 8, is_zero,
                "a slice header {ptr,len,cap} written by allgadd and read by forEachG");
}

// allglen (proc.go 1.18-1.27): forEachGRace reads allglen and allgptr
// (atomicAllG); allgadd stores both but only reads allgptr (`&allgs[0] !=
// allgptr`), never allglen.
Result<uint64_t> find_allglen(Resolver& r, uint64_t allgs) {
  auto p = [](const DataRef& d) { return reads(d, 8); };
  auto any = [](const DataRef&) { return true; };
  std::string used;
  auto c = r.intersect("runtime.allglen", {{"runtime.forEachGRace", p}, {"runtime.allgadd", any}},
                       2, used);
  if (!c) return c.error();
  auto add = r.refs("runtime.allgadd");
  if (!add) return add.error();
  AddrSet read_in_add;
  for (const DataRef& d : **add) {
    if (d.reads()) read_in_add.insert(d.target);
  }
  AddrSet kept;
  for (uint64_t x : *c) {
    if ((x < allgs || x >= allgs + 24) && !read_in_add.count(x)) kept.insert(x);
  }
  return r.pick("runtime.allglen", kept, 8, is_zero,
                "8-byte loads in forEachGRace that allgadd writes but never reads");
}

// work.goroutineLeak.pending (mgc.go 1.26-1.27, gcStart): `if
// work.goroutineLeak.pending.Load() { work.goroutineLeak.enabled = true; ...`:
// a 1-byte load (amd64 MOV; arm64 LDARB after ADRP+ADD) followed within 32
// bytes by a 1-byte store of 1 to the next byte. gcMarkDone reads `enabled`
// and `done` (`work.goroutineLeak.enabled && !work.goroutineLeak.done`).
Result<uint64_t> find_goroutine_leak_pending(Resolver& r) {
  auto start = r.refs("runtime.gcStart");
  auto done = r.refs("runtime.gcMarkDone");
  if (!start) return start.error();
  if (!done) return done.error();
  if (!*start || !*done)
    return make_error("runtime.work.goroutineLeak: gcStart or gcMarkDone is not in the pclntab");
  AddrSet c, read_in_done;
  for (const DataRef& d : **done)
    if (reads(d, 1)) read_in_done.insert(d.target);
  const auto& v = **start;
  for (size_t i = 0; i < v.size(); i++) {
    if (!reads(v[i], 1)) continue;
    for (size_t j = i + 1; j < v.size() && v[j].insn - v[i].insn <= 32; j++) {
      const DataRef& st = v[j];
      if (st.kind == RefKind::Store && st.width == 1 && st.imm == 1 &&
          st.target == v[i].target + 1 && read_in_done.count(st.target) &&
          read_in_done.count(st.target + 1))
        c.insert(v[i].target);
    }
  }
  return r.pick("runtime.work.goroutineLeak.pending", c, 1, is_zero,
                "the 1-byte load in gcStart followed by `enabled = true` on the next byte");
}

}  // namespace

Result<uint64_t> resolve_goroutine_leak_pending(const binary::ElfFile& elf,
                                                const binary::Pclntab& pclntab, int32_t pending_off,
                                                const ResolveOptions& options) {
  if (pending_off < 0) return make_error("this Go release has no GC goroutine leak detector");
  if (!options.ignore_symtab && elf.has_symtab()) {
    if (auto s = elf.symbol("runtime.work"); s && s->value) {
      const uint64_t addr = s->value + static_cast<uint64_t>(pending_off);
      if (!in_writable_data(elf, addr, 1) || (s->size && uint64_t(pending_off) >= s->size))
        return make_error("runtime.work.goroutineLeak.pending: {:#x} is not in runtime.work's data",
                          addr);
      return addr;
    }
  }
  Resolver r(elf, pclntab);
  return find_goroutine_leak_pending(r);
}

// debug.tracebackancestors (runtime1.go, an int32 of runtime.debug, 1.18-1.27):
// saveAncestors begins with `if debug.tracebackancestors <= 0 || callergp.goid
// == 0 { return nil }`, so its first 4-byte read of a global is that field
// (later ones are the write barrier flag, compared around its pointer copies;
// gcallers and mallocgc are not inlined). Its address is the field's whatever
// the layout of runtime.debug, so neither .symtab nor DWARF is needed; with
// .symtab it must lie inside runtime.debug.
Result<uint64_t> resolve_traceback_ancestors(const binary::ElfFile& elf,
                                             const binary::Pclntab& pclntab) {
  Resolver r(elf, pclntab);
  auto refs = r.refs("runtime.saveAncestors");
  if (!refs) return refs.error();
  if (!*refs) return make_error("runtime.saveAncestors is not in the pclntab");
  std::optional<uint64_t> at;
  for (const DataRef& d : **refs) {
    if (reads(d, 4) && in_writable_data(elf, d.target, 4)) {
      at = d.target;
      break;
    }
  }
  if (!at) return make_error("runtime.saveAncestors reads no 4-byte global: no tracebackancestors");
  if (auto v = initial_value(elf, *at, 4); !v || *v != 0 || *at % 4)
    return make_error("runtime.debug.tracebackancestors: {:#x} is not a zero int32 in the file",
                      *at);
  if (auto s = elf.has_symtab() ? elf.symbol("runtime.debug") : std::nullopt;
      s && s->value && s->size && (*at < s->value || *at + 4 > s->value + s->size))
    return make_error("runtime.debug.tracebackancestors: {:#x} is not inside runtime.debug", *at);
  return *at;
}

Result<uint64_t> resolve_mheap(const binary::ElfFile& elf, const binary::Pclntab& pclntab,
                               uint32_t arenas_off, const ResolveOptions& options) {
  if (!options.ignore_symtab && elf.has_symtab()) {
    if (auto s = elf.symbol("runtime.mheap_"); s && s->value) {
      if (!in_writable_data(elf, s->value, arenas_off + 8))
        return make_error("runtime.mheap_: {:#x} is not in writable data", s->value);
      return s->value;
    }
  }
  Resolver r(elf, pclntab);
  auto load8 = [&elf](const DataRef& d) {
    return reads(d, 8) && in_writable_data(elf, d.target, 8);
  };
  std::vector<Resolver::Anchor> anchors;
  for (const char* fn : {"runtime.spanOfHeap", "runtime.removespecial", "runtime.stackfree",
                         "runtime.sigpanic", "runtime.wbBufFlush1"})
    anchors.push_back({fn, load8});
  std::string used;
  auto set = r.intersect("runtime.mheap_", anchors, 3, used);
  if (!set) return set.error();
  if (set->size() != 1)
    return make_error("runtime.mheap_: {} candidate(s) of mheap_.arenas in {}: {}", set->size(),
                      used, hex_list(*set));
  const uint64_t arenas = *set->begin();
  if (arenas < arenas_off) return make_error("runtime.mheap_: {:#x} is too low", arenas);
  return arenas - arenas_off;
}

Result<RuntimeSymbols> resolve_runtime_symbols(const binary::ElfFile& elf,
                                               const binary::Pclntab& pclntab,
                                               const binary::GoVersion& version) {
  return resolve_runtime_symbols(elf, pclntab, version, ResolveOptions{});
}

Result<RuntimeSymbols> resolve_runtime_symbols(const binary::ElfFile& elf,
                                               const binary::Pclntab& pclntab,
                                               const binary::GoVersion& version,
                                               const ResolveOptions& options) {
  RuntimeSymbols out;
  auto fn = [&](std::string_view name) {
    auto f = pclntab.func_by_name(name);
    return f ? f->entry : 0;
  };
  out.fn_mprof_malloc = fn("runtime.mProf_Malloc");
  out.fn_mprof_free = fn("runtime.mProf_Free");
  out.fn_setprofilebucket = fn("runtime.setprofilebucket");
  out.fn_profilealloc = fn("runtime.profilealloc");
  out.fn_free_special = fn("runtime.freeSpecial");
  out.fn_mallocgc = fn("runtime.mallocgc");
  out.fn_mprof_flush = fn("runtime.mProf_Flush");

  const bool use_symtab = !options.ignore_symtab && elf.has_symtab();
  auto sym = [&](std::string_view name) -> uint64_t {
    if (!use_symtab) return 0;
    auto s = elf.symbol(name);
    return s ? s->value : 0;
  };
  out.mbuckets = sym("runtime.mbuckets");
  out.mem_profile_rate = sym("runtime.MemProfileRate");
  // 1.18: mProf.cycle, the first field of runtime.mProf.
  out.mprof_cycle = sym(version.at_least(1, 19) ? "runtime.mProfCycle" : "runtime.mProf");
  out.disable_memory_profiling = sym("runtime.disableMemoryProfiling");
  out.allgs = sym("runtime.allgs");
  out.allglen = sym("runtime.allglen");
  out.globals_from_symtab =
      out.mbuckets && out.mem_profile_rate && out.mprof_cycle && out.disable_memory_profiling;

  // Whatever .symtab did not give is recovered from the code.
  Resolver r(elf, pclntab);
  auto need = [](uint64_t& slot, Result<uint64_t> v) -> Result<void> {
    if (!v) return v.error();
    slot = *v;
    return ok_result();
  };
  if (!out.mprof_cycle) {
    if (auto e = need(out.mprof_cycle, find_mprof_cycle(r, version)); !e) return e.error();
  }
  if (!out.mbuckets) {
    if (auto e = need(out.mbuckets, find_mbuckets(r)); !e) return e.error();
  }
  if (!out.mem_profile_rate) {
    if (auto e = need(out.mem_profile_rate, find_mem_profile_rate(r, version)); !e) {
      return e.error();
    }
  }
  if (!out.disable_memory_profiling) {
    auto v = find_disable_memory_profiling(r, out.mem_profile_rate, version);
    if (auto e = need(out.disable_memory_profiling, std::move(v)); !e) return e.error();
  }
  // Best effort: goroutine work can do without them, so they only leave a note.
  if (!out.allgs) {
    auto v = find_allgs(r);
    if (v) {
      out.allgs = *v;
    } else {
      out.notes.push_back(v.error().message);
    }
  }
  if (!out.allglen && out.allgs) {
    auto v = find_allglen(r, out.allgs);
    if (v) {
      out.allglen = *v;
    } else {
      out.notes.push_back(v.error().message);
    }
  } else if (!out.allglen) {
    out.notes.emplace_back("runtime.allglen: not searched because runtime.allgs was not found");
  }
  return out;
}

}  // namespace leakhound::goruntime
