// Cross-checks Pclntab against the Go toolchain's own reader: `go tool
// addr2line` prints, per address, the physical function and the innermost
// file:line, i.e. frames().back().function and frames().front() file/line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "binary/pclntab.h"
#include "test_support.h"

namespace leakhound::binary {
namespace {

using testing::Target;

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// Minor version of the machine's go ("go1.26.8" -> 26), 0 without go.
int local_go_minor() {
  static int minor = [] {
    std::string v = run("cd / && GOTOOLCHAIN=local go env GOVERSION 2>/dev/null");
    if (!v.starts_with("go1.")) return 0;
    return std::atoi(v.c_str() + 4);
  }();
  return minor;
}

// ~200 PCs spread over the whole text, plus the leaking function.
std::vector<uint64_t> sample_pcs(const Pclntab& t) {
  std::vector<uint64_t> pcs;
  size_t step = std::max<size_t>(1, t.num_funcs() / 180), i = 0;
  t.for_each_func([&](const FuncInfo& f) {
    // Linker markers (go:textfipsstart, ...) have no line table (offset 0);
    // debug/gosym decodes pctab from offset 0 anyway and reports garbage.
    if (i++ % step != 0 || f.end <= f.entry || f.name.starts_with("go:")) return;
    uint64_t off = (i * 2654435761u) % (f.end - f.entry);
    pcs.push_back(f.entry + off / t.min_lc() * t.min_lc());
  });
  if (auto f = t.func_by_name("main.leakOne")) {
    for (uint64_t pc = f->entry; pc < f->end; pc += 4 * t.min_lc()) pcs.push_back(pc);
  }
  return pcs;
}

class Addr2line : public ::testing::TestWithParam<Target> {};

TEST_P(Addr2line, FramesMatchGoToolchain) {
  const Target& target = GetParam();
  // scripts/setup.sh installs go; the pclntab format (magic 0xfffffff1) has not
  // changed since 1.20, so the machine's go reads newer releases' tables too.
  ASSERT_NE(local_go_minor(), 0) << "no go toolchain on PATH (scripts/setup.sh installs one)";
  auto elf = testing::open_target(target);
  ASSERT_TRUE(elf);
  auto t = Pclntab::load(*elf);
  ASSERT_TRUE(t) << t.error().message;
  auto pcs = sample_pcs(*t);
  ASSERT_GT(pcs.size(), 150u);

  char tmpl[] = "/tmp/lh-addr2line-XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream in(tmpl);
    for (uint64_t pc : pcs) in << "0x" << std::hex << pc << "\n";
  }
  std::string out = run("cd / && GOTOOLCHAIN=local GOFLAGS= go tool addr2line '" + target.path() +
                        "' < " + tmpl + " 2>&1");
  unlink(tmpl);

  std::istringstream lines(out);
  size_t compared = 0, inlined = 0;
  for (uint64_t pc : pcs) {
    std::string name, fileline;
    ASSERT_TRUE(std::getline(lines, name) && std::getline(lines, fileline))
        << "addr2line output ended early:\n"
        << out;
    auto frames = t->frames(pc);
    ASSERT_FALSE(frames.empty()) << std::hex << pc;
    size_t colon = fileline.rfind(':');
    ASSERT_NE(colon, std::string::npos) << fileline;
    // addr2line prints ":-1" for padding without line info; Frame uses "" and 0.
    int64_t line = std::max<int64_t>(0, std::stoll(fileline.substr(colon + 1)));
    EXPECT_EQ(frames.back().function, name) << std::hex << "pc 0x" << pc;
    EXPECT_EQ(frames.front().file, fileline.substr(0, colon)) << std::hex << "pc 0x" << pc;
    EXPECT_EQ(frames.front().line, line) << std::hex << "pc 0x" << pc;
    compared++;
    inlined += frames.size() > 1;
  }
  EXPECT_EQ(compared, pcs.size());
  EXPECT_GT(inlined, 0u) << "the sample has no inlined PC";
}

INSTANTIATE_TEST_SUITE_P(Targets, Addr2line,
                         ::testing::ValuesIn(testing::all_targets({"default", "strip"})),
                         testing::target_test_name);

}  // namespace
}  // namespace leakhound::binary
