#include "probes/bpf_link.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <system_error>
#include <thread>
#include <vector>

namespace leakhound::probes {

Result<Link> attach_uprobe(bpf_program* prog, int pid, const std::string& binary, uint64_t offset,
                           std::string_view what, bool retprobe) {
  LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = retprobe);
  bpf_link* l = bpf_program__attach_uprobe_opts(prog, pid, binary.c_str(), offset, &opts);
  if (!l) {
    int err = errno;
    // Kernels with the CVE-2025-38466 fix (6.16, and stable kernels since
    // July 2025) create uprobes for CAP_SYS_ADMIN only, CAP_PERFMON no more.
    const char* hint = err == EPERM || err == EACCES
                           ? ": this kernel may want CAP_SYS_ADMIN to create uprobes (run as root)"
                           : "";
    return errno_error(err, "cannot attach a {} to {} in {} (offset {:#x}){}",
                       retprobe ? "uretprobe" : "uprobe", what, binary, offset, hint);
  }
  return Link(l);
}

void destroy_links(std::vector<Link>& links) {
  std::vector<std::thread> threads;
  threads.reserve(links.size());
  for (Link& l : links) {
    try {
      threads.emplace_back([link = std::move(l)]() mutable { link.reset(); });
    } catch (const std::system_error&) {
      l.reset();  // no thread to spare: detach this one here
    }
  }
  for (std::thread& t : threads) t.join();
  links.clear();
}

}  // namespace leakhound::probes
