// The supported range has one source (scripts/go-versions.txt and
// cmake/Support.cmake, through the generated leakhound/support.h): the README
// shows what `leakhound --version` prints, and no doc states another Go range.
#include "support/support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

namespace leakhound::support {
namespace {

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::filesystem::path kRoot = LEAKHOUND_SOURCE_DIR;

TEST(Support, ToolchainsBoundTheRange) {
  ASSERT_LE(kGoMinMinor, kGoMaxMinor);
  ASSERT_EQ(std::size(kGoToolchains), static_cast<size_t>(kGoMaxMinor - kGoMinMinor + 1));
  for (int m = kGoMinMinor; m <= kGoMaxMinor; m++) {
    std::string t = kGoToolchains[m - kGoMinMinor];
    EXPECT_EQ(t.rfind("go1." + std::to_string(m) + ".", 0), 0u) << t;
  }
}

TEST(Support, VersionTextNamesEverything) {
  std::string v = version_text();
  EXPECT_EQ(v.rfind(std::string("leakhound ") + kVersion + " (", 0), 0u) << v;
  EXPECT_NE(v.find(go_range()), std::string::npos);
  for (const Arch& a : kArches) EXPECT_NE(v.find(a.go_name), std::string::npos);
}

TEST(Support, ReadmeBlockIsTheVersionText) {
  std::string readme = read(kRoot / "README.md");
  const std::string begin = "<!-- support:begin -->\n```\n", end = "```\n<!-- support:end -->";
  auto b = readme.find(begin);
  auto e = readme.find(end);
  ASSERT_NE(b, std::string::npos) << "README.md has no support block";
  ASSERT_NE(e, std::string::npos);
  std::string block = readme.substr(b + begin.size(), e - b - begin.size());
  std::string v = version_text();
  std::string want = v.substr(v.find('\n') + 1);  // the first line holds the build
  EXPECT_EQ(block, want) << "README.md's support block differs from `leakhound --version`";
}

// The table of what was run where: docs/testing.md shows what --version
// prints (README's support block has it through the test above), on the
// architectures and Go releases Support.cmake names.
TEST(Support, TestingDocShowsTheRunsTable) {
  std::string doc = read(kRoot / "docs" / "testing.md");
  const std::string begin = "<!-- runs:begin -->\n", end = "<!-- runs:end -->";
  auto b = doc.find(begin);
  auto e = doc.find(end);
  ASSERT_NE(b, std::string::npos) << "docs/testing.md has no runs table";
  ASSERT_NE(e, std::string::npos);
  EXPECT_EQ(doc.substr(b + begin.size(), e - b - begin.size()), runs_table())
      << "docs/testing.md's table of what was run where differs from cmake/Support.cmake";
  EXPECT_NE(version_text().find(runs_table()), std::string::npos);
}

TEST(Support, RunsAreOnSupportedArchesAndReleases) {
  const std::regex release(R"(\b1\.(\d+))");
  for (const RunWhere& r : kRuns) {
    EXPECT_TRUE(std::any_of(std::begin(kArches), std::end(kArches),
                            [&](const Arch& a) { return std::string(a.go_name) == r.arch; }))
        << r.where << ": " << r.arch;
    const std::string go = r.go;
    int n = 0;
    for (std::sregex_iterator it(go.begin(), go.end(), release), end; it != end; ++it, ++n) {
      EXPECT_GE(std::stoi((*it)[1]), kGoMinMinor) << r.where << ": " << go;
      EXPECT_LE(std::stoi((*it)[1]), kGoMaxMinor) << r.where << ": " << go;
    }
    EXPECT_GT(n, 0) << r.where << " names no Go release";
  }
}

TEST(Support, CoversReadsRangesAndLists) {
  EXPECT_TRUE(covers("1.18-1.27", 18));
  EXPECT_TRUE(covers("1.18-1.27", 22));
  EXPECT_TRUE(covers("1.18-1.27", 27));
  EXPECT_FALSE(covers("1.18-1.27", 17));
  EXPECT_FALSE(covers("1.18-1.27", 28));
  EXPECT_TRUE(covers("1.18, 1.27", 27));
  EXPECT_FALSE(covers("1.18, 1.27", 22));
  EXPECT_TRUE(covers("1.19.8, 1.20.14, 1.24.4", 20));
  EXPECT_TRUE(covers("1.19.8, 1.20.14, 1.24.4", 24));
  EXPECT_FALSE(covers("1.19.8, 1.20.14, 1.24.4", 21));
  EXPECT_FALSE(covers("", 21));
  EXPECT_FALSE(covers("go1.21", 21));
  // Every row covers some supported release on its architecture.
  for (const RunWhere& r : kRuns) {
    bool any = false;
    for (int m = kGoMinMinor; m <= kGoMaxMinor; m++) {
      const auto rows = runs_for(r.arch, m);
      any |= std::find(rows.begin(), rows.end(), &r) != rows.end();
    }
    EXPECT_TRUE(any) << r.where;
  }
  EXPECT_TRUE(runs_for("riscv64", kGoMaxMinor).empty());
}

// Phrases that state the supported Go range in prose.
TEST(Support, DocsStateTheSameRange) {
  const std::regex range(R"(Go 1\.(\d+) to 1\.(\d+))");
  const std::regex older(R"((?:older than|supports Go) 1\.(\d+))");
  std::vector<std::filesystem::path> files = {kRoot / "README.md"};
  for (const auto& e : std::filesystem::directory_iterator(kRoot / "docs")) {
    if (e.path().extension() == ".md") files.push_back(e.path());
  }
  int seen = 0;
  for (const auto& f : files) {
    std::string text = read(f);
    for (std::sregex_iterator it(text.begin(), text.end(), range), end; it != end; ++it) {
      EXPECT_EQ(std::stoi((*it)[1]), kGoMinMinor) << f << ": " << it->str();
      EXPECT_EQ(std::stoi((*it)[2]), kGoMaxMinor) << f << ": " << it->str();
      seen++;
    }
    for (std::sregex_iterator it(text.begin(), text.end(), older), end; it != end; ++it) {
      EXPECT_EQ(std::stoi((*it)[1]), kGoMinMinor) << f << ": " << it->str();
      seen++;
    }
  }
  EXPECT_GT(seen, 2) << "the docs no longer state the Go range where this test looks";
}

}  // namespace
}  // namespace leakhound::support
