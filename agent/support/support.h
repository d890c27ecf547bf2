// The supported range in words, from the generated leakhound/support.h: what
// `leakhound --version`, `inspect` and the README say.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "leakhound/support.h"

namespace leakhound::support {

// "Go 1.21 to 1.27 (newer: best effort, with a warning)"
std::string go_range();
// The text of `leakhound --version`; README's support block is checked against it.
std::string version_text();
// "What was run where" (kRuns) as a Markdown table: the end of version_text,
// and docs/testing.md's table.
std::string runs_table();
// The rows of kRuns that cover a target of this architecture (go_name) and
// Go minor release: what `inspect` says was run on programs like it.
std::vector<const RunWhere*> runs_for(std::string_view arch, int go_minor);
// Whether a RunWhere's Go field ("1.18-1.27", "1.18, 1.27", "1.19.8, 1.24.4")
// names this minor release.
bool covers(std::string_view go, int go_minor);

}  // namespace leakhound::support
