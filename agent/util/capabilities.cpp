#include "util/capabilities.h"

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
      "CAP_SYS_PTRACE");
}

}  // namespace leakhound
