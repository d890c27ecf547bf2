// Folded stacks ("root;caller;leaf value" per line) for flame-graph tools
// (flamegraph.pl, speedscope, inferno): Go heap in-use bytes per stack, and
// live goroutines per blocked stack.
#pragma once

#include <string>

#include "report/model.h"
#include "util/result.h"

namespace leakhound::report {

// In-use bytes at the end of the window, one line per heap stack.
std::string folded_heap(const Report& r);
// Live goroutines, one line per creation site: its blocked stack, with the
// creation site as the root frame ("created by main.spawn") so sites that
// block in the same place stay apart.
std::string folded_goroutines(const Report& r);

// C allocations outstanding at the end of the window, bytes per stack.
std::string folded_native(const Report& r);

// Writes text to path (created or truncated); a clear error on failure
// (e.g. "cannot write /x/heap.folded: No space left on device").
Result<void> write_text_file(const std::string& path, const std::string& text);

}  // namespace leakhound::report
