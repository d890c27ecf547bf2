// The report as one self-contained HTML page: inline CSS, SVG and script, no
// network request (a Content-Security-Policy forbids any), opens from disk.
// Built from the same Report as the JSON; every number a test compares carries
// data-json (its path in the JSON report) and data-value (the JSON's value).
#pragma once

#include <string>

#include "report/model.h"

namespace leakhound::report {

struct HtmlOptions {
  // The daemon's live page: reload every refresh_s seconds (0: a file, static).
  int refresh_s = 0;
  std::string back_link;   // e.g. "/" for the daemon's list; "" for none
  size_t max_charts = 50;  // growth charts per kind
  // Table rows per kind, in the JSON's order (leaks and growth first): 10,000
  // rows took 10 s to open in Chromium here (docs/benchmarks.md).
  size_t max_rows = 1000;
};

std::string write_html(const Report& r, const HtmlOptions& o = {});

// The inline stylesheet and script (agent/report/html/), shared with the
// daemon's other pages.
const char* html_style();
const char* html_script();

}  // namespace leakhound::report
