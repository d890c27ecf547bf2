// Loader for bpf/goroutines.bpf.c: goroutine creation (every RET of
// runtime.newproc1) and exit (runtime.gdestroy, or goexit0 in Go 1.21),
// counted per creation site in a BPF map.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "leakhound/abi/goroutines.h"
#include "probes/bpf_link.h"
#include "util/result.h"

struct goroutines;  // the generated skeleton

namespace leakhound::probes {

static_assert(sizeof(lh_g_config) == 8);
static_assert(sizeof(lh_site_key) == 24);
static_assert(sizeof(lh_site_counts) == 16);

struct GoroutineProbeConfig {
  std::string binary;  // path the uprobes attach to, e.g. /proc/PID/exe
  int pid = -1;
  std::vector<uint64_t> newproc1_ret_offsets;  // file offsets of newproc1's RETs
  uint64_t exit_offset = 0;                    // file offset of gdestroy (goexit0 to 1.21)
  uint32_t gopc_off = 0, startpc_off = 0;      // in runtime.g, for this Go version
  uint32_t max_sites = 16384;
};

struct SiteCounts {
  uint64_t created = 0, exited = 0;
};
using SiteKey = std::pair<uint64_t, uint64_t>;  // (gopc, startpc), runtime addresses

class GoroutineProbes {
 public:
  static Result<GoroutineProbes> attach(const GoroutineProbeConfig& cfg);

  GoroutineProbes(GoroutineProbes&&) noexcept;
  GoroutineProbes& operator=(GoroutineProbes&&) noexcept;
  ~GoroutineProbes();

  // Creations and exits per site of process tgid since attach.
  Result<std::map<SiteKey, SiteCounts>> read_sites(uint32_t tgid) const;
  uint64_t dropped() const;  // events lost (site map full, g unreadable)
  size_t probe_count() const { return links_.size(); }

 private:
  GoroutineProbes() = default;
  struct SkelDeleter {
    void operator()(goroutines* s) const;
  };
  std::unique_ptr<goroutines, SkelDeleter> skel_;
  std::vector<Link> links_;  // destroyed before the skeleton (declared after)
};

}  // namespace leakhound::probes
