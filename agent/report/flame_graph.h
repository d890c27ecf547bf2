// Flame graphs (icicles: root on top) of weighted stacks as HTML for the
// report page; the inline script zooms on click and highlights a search.
#pragma once

#include <string>
#include <vector>

#include "report/folded_writer.h"
#include "report/html_text.h"

namespace leakhound::report {

struct FlameOptions {
  std::string id;  // data-flame, unique in the page
  std::string title;
  Unit unit = Unit::Bytes;
  // Frames narrower than this share of the root are left out (they would be
  // under a pixel wide; 10,000 stacks would otherwise make a 10 MB page).
  double min_share = 0.0005;
};

std::string html_flame(const std::vector<WeightedStack>& stacks, const FlameOptions& o);

}  // namespace leakhound::report
