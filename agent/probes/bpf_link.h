// Uprobe links: the move-only owner of a bpf_link, attaching one, and
// detaching many at once.
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

}  // namespace leakhound::probes
