// Line charts as inline SVG for the HTML report: the points of each series
// (each with a tooltip of its values), straight lines (a fitted trend, a limit,
// a forecast), axes with ticks. Drawn in C++ so the page shows them without
// running a script, and a test reads series and points from the DOM.
#pragma once

#include <string>
#include <vector>

#include "detect/trend.h"
#include "report/html_text.h"

namespace leakhound::report {

struct ChartSeries {
  std::string name;  // legend and tooltip
  std::vector<detect::Point> points;
};

// From (t0, v0) to (t1, v1) in the chart's coordinates.
struct ChartLine {
  std::string kind;  // css class and data-line: "trend", "limit", "forecast"
  std::string label;
  double t0 = 0, v0 = 0, t1 = 0, v1 = 0;
};

struct Chart {
  std::string id;  // data-chart, unique in the page
  std::string title;
  Unit unit = Unit::Bytes;
  std::vector<ChartSeries> series;
  std::vector<ChartLine> lines;
};

std::string svg_chart(const Chart& c);

// The fitted line of a trend over a series' time span: the Theil-Sen slope
// through the median intercept (detect/stats.h), as the verdict saw it.
ChartLine trend_line(const std::vector<detect::Point>& series, const detect::Trend& t);

// A small chart without axes (the daemon's list of processes).
std::string svg_sparkline(const std::vector<detect::Point>& points, Unit unit);

}  // namespace leakhound::report
