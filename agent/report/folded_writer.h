// Folded stacks ("root;caller;leaf value" per line) for flame-graph tools
// (flamegraph.pl, speedscope, inferno): Go heap in-use bytes per stack, and
// live goroutines per blocked stack.
#pragma once

#include <string>
#include <vector>

#include "report/model.h"
#include "util/result.h"

namespace leakhound::report {

// One stack of a flame graph and its weight, root first. The folded files and
// the HTML report's flame graphs are drawn from the same stacks.
struct WeightedStack {
  std::vector<std::string> frames;  // function names, root first
  double value = 0;
};
std::vector<WeightedStack> heap_stacks(const Report& r);       // in-use bytes
std::vector<WeightedStack> native_stacks(const Report& r);     // outstanding bytes
std::vector<WeightedStack> goroutine_stacks(const Report& r);  // live goroutines

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
