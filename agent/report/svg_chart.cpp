#include "report/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <span>

#include "detect/stats.h"

namespace leakhound::report {
namespace {

constexpr double kW = 640, kH = 200;                                // viewBox
constexpr double kLeft = 74, kRight = 12, kTop = 10, kBottom = 26;  // plot margins

struct Scale {
  double t0, t1, v0, v1;
  double x(double t) const { return kLeft + (t - t0) / (t1 - t0) * (kW - kLeft - kRight); }
  double y(double v) const { return kH - kBottom - (v - v0) / (v1 - v0) * (kH - kTop - kBottom); }
};

// 1, 2 or 5 times a power of ten, so that about n ticks cover the span.
double nice_step(double span, int n) {
  if (!(span > 0)) return 1;
  const double raw = span / n;
  const double p = std::pow(10, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0}) {
    if (m * p >= raw) return m * p;
  }
  return 10 * p;
}

Scale scale_of(const Chart& c) {
  double t1 = 0, vmin = 0, vmax = 0;
  bool any = false;
  auto see = [&](double t, double v) {
    if (!std::isfinite(t) || !std::isfinite(v)) return;
    t1 = std::max(t1, t);
    vmin = any ? std::min(vmin, v) : std::min(0.0, v);
    vmax = any ? std::max(vmax, v) : v;
    any = true;
  };
  for (const ChartSeries& s : c.series) {
    for (const detect::Point& p : s.points) see(p.t_s, p.value);
  }
  for (const ChartLine& l : c.lines) {
    see(l.t0, l.v0);
    see(l.t1, l.v1);
  }
  if (!(t1 > 0)) t1 = 1;
  if (!(vmax > vmin)) vmax = vmin + 1;
  return {0, t1, vmin, vmin + (vmax - vmin) * 1.05};
}

std::string fmt_xy(double v) { return fmt::format("{:.1f}", v); }

}  // namespace

ChartLine trend_line(const std::vector<detect::Point>& series, const detect::Trend& t) {
  ChartLine l{"trend", fmt::format("trend {}", detect::to_string(t.verdict))};
  if (series.empty()) return l;
  const double b =
      detect::theil_sen_intercept(std::span<const detect::Point>(series), t.slope_per_s);
  l.t0 = series.front().t_s;
  l.t1 = series.back().t_s;
  l.v0 = b + t.slope_per_s * l.t0;
  l.v1 = b + t.slope_per_s * l.t1;
  return l;
}

std::string svg_chart(const Chart& c) {
  const Scale s = scale_of(c);
  std::string out = fmt::format(
      "<figure class=\"chart\" data-chart=\"{}\" data-series=\"{}\" data-unit=\"{}\">"
      "<figcaption>{}</figcaption><svg viewBox=\"0 0 {} {}\" role=\"img\">",
      html_escape(c.id), c.series.size(), c.unit == Unit::Bytes ? "bytes" : "count",
      html_escape(c.title), kW, kH);
  // Axes and ticks.
  const double vstep = nice_step(s.v1 - s.v0, 4);
  // Tick loops are bounded by count too: at extreme magnitudes v += step
  // may not move v (values come from the target).
  int ticks = 0;
  for (double v = std::ceil(s.v0 / vstep) * vstep; v <= s.v1 && ticks++ < 12; v += vstep) {
    out += fmt::format(
        "<line class=\"grid\" x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"/>"
        "<text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
        kLeft, kW - kRight, fmt_xy(s.y(v)), fmt_xy(s.y(v)), kLeft - 4, fmt_xy(s.y(v) + 4),
        html_escape(human_value(v, c.unit)));
  }
  const double tstep = nice_step(s.t1 - s.t0, 6);
  ticks = 0;
  for (double t = 0; t <= s.t1 + 1e-9 && ticks++ < 12; t += tstep) {
    out +=
        fmt::format("<text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{:g} s</text>",
                    fmt_xy(s.x(t)), kH - 8, t);
  }
  out += fmt::format("<line class=\"axis\" x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\"/>", kLeft,
                     kTop, kH - kBottom);
  out += fmt::format("<line class=\"axis\" x1=\"{0}\" x2=\"{1}\" y1=\"{2}\" y2=\"{2}\"/>", kLeft,
                     kW - kRight, kH - kBottom);
  for (const ChartLine& l : c.lines) {
    out += fmt::format(
        "<line class=\"{0}\" data-line=\"{0}\" x1=\"{1}\" y1=\"{2}\" x2=\"{3}\" y2=\"{4}\">"
        "<title>{5}: {6} at {7:.1f} s to {8} at {9:.1f} s</title></line>",
        html_escape(l.kind), fmt_xy(s.x(l.t0)), fmt_xy(s.y(l.v0)), fmt_xy(s.x(l.t1)),
        fmt_xy(s.y(l.v1)), html_escape(l.label), html_escape(human_value(l.v0, c.unit)), l.t0,
        html_escape(human_value(l.v1, c.unit)), l.t1);
  }
  for (size_t i = 0; i < c.series.size(); ++i) {
    const ChartSeries& cs = c.series[i];
    out += fmt::format("<g class=\"series s{}\" data-name=\"{}\" data-points=\"{}\">", i % 6,
                       html_escape(cs.name), cs.points.size());
    std::string path;
    for (const detect::Point& p : cs.points) {
      path += fmt::format("{},{} ", fmt_xy(s.x(p.t_s)), fmt_xy(s.y(p.value)));
    }
    out += fmt::format("<polyline points=\"{}\"/>", path);
    for (const detect::Point& p : cs.points) {
      // No <title> per point: 13,000 of them made a large report's page 1.6 MB
      // heavier; report.js shows the hovered point's values.
      out += fmt::format("<circle cx=\"{}\" cy=\"{}\" data-t=\"{}\" data-v=\"{}\"/>",
                         fmt_xy(s.x(p.t_s)), fmt_xy(s.y(p.value)), exact_number(p.t_s),
                         exact_number(p.value));
    }
    out += "</g>";
  }
  out += "</svg>";
  if (c.series.size() > 1 || !c.lines.empty()) {
    out += "<div class=\"legend\">";
    for (size_t i = 0; i < c.series.size(); ++i) {
      out += fmt::format("<span class=\"key s{}\">{}</span>", i % 6, html_escape(c.series[i].name));
    }
    for (const ChartLine& l : c.lines) {
      out += fmt::format("<span class=\"key {}\">{}</span>", html_escape(l.kind),
                         html_escape(l.label));
    }
    out += "</div>";
  }
  return out + "<div class=\"readout\"></div></figure>";
}

std::string svg_sparkline(const std::vector<detect::Point>& points, Unit unit) {
  Chart c;
  c.series.push_back({"", points});
  const Scale s = scale_of(c);
  constexpr double w = 120, h = 28;
  std::string path;
  for (const detect::Point& p : points) {
    path += fmt::format("{:.1f},{:.1f} ", (p.t_s - s.t0) / (s.t1 - s.t0) * w,
                        h - 2 - (p.value - s.v0) / (s.v1 - s.v0) * (h - 4));
  }
  const std::string last = points.empty() ? "" : human_value(points.back().value, unit);
  return fmt::format(
      "<svg class=\"spark\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" data-points=\"{}\">"
      "<polyline points=\"{}\"/><title>{}</title></svg>",
      w, h, w, h, points.size(), path, html_escape(last));
}

}  // namespace leakhound::report
