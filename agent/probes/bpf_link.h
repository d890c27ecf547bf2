// Move-only owners of libbpf objects.
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace leakhound::probes {

struct LinkDeleter {
  void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
using Link = std::unique_ptr<bpf_link, LinkDeleter>;

// A uprobe at a file offset of binary, for one process (pid) or every process
// running the binary (pid -1); `what` names the probed spot in errors.
// retprobe: a uretprobe on the function at offset (C code only: it corrupts Go
// stacks).
Result<Link> attach_uprobe(bpf_program* prog, int pid, const std::string& binary, uint64_t offset,
                           std::string_view what, bool retprobe = false);

// Detaches every link at once: each uprobe's removal waits for an RCU grace
// period (~0.1 s here), so one after the other 20 probes take 2 s.
void destroy_links(std::vector<Link>& links);

// Per-CPU array of u64 counters: each of the first `slots` keys summed over CPUs.
std::vector<uint64_t> read_percpu_counters(int map_fd, uint32_t slots);

// Sum over CPUs and the first `slots` keys of a per-CPU array of u64 counters.
uint64_t sum_percpu_counters(int map_fd, uint32_t slots);

// Routes libbpf's own log through spdlog (debug level; shown with -v).
void install_libbpf_logger();

}  // namespace leakhound::probes
