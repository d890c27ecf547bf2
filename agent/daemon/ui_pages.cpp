#include "daemon/ui_pages.h"

#include <fmt/format.h>

#include <map>

#include "report/html_text.h"
#include "report/html_writer.h"
#include "report/json_writer.h"
#include "report/svg_chart.h"
#include "report/units.h"

namespace leakhound::daemon {
namespace {

using report::html_escape;

std::string counts_cell(const nlohmann::ordered_json& s, const char* leaks, const char* growing,
                        const std::string& path) {
  const uint64_t l = s.value(leaks, uint64_t{0}), g = s.value(growing, uint64_t{0});
  return fmt::format(
      "<td data-json=\"{0}.{1}\" data-value=\"{2}\" class=\"{3}\">{2}</td>"
      "<td data-json=\"{0}.{4}\" data-value=\"{5}\">{5}</td>",
      path, leaks, l, l > 0 ? "hasleak" : "", growing, g);
}

}  // namespace

std::vector<detect::Point> heap_inuse_series(const report::Report& r) {
  // A stack has a point at each GC cycle seen while it had memory in use, so
  // the same times recur across stacks.
  std::map<double, double> sum;
  for (const report::HeapFinding& f : r.heap) {
    for (const detect::Point& p : f.series) sum[p.t_s] += p.value;
  }
  std::vector<detect::Point> out;
  out.reserve(sum.size());
  for (const auto& [t, v] : sum) out.push_back({t, v});
  return out;
}

std::string process_list_page(const std::vector<ProcessEntry>& procs) {
  std::string rows;
  for (const ProcessEntry& e : procs) {
    std::string cells;
    if (e.report) {
      const nlohmann::ordered_json s = report::to_json(*e.report).at("summary");
      cells = counts_cell(s, "heap_leaks", "heap_growing", "summary") +
              counts_cell(s, "goroutine_leaks", "goroutine_growing", "summary") +
              counts_cell(s, "native_leaks", "native_growing", "summary") + "<td>" +
              report::svg_sparkline(heap_inuse_series(*e.report), report::Unit::Bytes) + "</td>";
    } else if (e.shed == "detached") {  // by the memory budget
      cells = "<td colspan=\"7\" class=\"note\">" + html_escape(e.shed_reason) + "</td>";
    } else {
      cells = "<td colspan=\"7\" class=\"note\">no report yet (attached moments ago)</td>";
    }
    rows += fmt::format(
        "<tr data-pid=\"{0}\"><td><a href=\"/ui/report?pid={0}\">{0}</a></td><td>{1}</td>"
        "<td>{2}</td><td>{3}</td><td>{4}</td><td>{5}</td>{6}</tr>",
        e.pid, html_escape(e.exe), html_escape(e.pod.pod), html_escape(e.pod.ns),
        html_escape(e.pod.container_id.substr(0, 12)), html_escape(e.go_version), cells);
  }
  return fmt::format(
      "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src "
      "'unsafe-inline'; script-src 'unsafe-inline'\">"
      "<title>leakhound: {0} processes</title><style>{1}</style></head>"
      "<body data-refresh=\"{2}\"><header><h1>leakhound: {0} watched processes</h1>"
      "<p class=\"note\">Verdicts over the rolling window; the page reloads every {2} s "
      "<label><input type=\"checkbox\" class=\"live\" checked> live</label></p></header>"
      "<table class=\"processes sortable\"><thead><tr><th>pid</th><th>exe</th><th>pod</th>"
      "<th>namespace</th><th>container</th><th>go</th><th>heap leaks</th><th>heap growing</th>"
      "<th>goroutine leaks</th><th>goroutine growing</th><th>native leaks</th>"
      "<th>native growing</th><th>heap in use</th></tr></thead><tbody>{3}</tbody></table>"
      "<script>{4}</script></body></html>\n",
      procs.size(), report::html_style(), kUiRefreshSeconds, rows, report::html_script());
}

std::string report_page(const ProcessEntry& e) {
  report::HtmlOptions o;
  o.refresh_s = kUiRefreshSeconds;
  o.back_link = "/";
  return report::write_html(*e.report, o);
}

}  // namespace leakhound::daemon
