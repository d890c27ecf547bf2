#include "report/folded_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "sample_report.h"

namespace leakhound::report {
namespace {

TEST(Folded, HeapRootFirstWithInuseBytes) {
  const std::string s = folded_heap(testing::sample_report());
  std::istringstream in(s);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    n++;
    EXPECT_EQ(line.rfind("runtime.goexit;net/http.HandlerFunc.ServeHTTP;main.handler;", 0), 0u)
        << line;
  }
  EXPECT_EQ(n, 4);
  EXPECT_NE(s.find(";main.fastLeak;runtime.makeslice;internal/runtime/maps.newarray;"
                   "runtime.mallocgc 3145728\n"),
            std::string::npos)
      << s;
}

TEST(Folded, GoroutinesRootedAtTheirCreationSite) {
  const std::string s = folded_goroutines(testing::sample_report());
  EXPECT_NE(s.find("created_by_main.handle;runtime.goexit;main.handle.func1;runtime.chanrecv;"
                   "runtime.gopark 1234\n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("created_by_main.startPool;"), std::string::npos) << s;
}

TEST(Folded, SeparatorsInNamesAreReplaced) {
  Report r;
  GoroutineFinding g;
  g.count = 2;
  g.created_at.function = "main.a;b c";
  g.entry.function = "main.f";
  r.goroutines.push_back(g);
  EXPECT_EQ(folded_goroutines(r), "created_by_main.a:b_c;main.f 2\n");
  r.goroutines[0].count = 0;
  EXPECT_EQ(folded_goroutines(r), "");
}

TEST(WriteTextFile, WritesAndReportsErrors) {
  char dir[] = "/tmp/lh-folded-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/out.folded";
  ASSERT_TRUE(write_text_file(path, "a;b 1\n"));
  std::ifstream f(path);
  std::string content((std::istreambuf_iterator<char>(f)), {});
  EXPECT_EQ(content, "a;b 1\n");
  auto bad = write_text_file(std::string(dir) + "/no/such/dir/x", "x");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("/no/such/dir/x"), std::string::npos);
  auto full = write_text_file("/dev/full", "x");  // the kernel's always-full device
  ASSERT_FALSE(full);
  EXPECT_NE(full.error().message.find("No space left"), std::string::npos) << full.error().message;
  ::unlink(path.c_str());
  ::rmdir(dir);
}

TEST(Folded, CallerFindingsFoldTheirChildren) {
  Report r;
  r.heap = {testing::caller({
      testing::finding(detect::Verdict::Leak, 1, 100, "main.a"),
      testing::finding(detect::Verdict::Stable, 1, 50, "main.b"),
  })};
  const std::string out = folded_heap(r);
  EXPECT_NE(out.find(";main.a;runtime.makeslice"), std::string::npos) << out;
  EXPECT_NE(out.find(" 100\n"), std::string::npos) << out;
  EXPECT_NE(out.find(" 50\n"), std::string::npos) << out;
  EXPECT_EQ(out.find(" 150\n"), std::string::npos) << out;  // never the caller's sum
}

}  // namespace
}  // namespace leakhound::report
