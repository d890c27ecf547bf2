#include "target/cgroup.h"

#include <gtest/gtest.h>
#include <unistd.h>

using namespace leakhound::target;

TEST(ParseProcCgroup, V1AndV2Lines) {
  auto e = parse_proc_cgroup(
      "12:memory:/kubepods/burstable/pod1234/abcd\n"
      "4:cpu,cpuacct:/x\n"
      "1:name=systemd:/init.scope\n"
      "0::/system.slice/app.service\n");
  ASSERT_TRUE(e) << e.error().message;
  ASSERT_EQ(e->size(), 4u);
  EXPECT_EQ((*e)[0].hierarchy, 12);
  EXPECT_EQ((*e)[0].controllers, (std::vector<std::string>{"memory"}));
  EXPECT_EQ((*e)[0].path, "/kubepods/burstable/pod1234/abcd");
  EXPECT_EQ((*e)[1].controllers, (std::vector<std::string>{"cpu", "cpuacct"}));
  EXPECT_TRUE((*e)[3].controllers.empty());
  EXPECT_EQ((*e)[3].path, "/system.slice/app.service");
}

TEST(ParseProcCgroup, PathsWithColons) {
  auto e = parse_proc_cgroup("0::/a:b/c\n");
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)[0].path, "/a:b/c");
}

TEST(ParseProcCgroup, Malformed) {
  EXPECT_FALSE(parse_proc_cgroup("garbage\n"));
  EXPECT_FALSE(parse_proc_cgroup("x:memory:/a\n"));
  EXPECT_FALSE(parse_proc_cgroup("3:memory\n"));
}

TEST(ParseCgroupMounts, FindsV1AndV2) {
  auto m = parse_cgroup_mounts(
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory\n"
      "40 31 0:35 /sub /sys/fs/cgroup/unified\\040dir rw,relatime - cgroup2 cgroup2 rw\n"
      "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n");
  ASSERT_TRUE(m) << m.error().message;
  ASSERT_EQ(m->size(), 2u);
  EXPECT_FALSE((*m)[0].v2);
  EXPECT_EQ((*m)[0].mount_point, "/sys/fs/cgroup/memory");
  EXPECT_EQ((*m)[0].controllers, (std::vector<std::string>{"rw", "memory"}));
  EXPECT_TRUE((*m)[1].v2);
  EXPECT_EQ((*m)[1].root, "/sub");
  EXPECT_EQ((*m)[1].mount_point, "/sys/fs/cgroup/unified dir");
}

TEST(ParseCgroupMounts, Malformed) {
  EXPECT_FALSE(parse_cgroup_mounts("35 31 0:32 / /sys/fs/cgroup/memory rw\n"));
  EXPECT_FALSE(parse_cgroup_mounts("35 - cgroup cgroup rw,memory\n"));
}

TEST(ReadMemoryLimit, ThisProcess) {
  // Whatever the machine's setup, this process's own limit reads cleanly or
  // says why not; never crashes.
  auto m = read_memory_limit(::getpid());
  if (m) {
    EXPECT_TRUE(m->version == 1 || m->version == 2);
    EXPECT_GT(m->usage_bytes, 0u);
    EXPECT_FALSE(m->usage_file.empty());
    auto u = read_usage(*m);
    ASSERT_TRUE(u) << u.error().message;
  } else {
    EXPECT_NE(m.error().message.find("cgroup"), std::string::npos) << m.error().message;
  }
  EXPECT_FALSE(read_memory_limit(0x7ffffff0));
}
