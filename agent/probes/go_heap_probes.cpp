#include "probes/go_heap_probes.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>

#include "go_heap.skel.h"
#include "util/log.h"

namespace leakhound::probes {

void GoHeapProbes::SkelDeleter::operator()(go_heap* s) const { go_heap__destroy(s); }

GoHeapProbes::GoHeapProbes(GoHeapProbes&&) noexcept = default;
GoHeapProbes& GoHeapProbes::operator=(GoHeapProbes&&) noexcept = default;
GoHeapProbes::~GoHeapProbes() {
  destroy_links(links_);  // detach before the programs and maps go away
}

Result<GoHeapProbes> GoHeapProbes::attach(const GoHeapConfig& cfg) {
  install_libbpf_logger();
  if (cfg.mprof_flush_offset == 0 ||
      (cfg.sample_events && (cfg.setprofilebucket_offset == 0 || cfg.mprof_free_offset == 0)))
    return make_error("internal: go_heap probes need their probe offsets");

  GoHeapProbes p;
  p.sample_events_ = cfg.sample_events;
  p.skel_.reset(go_heap__open());
  if (!p.skel_) return errno_error(errno, "cannot open the go_heap BPF object");
  if (bpf_map__set_max_entries(p.skel_->maps.bucket_counts, cfg.max_buckets))
    return errno_error(errno, "cannot size the bucket map");
  if (!cfg.sample_events) {
    bpf_program__set_autoload(p.skel_->progs.go_setprofilebucket, false);
    bpf_program__set_autoload(p.skel_->progs.go_mprof_free, false);
  }
  if (int err = go_heap__load(p.skel_.get()); err) {
    return errno_error(-err,
                       "cannot load the go_heap BPF programs (are you root, or do you have "
                       "CAP_BPF and CAP_PERFMON?)");
  }
  if (cfg.pid > 0) {
    if (auto w = p.watch(static_cast<uint32_t>(cfg.pid)); !w) return w.error();
  }
  struct Probe {
    bpf_program* prog;
    uint64_t offset;
    const char* what;
    bool wanted;
  };
  const Probe table[] = {
      {p.skel_->progs.go_mprof_flush, cfg.mprof_flush_offset, "runtime.mProf_Flush", true},
      {p.skel_->progs.go_setprofilebucket, cfg.setprofilebucket_offset, "runtime.setprofilebucket",
       cfg.sample_events},
      {p.skel_->progs.go_mprof_free, cfg.mprof_free_offset, "runtime.mProf_Free",
       cfg.sample_events},
  };
  for (const Probe& pr : table) {
    if (!pr.wanted) continue;
    auto l = attach_uprobe(pr.prog, cfg.pid, cfg.binary, pr.offset, pr.what);
    if (!l) return l.error();
    p.links_.push_back(std::move(*l));
  }
  spdlog::debug("go_heap: {} uprobes attached to {}", p.links_.size(), cfg.binary);
  return p;
}

Result<void> GoHeapProbes::watch(uint32_t tgid) const {
  lh_gc_state zero{};
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.gc_state), &tgid, &zero, BPF_ANY))
    return errno_error(errno, "cannot watch PID {} (GC map full?)", tgid);
  return {};
}

void GoHeapProbes::forget(uint32_t tgid) const {
  bpf_map_delete_elem(bpf_map__fd(skel_->maps.gc_state), &tgid);
  if (!sample_events_) return;
  const int fd = bpf_map__fd(skel_->maps.bucket_counts);
  std::vector<lh_bucket_key> mine;
  lh_bucket_key key{}, next{};
  const lh_bucket_key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (next.tgid == tgid) mine.push_back(next);
    key = next;
    prev = &key;
  }
  for (const lh_bucket_key& k : mine) bpf_map_delete_elem(fd, &k);
}

Result<GcState> GoHeapProbes::read_gc(uint32_t tgid) const {
  lh_gc_state st{};
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.gc_state), &tgid, &st)) {
    if (errno == ENOENT) return GcState{};  // no GC since attach
    return errno_error(errno, "cannot read the GC map");
  }
  return GcState{st.cycles, st.last_ns};
}

Result<std::unordered_map<uint64_t, BucketCounts>> GoHeapProbes::read_counts(uint32_t tgid) const {
  std::unordered_map<uint64_t, BucketCounts> out;
  int fd = bpf_map__fd(skel_->maps.bucket_counts);
  // Batched lookups: one syscall per chunk instead of two per entry.
  constexpr uint32_t kChunk = 1024;
  std::vector<lh_bucket_key> keys(kChunk);
  std::vector<lh_bucket_counts> vals(kChunk);
  lh_bucket_key out_batch{};
  void* in_batch = nullptr;
  for (;;) {
    uint32_t count = kChunk;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int err =
        bpf_map_lookup_batch(fd, in_batch, &out_batch, keys.data(), vals.data(), &count, &opts);
    int e = err ? errno : 0;
    for (uint32_t i = 0; i < count; i++) {
      if (keys[i].tgid != tgid) continue;
      out[keys[i].bucket] = BucketCounts{vals[i].allocs, vals[i].frees};
    }
    if (err) {
      if (e == ENOENT) break;  // no more entries
      return errno_error(e, "cannot read the bucket map");
    }
    in_batch = &out_batch;
  }
  return out;
}

uint64_t GoHeapProbes::dropped() const {
  return sum_percpu_counters(bpf_map__fd(skel_->maps.drops), LH_DROP_MAX);
}

}  // namespace leakhound::probes
