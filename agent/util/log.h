// Logging goes to stderr through spdlog; the report goes to stdout.
#pragma once

#include <spdlog/spdlog.h>

namespace leakhound {

// 0: warnings and errors; 1 (-v): debug; 2 (-vv): trace, incl. libbpf's own log.
void init_logging(int verbosity);

// Runs an undo from a destructor (the sampler's rate, a leak check request,
// tracebackancestors): its error is logged, and nothing escapes, since a
// destructor that throws ends the program with the write not undone.
template <typename Undo>
void undo_in_destructor(Undo&& undo) noexcept {
  try {
    if (auto r = undo(); !r) spdlog::error("{}", r.error().message);
  } catch (...) {  // NOLINT(bugprone-empty-catch): no channel is left to report on
  }
}

}  // namespace leakhound
