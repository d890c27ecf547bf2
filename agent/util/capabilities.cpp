#include "util/capabilities.h"

#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace leakhound {
namespace {

constexpr int kCapSysPtrace = 19, kCapSysAdmin = 21, kCapPerfmon = 38, kCapBpf = 39;

uint64_t effective_caps() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  }
  return 0;
}

}  // namespace

Result<void> check_attach_privileges() {
  uint64_t caps = effective_caps();
  auto has = [&](int c) { return (caps >> c) & 1; };
  bool bpf = has(kCapSysAdmin) || (has(kCapBpf) && has(kCapPerfmon));
  if (bpf && has(kCapSysPtrace)) return {};
  return make_error(
      "insufficient privileges: run leakhound as root (sudo), or grant CAP_BPF, CAP_PERFMON and "
      "CAP_SYS_PTRACE (and CAP_SYS_ADMIN on kernels that want it for uprobes: 6.16+, stable "
      "kernels since July 2025)");
}

Result<void> check_kernel_support(const std::string& sys) {
  const std::string btf = sys + "/kernel/btf/vmlinux";
  if (::access(btf.c_str(), R_OK) != 0) {
    const int err = errno;
    if (err != ENOENT) return errno_error(err, "cannot read {}", btf);
    return make_error(
        "this kernel has no BTF ({} is missing): leakhound needs a kernel built with "
        "CONFIG_DEBUG_INFO_BTF (Linux 5.8 or newer; most distributions' kernels are)",
        btf);
  }
  // libbpf opens each uprobe with perf_event_open on the PMU whose type it
  // reads here; where sysfs does not show it, it falls back to tracefs (at
  // either mount point), which a kernel without uprobe events lacks as well.
  const std::string pmu = sys + "/bus/event_source/devices/uprobe/type";
  for (const std::string& p :
       {pmu, sys + "/kernel/tracing/uprobe_events", sys + "/kernel/debug/tracing/uprobe_events"}) {
    if (::access(p.c_str(), R_OK) == 0) return {};
  }
  return make_error(
      "this kernel has no uprobe support ({} is missing): leakhound needs a kernel built with "
      "CONFIG_UPROBE_EVENTS (most distributions' kernels are)",
      pmu);
}

}  // namespace leakhound
