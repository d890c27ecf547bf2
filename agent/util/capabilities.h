#pragma once

#include <string>

#include "util/result.h"

namespace leakhound {

// Checks that this process may load BPF programs, attach uprobes and read
// other processes' memory: root, or CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN) and
// CAP_SYS_PTRACE. The error tells the user what to do.
Result<void> check_attach_privileges();

// Checks, before anything is done to a target, that the kernel can run
// leakhound's probes: BTF (CO-RE relocations, tp_btf programs and
// bpf_get_current_task_btf need the kernel's own type information) and uprobe
// events (libbpf creates each uprobe with perf_event_open on the "uprobe" PMU,
// or through tracefs' uprobe_events where that PMU is not exposed). Without
// them libbpf fails mid-attach with errors that do not say why. sys: where
// sysfs is mounted (tests point it at a fake tree).
Result<void> check_kernel_support(const std::string& sys = "/sys");

}  // namespace leakhound
