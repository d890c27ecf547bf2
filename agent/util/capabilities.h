#pragma once

#include <string>

#include "util/result.h"

namespace leakhound {

// Checks that this process may load BPF programs, attach uprobes and read
// other processes' memory: root, or CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN) and
// CAP_SYS_PTRACE. The error tells the user what to do.
Result<void> check_attach_privileges();

}  // namespace leakhound
