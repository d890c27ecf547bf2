#include "probes/goroutine_probes.h"

#include <bpf/bpf.h>

#include <cerrno>

#include "goroutines.skel.h"
#include "probes/libbpf_log.h"
#include "probes/percpu_counters.h"
#include "util/log.h"

namespace leakhound::probes {

void GoroutineProbes::SkelDeleter::operator()(goroutines* s) const { goroutines__destroy(s); }

GoroutineProbes::GoroutineProbes(GoroutineProbes&&) noexcept = default;
GoroutineProbes& GoroutineProbes::operator=(GoroutineProbes&&) noexcept = default;
GoroutineProbes::~GoroutineProbes() {
  destroy_links(links_);  // detach before the programs and maps go away
}

Result<GoroutineProbes> GoroutineProbes::attach(const GoroutineProbeConfig& cfg) {
  install_libbpf_logger();
  if (cfg.newproc1_ret_offsets.empty() || cfg.exit_offset == 0 || cfg.gopc_off == 0 ||
      cfg.startpc_off == 0)
    return make_error("internal: goroutine probes need their offsets");

  GoroutineProbes p;
  p.skel_.reset(goroutines__open());
  if (!p.skel_) return errno_error(errno, "cannot open the goroutines BPF object");
  if (bpf_map__set_max_entries(p.skel_->maps.site_counts, cfg.max_sites))
    return errno_error(errno, "cannot size the goroutine site map");
  if (int err = goroutines__load(p.skel_.get()); err) {
    return errno_error(-err,
                       "cannot load the goroutines BPF programs (are you root, or do you have "
                       "CAP_BPF and CAP_PERFMON?)");
  }
  // The process's g layout first, so no event of it is missed once probes fire.
  if (cfg.pid > 0) {
    uint32_t tgid = static_cast<uint32_t>(cfg.pid);
    lh_g_config gc{cfg.gopc_off, cfg.startpc_off};
    if (bpf_map_update_elem(bpf_map__fd(p.skel_->maps.g_config), &tgid, &gc, BPF_ANY))
      return errno_error(errno, "cannot configure the goroutine probes");
  }
  for (uint64_t off : cfg.newproc1_ret_offsets) {
    auto l = attach_uprobe(p.skel_->progs.go_newproc1_ret, cfg.pid, cfg.binary, off,
                           "a return of runtime.newproc1");
    if (!l) return l.error();
    p.links_.push_back(std::move(*l));
  }
  auto l = attach_uprobe(p.skel_->progs.go_gdestroy, cfg.pid, cfg.binary, cfg.exit_offset,
                         "runtime.gdestroy");
  if (!l) return l.error();
  p.links_.push_back(std::move(*l));
  spdlog::debug("goroutines: {} uprobes attached to {}", p.links_.size(), cfg.binary);
  return p;
}

Result<std::map<SiteKey, SiteCounts>> GoroutineProbes::read_sites(uint32_t tgid) const {
  std::map<SiteKey, SiteCounts> out;
  int fd = bpf_map__fd(skel_->maps.site_counts);
  lh_site_key key{}, next{};
  const void* prev = nullptr;
  // Sites are few (one per go statement): plain iteration is enough.
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    if (key.tgid != tgid) continue;
    lh_site_counts c{};
    if (bpf_map_lookup_elem(fd, &key, &c)) continue;  // deleted meanwhile
    out[{key.gopc, key.startpc}] = SiteCounts{c.created, c.exited};
  }
  if (errno != ENOENT && errno != 0)
    return errno_error(errno, "cannot read the goroutine site map");
  return out;
}

uint64_t GoroutineProbes::dropped() const {
  return sum_percpu_counters(bpf_map__fd(skel_->maps.goroutines_counters),
                             LH_GOROUTINES_COUNTER_MAX);
}

}  // namespace leakhound::probes
