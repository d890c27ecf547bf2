#include "report/html_writer.h"

#include <gtest/gtest.h>

#include <regex>

#include "report/flame_graph.h"
#include "report/json_writer.h"
#include "report/svg_chart.h"
#include "sample_report.h"

namespace leakhound::report {
namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST(Html, NoRequestCanLeaveThePage) {
  const std::string page = write_html(testing::sample_report());
  EXPECT_NE(page.find("content=\"default-src 'none'; style-src 'unsafe-inline'; script-src "
                      "'unsafe-inline'\""),
            std::string::npos);
  // Nothing refers to another resource.
  for (const char* ref : {"src=", "http://", "https://", "url(", "@import", "<link"}) {
    EXPECT_EQ(page.find(ref), std::string::npos) << ref;
  }
}

TEST(Html, OneChartPerFindingInJsonOrder) {
  const Report r = testing::sample_report();
  const std::string page = write_html(r);
  EXPECT_EQ(count(page, "<figure class=\"chart\""),
            r.heap.size() + r.goroutines.size() + r.process.size());
  // heap.0 is the JSON's first heap finding (main.fastLeak, the fastest leak).
  const auto j = to_json(r);
  EXPECT_EQ(j["heap"][0]["growth_bytes_per_s"], 2 << 20);
  const size_t at = page.find("data-chart=\"heap.0\"");
  ASSERT_NE(at, std::string::npos);
  EXPECT_LT(page.find("main.fastLeak", at), page.find("data-chart=\"heap.1\""));
  EXPECT_NE(page.find("data-points=\"3\"", at), std::string::npos);
  // Its points carry the exact values of the JSON series.
  EXPECT_NE(page.find("data-t=\"3\" data-v=\"3145728\"", at), std::string::npos);
}

TEST(Html, ChartsAndRowsAreCapped) {
  Report r = testing::sample_report();
  HtmlOptions o;
  o.max_charts = 1;
  o.max_rows = 2;
  const std::string page = write_html(r, o);
  EXPECT_NE(page.find("data-chart=\"heap.0\""), std::string::npos);
  EXPECT_EQ(page.find("data-chart=\"heap.1\""), std::string::npos);
  EXPECT_NE(page.find("<tr data-json=\"heap.1\""), std::string::npos);
  EXPECT_EQ(page.find("<tr data-json=\"heap.2\""), std::string::npos);
  EXPECT_NE(page.find("The first 2 of 4"), std::string::npos);
}

TEST(Html, VerdictCountsAreTheJsonSummary) {
  const std::string page = write_html(testing::sample_report());
  EXPECT_NE(page.find("data-json=\"summary.heap_leaks\" data-value=\"2\""), std::string::npos);
  EXPECT_NE(page.find("data-json=\"summary.goroutine_leaks\" data-value=\"1\""), std::string::npos);
  EXPECT_NE(page.find("data-json=\"target.pid\" data-value=\"4242\""), std::string::npos);
}

TEST(Html, HostileNamesAreEscaped) {
  Report r = testing::sample_report();
  r.heap[0].stack[3].function = "main.<script>alert(\"x\")</script>&'\x01";
  r.target.exe = "/tmp/\"><img src=x>";
  const std::string page = write_html(r);
  EXPECT_EQ(count(page, "<script>"), 1u);  // ours
  EXPECT_EQ(page.find("<img"), std::string::npos);
  EXPECT_NE(
      page.find("main.&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;\xEF\xBF\xBD"),
      std::string::npos);
}

TEST(Html, MemoryLimitAndForecastLines) {
  Report r = testing::sample_report();
  r.memory.read = true;
  r.memory.limited = true;
  r.memory.limit_bytes = 1 << 30;
  r.memory.usage_bytes = 512 << 20;
  r.memory.trend.slope_per_s = 1 << 20;
  r.memory.seconds_to_limit = 512;
  r.memory.series = {{0, 500 << 20}, {10, 512 << 20}};
  const std::string page = write_html(r);
  const size_t at = page.find("data-chart=\"memory\"");
  ASSERT_NE(at, std::string::npos);
  for (const char* line :
       {"data-line=\"trend\"", "data-line=\"limit\"", "data-line=\"forecast\""}) {
    EXPECT_NE(page.find(line, at), std::string::npos) << line;
  }
  EXPECT_NE(page.find("data-json=\"memory.seconds_to_limit\" data-value=\"512\""),
            std::string::npos);
}

TEST(Flame, MergesStacksAndWeighsFrames) {
  const std::string h =
      html_flame({{{"main", "a", "leaf"}, 3}, {{"main", "b"}, 1}}, {"t", "test", Unit::Count});
  EXPECT_NE(h.find("data-total=\"4\""), std::string::npos);
  EXPECT_EQ(count(h, "data-name=\"main\""), 1u);
  EXPECT_NE(h.find("data-w=\"0.750000\" data-d=\"2\" data-v=\"3\" data-name=\"a\""),
            std::string::npos)
      << h;
  EXPECT_NE(h.find("data-x=\"0.750000\" data-w=\"0.250000\" data-d=\"2\""), std::string::npos);
}

TEST(Flame, TenThousandStacksStaySmall) {
  std::vector<WeightedStack> stacks;
  for (int i = 0; i < 10000; ++i) {
    stacks.push_back(
        {{"main.main", "main.work" + std::to_string(i % 100), "main.leaf" + std::to_string(i)},
         i == 0 ? 1e9 : 1000});
  }
  const std::string h = html_flame(stacks, {"t", "test", Unit::Bytes});
  EXPECT_LT(h.size(), 400u << 10);
  EXPECT_NE(h.find("frames under"), std::string::npos);
  EXPECT_NE(h.find("data-name=\"main.leaf0\""), std::string::npos);
}

TEST(Chart, TrendLineIsTheTheilSenFit) {
  detect::Trend t;
  t.slope_per_s = 2;
  const ChartLine l = trend_line({{0, 1}, {1, 3}, {2, 5}, {3, 100}}, t);
  EXPECT_DOUBLE_EQ(l.v0, 1);  // median of 1, 1, 1, 94
  EXPECT_DOUBLE_EQ(l.t1, 3);
  EXPECT_DOUBLE_EQ(l.v1, 7);
}

TEST(Chart, ExtremeValuesEndTheTickLoops) {
  Chart c{"x", "x", Unit::Count, {{"s", {{0, 1e300}, {1, 1e300 + 1e284}, {2, -1e300}}}}, {}};
  EXPECT_NE(svg_chart(c).find("data-points=\"3\""), std::string::npos);
  c.series[0].points = {{0, 1e17}, {1e-300, 1e17 + 64}};
  EXPECT_NE(svg_chart(c).find("data-points=\"2\""), std::string::npos);
}

}  // namespace
}  // namespace leakhound::report
