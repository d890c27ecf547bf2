// The supported range in words, from the generated leakhound/support.h: what
// `leakhound --version`, `inspect` and the README say.
#pragma once

#include <string>

#include "leakhound/support.h"

namespace leakhound::support {

// "Go 1.21 to 1.27 (newer: best effort, with a warning)"
std::string go_range();
// The text of `leakhound --version`; README's support block is checked against it.
std::string version_text();
// "What was run where" (kRuns) as a Markdown table: the end of version_text,
// and docs/testing.md's table.
std::string runs_table();

}  // namespace leakhound::support
