#include "probes/native_probes.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <map>
#include <set>

#include "native.skel.h"
#include "probes/libbpf_log.h"
#include "probes/percpu_counters.h"
#include "util/clock.h"
#include "util/log.h"

namespace leakhound::probes {
namespace {

struct ProbeSpec {
  const char* name;
  bpf_program* (*entry)(native*);
  bool returns;  // gets the uretprobe that records the result
};

const std::vector<ProbeSpec>& specs() {
  static const std::vector<ProbeSpec> s = {
      {"malloc", [](native* k) { return k->progs.malloc_enter; }, true},
      {"calloc", [](native* k) { return k->progs.calloc_enter; }, true},
      {"realloc", [](native* k) { return k->progs.realloc_enter; }, true},
      {"reallocarray", [](native* k) { return k->progs.reallocarray_enter; }, true},
      {"posix_memalign", [](native* k) { return k->progs.posix_memalign_enter; }, true},
      {"aligned_alloc", [](native* k) { return k->progs.memalign_enter; }, true},
      {"memalign", [](native* k) { return k->progs.memalign_enter; }, true},
      {"valloc", [](native* k) { return k->progs.malloc_enter; }, true},
      {"pvalloc", [](native* k) { return k->progs.malloc_enter; }, true},
      {"mmap", [](native* k) { return k->progs.mmap_enter; }, true},
      {"mmap64", [](native* k) { return k->progs.mmap_enter; }, true},
      {"free", [](native* k) { return k->progs.free_enter; }, false},
      {"munmap", [](native* k) { return k->progs.munmap_enter; }, false},
  };
  return s;
}

}  // namespace

void NativeProbes::SkelDeleter::operator()(native* s) const { native__destroy(s); }

NativeProbes::NativeProbes(NativeProbes&&) noexcept = default;
NativeProbes& NativeProbes::operator=(NativeProbes&&) noexcept = default;
NativeProbes::~NativeProbes() {
  destroy_links(links_);  // detach before the programs and maps go away
}

const std::vector<std::string>& NativeProbes::function_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& s : specs()) n.emplace_back(s.name);
    return n;
  }();
  return names;
}

Result<NativeProbes> NativeProbes::attach(const NativeProbeConfig& cfg) {
  install_libbpf_logger();
  std::map<std::string, uint64_t> offsets;
  for (const auto& f : cfg.functions) offsets[f.name] = f.offset;
  if (!offsets.count("malloc") || !offsets.count("free"))
    return make_error("internal: native probes need at least malloc and free in {}", cfg.binary);

  NativeProbes p;
  p.skel_.reset(native__open());
  if (!p.skel_) return errno_error(errno, "cannot open the native BPF object");
  auto& maps = p.skel_->maps;
  if (bpf_map__set_max_entries(maps.outstanding, cfg.max_allocs) ||
      bpf_map__set_max_entries(maps.c_stacks, cfg.max_stacks) ||
      bpf_map__set_max_entries(maps.stack_totals, cfg.max_stacks) ||
      bpf_map__set_max_entries(maps.go_stacks, cfg.max_go_stacks))
    return errno_error(errno, "cannot size the native allocation maps");
  if (int err = native__load(p.skel_.get()); err) {
    return errno_error(-err,
                       "cannot load the native BPF programs (are you root, or do you have "
                       "CAP_BPF and CAP_PERFMON?)");
  }
  // The process's configuration first: the programs ignore unconfigured processes.
  if (cfg.pid > 0) {
    uint32_t tgid = static_cast<uint32_t>(cfg.pid);
    if (bpf_map_update_elem(bpf_map__fd(maps.native_config), &tgid, &cfg.process, BPF_ANY))
      return errno_error(errno, "cannot configure the native probes");
  }
  // One probe per distinct entry (glibc aliases: mmap64 = mmap, aligned_alloc = memalign).
  // Return probes first: an entry seen without its return would leave a pending call.
  std::set<uint64_t> done;
  for (bool ret : {true, false}) {
    done.clear();
    if (!ret) p.entries_.first = unix_us();
    for (const auto& s : specs()) {
      auto it = offsets.find(s.name);
      if (it == offsets.end() || !done.insert(it->second).second) continue;
      if (ret && !s.returns) continue;
      auto prog = ret ? p.skel_->progs.alloc_return : s.entry(p.skel_.get());
      auto l = attach_uprobe(prog, cfg.pid, cfg.binary, it->second, s.name, ret);
      if (!l) return l.error();
      p.links_.push_back(std::move(*l));
    }
  }
  p.entries_.last = unix_us();
  p.probes_ = p.links_.size();
  spdlog::debug("native: {} probes attached to {}", p.links_.size(), cfg.binary);
  return p;
}

void NativeProbes::detach() { destroy_links(links_); }

namespace {

// Every entry of a hash map whose keys start with a tgid, for one process,
// read in batches; `add(key, value)` for each of that process.
template <typename K, typename V, typename F>
Result<void> read_process_entries(int fd, uint32_t tgid, const char* what, F add) {
  constexpr uint32_t kChunk = 8192;
  std::vector<K> keys(kChunk);
  std::vector<V> vals(kChunk);
  K in{}, next{};
  bool first = true;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  while (true) {
    uint32_t n = kChunk;
    int err =
        bpf_map_lookup_batch(fd, first ? nullptr : &in, &next, keys.data(), vals.data(), &n, &opts);
    int e = err ? errno : 0;
    for (uint32_t i = 0; i < n; i++)
      if (keys[i].tgid == tgid) add(keys[i], vals[i]);
    if (err) {
      if (e == ENOENT) return {};  // the end
      return errno_error(e, "cannot read the native {}", what);
    }
    in = next;
    first = false;
  }
}

}  // namespace

Result<std::vector<OutstandingAlloc>> NativeProbes::read_outstanding(uint32_t tgid) const {
  std::vector<OutstandingAlloc> out;
  auto r = read_process_entries<lh_alloc_key, lh_alloc>(
      bpf_map__fd(skel_->maps.outstanding), tgid, "allocation table",
      [&](const lh_alloc_key& k, const lh_alloc& v) {
        out.push_back({k.addr, v});
      });
  if (!r) return r.error();
  return out;
}

Result<std::vector<StackTotal>> NativeProbes::read_totals(uint32_t tgid) const {
  std::vector<StackTotal> out;
  auto r = read_process_entries<lh_native_stack_key, lh_native_stack_total>(
      bpf_map__fd(skel_->maps.stack_totals), tgid, "per-stack totals",
      [&](const lh_native_stack_key& k, const lh_native_stack_total& v) {
        out.push_back({k.c_stack, k.go_stack, v});
      });
  if (!r) return r.error();
  return out;
}

std::vector<uint64_t> NativeProbes::c_stack(uint64_t key) const {
  lh_c_stack s{};
  if (key == 0 || bpf_map_lookup_elem(bpf_map__fd(skel_->maps.c_stacks), &key, &s)) return {};
  const size_t n = std::min<size_t>(s.nr, LH_NATIVE_C_FRAMES);
  return {s.pcs, s.pcs + n};
}

std::vector<uint64_t> NativeProbes::go_stack(uint64_t key) const {
  lh_go_stack s{};
  if (!key || bpf_map_lookup_elem(bpf_map__fd(skel_->maps.go_stacks), &key, &s)) return {};
  uint32_t n = std::min<uint32_t>(s.nr, LH_NATIVE_GO_FRAMES);
  return std::vector<uint64_t>(s.pcs, s.pcs + n);
}

std::vector<uint64_t> NativeProbes::counters() const {
  return read_percpu_counters(bpf_map__fd(skel_->maps.native_counters), LH_NATIVE_COUNTER_MAX);
}

}  // namespace leakhound::probes
