#include "probes/bpf_link.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "util/log.h"

namespace leakhound::probes {
namespace {

int libbpf_log(enum libbpf_print_level level, const char* fmt, va_list args) {
  char buf[1024];
  int n = std::vsnprintf(buf, sizeof buf, fmt, args);
  std::string_view msg(buf, n > 0 ? std::min<size_t>(n, sizeof buf - 1) : 0);
  while (!msg.empty() && msg.back() == '\n') msg.remove_suffix(1);
  if (level == LIBBPF_DEBUG)
    spdlog::trace("libbpf: {}", msg);
  else
    spdlog::debug("libbpf: {}", msg);
  return n;
}

}  // namespace

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

std::vector<uint64_t> read_percpu_counters(int map_fd, uint32_t slots) {
  std::vector<uint64_t> out(slots, 0);
  long ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return out;
  std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpu));
  for (uint32_t key = 0; key < slots; key++) {
    if (bpf_map_lookup_elem(map_fd, &key, per_cpu.data())) continue;
    for (uint64_t v : per_cpu) out[key] += v;
  }
  return out;
}

uint64_t sum_percpu_counters(int map_fd, uint32_t slots) {
  uint64_t total = 0;
  for (uint64_t v : read_percpu_counters(map_fd, slots)) total += v;
  return total;
}

void install_libbpf_logger() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(libbpf_log); });
}

}  // namespace leakhound::probes
