// Logging goes to stderr through spdlog; the report goes to stdout.
#pragma once

#include <spdlog/spdlog.h>

namespace leakhound {

// 0: warnings and errors; 1 (-v): debug; 2 (-vv): trace, incl. libbpf's own log.
void init_logging(int verbosity);

}  // namespace leakhound
