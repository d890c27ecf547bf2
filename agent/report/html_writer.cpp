#include "report/html_writer.h"

#include <fmt/format.h>

#include <algorithm>

#include "report/flame_graph.h"
#include "report/html_text.h"
#include "report/json_writer.h"
#include "report/rss_text.h"
#include "report/svg_chart.h"
#include "report/terminal_writer.h"
#include "report/units.h"

namespace leakhound::report {
namespace {

using json = nlohmann::ordered_json;

// A value shown to people, with its JSON path and exact value for checks.
std::string field(const std::string& path, const std::string& exact, const std::string& text) {
  return fmt::format("<span data-json=\"{}\" data-value=\"{}\">{}</span>", html_escape(path),
                     html_escape(exact), html_escape(text));
}

std::string verdict_badge(detect::Verdict v) {
  const std::string_view s = detect::to_string(v);
  return fmt::format("<span class=\"verdict {0}\">{0}</span>", s);
}

// What a finding is named by: its first frame outside the Go runtime and
// cgo's glue (the function that called C.CString, not C.CString).
const Frame* label_frame(const std::vector<Frame>& stack) {
  return first_program_frame(stack, /*skip_cgo_glue=*/true);
}

std::string frame_text(const Frame* f) {
  if (f == nullptr) return "?";
  if (f->line > 0) return fmt::format("{} ({}:{})", f->function, short_file(f->file), f->line);
  return f->function;
}

std::string sampler_note(const Report& r) {
  if (r.target.go_version.empty()) return "not a Go program: native (C) allocations only";
  if (r.sampler_enabled_by_us) {
    return fmt::format(
        "off in the program; leakhound switched it on at {} for the window and restored it",
        human_bytes_compact(static_cast<double>(r.sample_rate)));
  }
  if (r.sample_rate > 0) {
    return fmt::format("on at rate {} (the program's own setting)",
                       human_bytes_compact(static_cast<double>(r.sample_rate)));
  }
  return "off: Go heap growth was not measured";
}

std::string header(const Report& r, const json& j, const HtmlOptions& o) {
  const Target& t = r.target;
  std::string h = "<header>";
  if (!o.back_link.empty()) {
    h += fmt::format("<a class=\"back\" href=\"{}\">&#8592; all processes</a>",
                     html_escape(o.back_link));
  }
  h += "<h1>leakhound report: " + field("target.exe", t.exe, t.exe) + "</h1>";
  if (o.refresh_s > 0) {
    h += fmt::format(
        "<p class=\"note\">Rolling window, reloaded every {} s <label><input type=\"checkbox\" "
        "class=\"live\" checked> live</label></p>",
        o.refresh_s);
  }
  h += "<dl class=\"facts\">";
  auto row = [&](const char* name, const std::string& value) {
    h += fmt::format("<dt>{}</dt><dd>{}</dd>", name, value);
  };
  row("PID", field("target.pid", std::to_string(t.pid), std::to_string(t.pid)));
  if (!t.go_version.empty()) {
    row("Go", field("target.go_version", t.go_version, t.go_version) +
                  (t.module_path.empty()
                       ? ""
                       : ", module " + field("target.module", t.module_path, t.module_path)));
  }
  row("Window",
      field("window.duration_s", exact_number(r.duration_s), human_duration(r.duration_s)) + ", " +
          field("window.gc_cycles", exact_number(r.gc_cycles), group_thousands(r.gc_cycles)) +
          " GC cycles");
  row("Heap sampler", html_escape(sampler_note(r)));
  const MemoryForecast& m = r.memory;
  if (!m.read) {
    row("Memory limit", html_escape("not read: " + m.why_unread));
  } else if (!m.limited) {
    row("Memory limit",
        "none (cgroup " + html_escape(m.cgroup) + "), usage " +
            field("memory.usage_bytes", exact_number(m.usage_bytes), human_bytes(m.usage_bytes)));
  } else {
    std::string fc = m.seconds_to_limit >= 0
                         ? "reached in " +
                               field("memory.seconds_to_limit", exact_number(m.seconds_to_limit),
                                     human_eta(m.seconds_to_limit)) +
                               " at " + html_escape(human_rate(m.trend.slope_per_s))
                         : std::string("not growing");
    row("Memory limit",
        field("memory.limit_bytes", exact_number(m.limit_bytes), human_bytes(m.limit_bytes)) +
            " (" + html_escape(m.limit_cgroup) + "), usage " +
            field("memory.usage_bytes", exact_number(m.usage_bytes), human_bytes(m.usage_bytes)) +
            "; " + fc);
  }
  if (std::string g = gomemlimit_line(r.gomemlimit); !g.empty()) row("GOMEMLIMIT", html_escape(g));
  if (auto lines = rss_breakdown_lines(r.rss); !lines.empty()) {
    std::string text;
    for (const std::string& l : lines) text += (text.empty() ? "" : "<br>") + html_escape(l);
    row("Where the RSS goes", text);
  }
  row("Dropped events",
      field("dropped_events", exact_number(r.dropped_events), group_thousands(r.dropped_events)));
  if (r.read_only) row("Read-only", "nothing was written into the target");
  if (r.target_exited) row("Target", "exited during the window");
  h += "</dl>";
  // Verdict counts, from the JSON's own summary so the two cannot disagree.
  const json& s = j.at("summary");
  h += "<table class=\"counts\"><tr><th></th><th>leak</th><th>growing</th><th>total</th></tr>";
  auto count = [&](const char* key) {
    const uint64_t v = s.at(key).get<uint64_t>();
    return "<td>" + field(std::string("summary.") + key, exact_number(v), group_thousands(v)) +
           "</td>";
  };
  h += "<tr><th>Go heap stacks</th>" + count("heap_leaks") + count("heap_growing") +
       count("heap_stacks") + "</tr>";
  h += "<tr><th>native stacks</th>" + count("native_leaks") + count("native_growing") +
       count("native_stacks") + "</tr>";
  h += "<tr><th>goroutine sites</th>" + count("goroutine_leaks") + count("goroutine_growing") +
       count("goroutine_sites") + "</tr>";
  h += "<tr><th>process series</th>" + count("process_leaks") + "<td></td><td>" +
       std::to_string(r.process.size()) + "</td></tr></table>";
  if (!r.notes.empty()) {
    h += "<ul class=\"notes\">";
    for (const std::string& n : r.notes) h += "<li>" + html_escape(n) + "</li>";
    h += "</ul>";
  }
  return h + "</header>";
}

// The findings of one kind in the JSON's order (json_writer.cpp).
template <typename F>
std::vector<const F*> json_order(const std::vector<F>& v, bool sort) {
  std::vector<const F*> order;
  order.reserve(v.size());
  for (const F& f : v) order.push_back(&f);
  if (sort) {
    std::stable_sort(order.begin(), order.end(),
                     [](const F* a, const F* b) { return finding_before(*a, *b); });
  }
  return order;
}

std::string chart_note(size_t shown, size_t total) {
  if (shown >= total) return "";
  return fmt::format("<p class=\"note\">Charts for the first {} of {}.</p>", shown, total);
}

std::string rows_note(size_t shown, size_t total) {
  if (shown >= total) return "";
  return fmt::format(
      "<p class=\"note\">The first {} of {} (leaks and growth first); --json has them "
      "all.</p>",
      shown, total);
}

// Charts and table of heap or native findings.
template <typename F>
std::string memory_section(const char* kind, const char* title, const std::vector<const F*>& fs,
                           const HtmlOptions& o) {
  std::string charts, rows;
  const size_t n = std::min(fs.size(), o.max_rows);
  for (size_t i = 0; i < n; ++i) {
    const F& f = *fs[i];
    const std::string at = fmt::format("{}.{}", kind, i);
    const std::string name = frame_text(label_frame(f.stack));
    if (i < o.max_charts) {
      Chart c{at, "", Unit::Bytes, {{"in use", f.series}}, {trend_line(f.series, f.trend)}};
      c.title = fmt::format("{} {}, {}", name, detect::to_string(f.trend.verdict),
                            human_rate(f.trend.slope_per_s));
      charts += svg_chart(c);
    }
    rows += fmt::format(
        "<tr data-json=\"{}\"><td data-v=\"{}\">{}</td><td>{}</td><td data-v=\"{}\">{}</td>"
        "<td data-v=\"{}\">{}</td><td data-v=\"{}\">{}</td><td data-v=\"{}\">{}</td>"
        "<td data-v=\"{}\">{}</td><td data-v=\"{}\">{}</td></tr>",
        at, i, i, verdict_badge(f.trend.verdict), exact_number(f.inuse_bytes),
        human_bytes(f.inuse_bytes), exact_number(f.inuse_objects), group_thousands(f.inuse_objects),
        exact_number(f.trend.slope_per_s), human_rate(f.trend.slope_per_s),
        exact_number(f.trend.confidence), percent(f.trend.confidence), f.series.size(),
        f.series.size(), html_escape(name), html_escape(name));
  }
  if (fs.empty()) return "";
  return fmt::format(
      "<section class=\"kind\" id=\"{0}\"><h2>{1}</h2><div class=\"charts\">{2}</div>{3}"
      "<table class=\"findings sortable\" data-kind=\"{0}\"><thead><tr><th>#</th><th>verdict</th>"
      "<th>inuse_bytes</th><th>inuse_objects</th><th>growth_bytes_per_s</th><th>confidence</th>"
      "<th>points</th><th>where</th></tr></thead><tbody>{4}</tbody></table>{5}</section>",
      kind, title, charts, chart_note(std::min(o.max_charts, fs.size()), fs.size()), rows,
      rows_note(n, fs.size()));
}

std::string goroutine_section(const std::vector<const GoroutineFinding*>& fs,
                              const HtmlOptions& o) {
  std::string charts, rows;
  const size_t n = std::min(fs.size(), o.max_rows);
  for (size_t i = 0; i < n; ++i) {
    const GoroutineFinding& f = *fs[i];
    const std::string at = fmt::format("goroutines.{}", i);
    const std::string site = frame_text(&f.created_at);
    if (i < o.max_charts) {
      Chart c{at, "", Unit::Count, {{"live", f.series}}, {trend_line(f.series, f.trend)}};
      c.title = fmt::format("{} (created at {}), {}, {}", f.entry.function, site,
                            detect::to_string(f.trend.verdict),
                            human_growth(f.trend.slope_per_s, Unit::Count));
      charts += svg_chart(c);
    }
    rows += fmt::format(
        "<tr data-json=\"{}\"><td data-v=\"{}\">{}</td><td>{}</td><td data-v=\"{}\">{}</td>"
        "<td data-v=\"{}\">{}</td><td data-v=\"{}\">{}</td><td>{}</td><td data-v=\"{}\">{}</td>"
        "<td>{}</td></tr>",
        at, i, i, verdict_badge(f.trend.verdict), exact_number(f.count), group_thousands(f.count),
        exact_number(f.trend.slope_per_s), human_growth(f.trend.slope_per_s, Unit::Count),
        exact_number(f.trend.confidence), percent(f.trend.confidence), html_escape(f.wait_reason),
        f.series.size(), f.series.size(), html_escape(f.entry.function + " created at " + site));
  }
  if (fs.empty()) return "";
  return fmt::format(
      "<section class=\"kind\" id=\"goroutines\"><h2>Goroutines by creation site</h2>"
      "<div class=\"charts\">{}</div>{}<table class=\"findings sortable\" "
      "data-kind=\"goroutines\"><thead><tr><th>#</th><th>verdict</th><th>count</th>"
      "<th>growth_per_s</th><th>confidence</th><th>wait_reason</th><th>points</th><th>site</th>"
      "</tr></thead><tbody>{}</tbody></table>{}</section>",
      charts, chart_note(std::min(o.max_charts, fs.size()), fs.size()), rows,
      rows_note(n, fs.size()));
}

std::string process_section(const Report& r) {
  std::string charts, rows;
  for (size_t i = 0; i < r.process.size(); ++i) {
    const ProcessFinding& f = r.process[i];
    const std::string at = fmt::format("process.{}", i);
    const Unit u = f.metric == "rss_bytes" ? Unit::Bytes : Unit::Count;
    Chart c{at, "", u, {{f.metric, f.series}}, {trend_line(f.series, f.trend)}};
    c.title = fmt::format("{}, {}, {}", f.metric, detect::to_string(f.trend.verdict),
                          human_growth(f.trend.slope_per_s, u));
    charts += svg_chart(c);
    rows += fmt::format(
        "<tr data-json=\"{}\"><td>{}</td><td>{}</td><td data-v=\"{}\">{}</td>"
        "<td data-v=\"{}\">{}</td><td data-v=\"{}\">{}</td><td data-v=\"{}\">{}</td></tr>",
        at, html_escape(f.metric), verdict_badge(f.trend.verdict), exact_number(f.value),
        human_value(f.value, u), exact_number(f.trend.slope_per_s),
        human_growth(f.trend.slope_per_s, u), exact_number(f.trend.confidence),
        percent(f.trend.confidence), f.series.size(), f.series.size());
  }
  const MemoryForecast& m = r.memory;
  if (m.read && !m.series.empty()) {
    Chart c{"memory",
            "cgroup memory usage",
            Unit::Bytes,
            {{"usage", m.series}},
            {trend_line(m.series, m.trend)}};
    const double t_end = m.series.back().t_s;
    if (m.limited) {
      // The forecast is drawn up to the limit, or to 4 windows ahead when
      // that is further (a far limit would flatten the series).
      double t_limit = t_end + 4 * std::max(r.duration_s, 1.0);
      if (m.seconds_to_limit >= 0) t_limit = std::min(t_limit, t_end + m.seconds_to_limit);
      c.lines.push_back({"limit", "limit " + human_bytes(m.limit_bytes), 0,
                         static_cast<double>(m.limit_bytes), t_limit,
                         static_cast<double>(m.limit_bytes)});
      if (m.seconds_to_limit >= 0) {
        // From the last usage, which the forecast's time to the limit starts at.
        const double v_end = static_cast<double>(m.usage_bytes);
        c.lines.push_back({"forecast", "forecast: limit in " + human_eta(m.seconds_to_limit), t_end,
                           v_end, t_limit, v_end + m.trend.slope_per_s * (t_limit - t_end)});
      }
    }
    charts += svg_chart(c);
  }
  if (charts.empty()) return "";
  return fmt::format(
      "<section class=\"kind\" id=\"process\"><h2>Process series and memory limit</h2>"
      "<div class=\"charts\">{}</div><table class=\"findings sortable\" data-kind=\"process\">"
      "<thead><tr><th>metric</th><th>verdict</th><th>value</th><th>growth_per_s</th>"
      "<th>confidence</th><th>points</th></tr></thead><tbody>{}</tbody></table></section>",
      charts, rows);
}

}  // namespace

std::string write_html(const Report& r, const HtmlOptions& o) {
  const json j = to_json(r);
  std::string page =
      "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
      // No request of any kind leaves the page (a file opened from disk, or
      // the daemon's page, which only reloads itself).
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src "
      "'unsafe-inline'; script-src 'unsafe-inline'\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">";
  page += fmt::format("<title>leakhound: {} ({})</title><style>{}</style></head>",
                      html_escape(r.target.exe), r.target.pid, html_style());
  // A live page reloads itself (report.js) until the user zooms or searches.
  page += o.refresh_s > 0 ? fmt::format("<body data-refresh=\"{}\">", o.refresh_s) : "<body>";
  page += header(r, j, o);
  page +=
      "<nav><a href=\"#heap\">Go heap</a> <a href=\"#native\">native</a> "
      "<a href=\"#goroutines\">goroutines</a> <a href=\"#process\">process</a> "
      "<a href=\"#flames\">flame graphs</a></nav><main>";
  page += memory_section("heap", "Go heap by allocation stack", json_order(r.heap, true), o);
  page += memory_section("native", "Native (C) memory outstanding", json_order(r.native, false), o);
  page += goroutine_section(json_order(r.goroutines, true), o);
  page += process_section(r);
  page += "<section id=\"flames\"><h2>Flame graphs</h2>";
  page += html_flame(heap_stacks(r), {"heap", "Go heap in use", Unit::Bytes});
  page += html_flame(native_stacks(r), {"native", "Native memory outstanding", Unit::Bytes});
  page += html_flame(goroutine_stacks(r),
                     {"goroutines", "Live goroutines by creation site", Unit::Count});
  page += "</section></main><script>";
  page += html_script();
  return page + "</script></body></html>\n";
}

}  // namespace leakhound::report
