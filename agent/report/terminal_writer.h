// The human report `leakhound attach` prints: header, then heap findings
// ranked as sort_findings orders them, each with its stack leaf first.
#pragma once

#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

#include "report/model.h"

namespace leakhound::report {

struct TerminalOptions {
  bool color = false;        // ANSI colors (callers enable it for a TTY)
  size_t max_findings = 10;  // findings listed; the rest are counted
  size_t max_frames = 8;     // non-runtime frames per stack; the rest are counted
  bool show_stable = false;  // list stable findings too
};

void write_terminal(std::ostream& out, const Report& r, const TerminalOptions& opt);

// One display line per stack entry, leaf first: runs of runtime frames
// (runtime.*, internal/runtime/...) become one "… N runtime frames" line.
// Exposed for tests.
struct StackLine {
  std::string function;  // empty for a collapsed run
  std::string location;  // "app/main.go:42"
  size_t collapsed = 0;  // runtime frames folded into this line
};
std::vector<StackLine> stack_lines(const std::vector<Frame>& stack);

// Last two path components: "/src/app/main.go" -> "app/main.go".
std::string short_file(const std::string& path);

}  // namespace leakhound::report
