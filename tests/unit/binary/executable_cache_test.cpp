// ExecutableCache: one mapping per file for all of its processes, dropped
// when no process uses it, and a changed file is another file.
#include "binary/executable_cache.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <filesystem>

#include "test_support.h"

namespace leakhound::binary {
namespace {

namespace fs = std::filesystem;

TEST(ExecutableCache, SharesOneMappingPerFileWhileInUse) {
  testing::Target t{"1.26", "default"};
  ASSERT_TRUE(fs::exists(t.path())) << "missing " << t.path() << ": scripts/build-targets.sh";
  char tmpl[] = "/tmp/lh-execache-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string a = dir + "/a", b = dir + "/b";
  fs::copy_file(t.path(), a);
  fs::copy_file(t.path(), b);
  ExecutableCache cache;
  {
    auto a1 = cache.open(a), a2 = cache.open(a), b1 = cache.open(b);
    ASSERT_TRUE(a1 && a2 && b1);
    EXPECT_EQ(a1->bytes().data(), a2->bytes().data());  // one mapping
    EXPECT_NE(a1->bytes().data(), b1->bytes().data());  // a copy is another file
    EXPECT_EQ(cache.size(), 2u);
    // The same file rewritten (new modification time): mapped anew.
    struct timespec times[2] = {{0, UTIME_OMIT}, {12345, 0}};
    ASSERT_EQ(utimensat(AT_FDCWD, a.c_str(), times, 0), 0);
    auto a3 = cache.open(a);
    ASSERT_TRUE(a3);
    EXPECT_NE(a3->bytes().data(), a1->bytes().data());
    b1 = cache.open(dir + "/missing");
    EXPECT_FALSE(b1);
    EXPECT_EQ(cache.size(), 2u);  // b unused now; a's old and new mappings in use
  }
  EXPECT_EQ(cache.size(), 0u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace leakhound::binary
