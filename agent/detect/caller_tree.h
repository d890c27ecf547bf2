// The callers that stacks have in common: a leak split over several
// allocation stacks under one function (six call sites in one handler, a
// library allocating through several paths) is one leak. Its stacks share the
// frames from the root down to that function; their summed series is judged
// like a stack's, with more samples behind it than any one of them.
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "detect/trend.h"

namespace leakhound::detect {

// A function that two or more stacks pass through by the same path from the
// root, at its deepest: where their paths part (or one of them ends).
struct CallerNode {
  size_t depth = 0;            // frames from the root down to and including the caller
  std::vector<size_t> stacks;  // indices into the input, ascending
};

// `stacks`: each stack's function names, leaf first. Nodes for every
// function that `may_be_caller` accepts (not the runtime's own frames, whose
// "callers" would be runtime.mallocgc or runtime.goexit), shared by at least
// two stacks; of nodes with the same stacks only the deepest. Sorted deepest
// first in the tree: every node comes before its ancestors (fewer stacks
// first, then deeper first).
std::vector<CallerNode> caller_nodes(const std::vector<std::vector<std::string>>& stacks,
                                     const std::function<bool(std::string_view)>& may_be_caller);

// Sum of series sampled at (mostly) the same times: at each time of any of
// them, each contributes its last value at or before it, 0 before its first
// point (a stack first seen mid-window had nothing outstanding before).
std::vector<Point> sum_series(std::span<const std::vector<Point>* const> series);

}  // namespace leakhound::detect
