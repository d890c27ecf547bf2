#include "probes/go_heap_probes.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>

#include "go_heap.skel.h"
#include "probes/libbpf_log.h"
#include "probes/percpu_counters.h"
#include "util/log.h"

namespace leakhound::probes {

void GoHeapObject::SkelDeleter::operator()(go_heap* s) const { go_heap__destroy(s); }

GoHeapObject::~GoHeapObject() = default;

Result<std::shared_ptr<GoHeapObject>> GoHeapObject::load(bool sample_events, uint32_t max_buckets,
                                                         uint32_t max_processes) {
  install_libbpf_logger();
  std::shared_ptr<GoHeapObject> o(new GoHeapObject());
  o->sample_events_ = sample_events;
  o->max_buckets_ = max_buckets;
  o->skel_.reset(go_heap__open());
  if (!o->skel_) return errno_error(errno, "cannot open the go_heap BPF object");
  // Without --heap-events no program writes the bucket table: one entry
  // instead of 6 MiB of preallocated ones. The GC map is written by user space
  // only (an entry a watched PID) and looked up by the probes, so its entries
  // are allocated as PIDs are added instead of 8,192 up front (705 KiB); the
  // probes' lookups are the same either way.
  if (bpf_map__set_max_entries(o->skel_->maps.bucket_counts, sample_events ? max_buckets : 1) ||
      bpf_map__set_max_entries(o->skel_->maps.gc_state, max_processes) ||
      bpf_map__set_map_flags(o->skel_->maps.gc_state, BPF_F_NO_PREALLOC))
    return errno_error(errno, "cannot size the go_heap maps");
  if (!sample_events) {
    bpf_program__set_autoload(o->skel_->progs.go_setprofilebucket, false);
    bpf_program__set_autoload(o->skel_->progs.go_mprof_free, false);
  }
  if (int err = go_heap__load(o->skel_.get()); err) {
    return errno_error(-err,
                       "cannot load the go_heap BPF programs (are you root, or do you have "
                       "CAP_BPF and CAP_PERFMON?)");
  }
  return o;
}

Result<std::vector<Link>> GoHeapObject::attach(const GoHeapConfig& cfg) const {
  if (cfg.mprof_flush_offset == 0 ||
      (sample_events_ && (cfg.setprofilebucket_offset == 0 || cfg.mprof_free_offset == 0)))
    return make_error("internal: go_heap probes need their probe offsets");
  struct Probe {
    bpf_program* prog;
    uint64_t offset;
    const char* what;
    bool wanted;
  };
  const Probe table[] = {
      {skel_->progs.go_mprof_flush, cfg.mprof_flush_offset, "runtime.mProf_Flush", true},
      {skel_->progs.go_setprofilebucket, cfg.setprofilebucket_offset, "runtime.setprofilebucket",
       sample_events_},
      {skel_->progs.go_mprof_free, cfg.mprof_free_offset, "runtime.mProf_Free", sample_events_},
  };
  std::vector<Link> links;
  for (const Probe& pr : table) {
    if (!pr.wanted) continue;
    auto l = attach_uprobe(pr.prog, cfg.pid, cfg.binary, pr.offset, pr.what);
    if (!l) {
      destroy_links(links);
      return l.error();
    }
    links.push_back(std::move(*l));
  }
  spdlog::debug("go_heap: {} uprobes attached to {}", links.size(), cfg.binary);
  return links;
}

GoHeapProbes::GoHeapProbes(GoHeapProbes&&) noexcept = default;
GoHeapProbes& GoHeapProbes::operator=(GoHeapProbes&&) noexcept = default;
GoHeapProbes::~GoHeapProbes() {
  // Detach before the programs and maps go away.
  if (reaper_ && !links_.empty())
    reaper_->reap(std::move(links_), std::move(obj_));
  else
    destroy_links(links_);
}

Result<GoHeapProbes> GoHeapProbes::attach(const GoHeapConfig& cfg) {
  auto obj = GoHeapObject::load(cfg.sample_events, cfg.max_buckets, 16);
  if (!obj) return obj.error();
  return attach(cfg, std::move(*obj));
}

Result<GoHeapProbes> GoHeapProbes::attach(const GoHeapConfig& cfg,
                                          std::shared_ptr<GoHeapObject> obj, LinkReaper* reaper) {
  if (cfg.sample_events != obj->sample_events())
    return make_error("internal: go_heap object loaded without the event probes");
  GoHeapProbes p;
  p.obj_ = std::move(obj);
  if (cfg.pid > 0) {
    if (auto w = p.watch(static_cast<uint32_t>(cfg.pid)); !w) return w.error();
  }
  auto links = p.obj_->attach(cfg);
  if (!links) {
    if (cfg.pid > 0) p.forget(static_cast<uint32_t>(cfg.pid));
    return links.error();
  }
  p.links_ = std::move(*links);
  p.reaper_ = reaper;
  return p;
}

Result<void> GoHeapObject::watch(uint32_t tgid) const {
  lh_gc_state zero{};
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.gc_state), &tgid, &zero, BPF_ANY))
    return errno_error(errno, "cannot watch PID {} (GC map full?)", tgid);
  return {};
}

void GoHeapObject::forget(uint32_t tgid) const {
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

Result<GcState> GoHeapObject::read_gc(uint32_t tgid) const {
  lh_gc_state st{};
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.gc_state), &tgid, &st)) {
    if (errno == ENOENT) return GcState{};  // no GC since attach
    return errno_error(errno, "cannot read the GC map");
  }
  return GcState{st.cycles, st.last_ns, st.prev_ns};
}

Result<std::unordered_map<uint64_t, BucketCounts>> GoHeapObject::read_counts(uint32_t tgid) const {
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

uint64_t GoHeapObject::dropped() const {
  return sum_percpu_counters(bpf_map__fd(skel_->maps.go_heap_counters), LH_GO_HEAP_COUNTER_MAX);
}

}  // namespace leakhound::probes
