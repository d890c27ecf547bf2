#include "target/process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "target/memory.h"

using namespace leakhound::target;

TEST(ParseMaps, ParsesLines) {
  auto m = parse_maps(
      "00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon\n"
      "7ffd4c1f6000-7ffd4c217000 rw-p 00000000 00:00 0                          [stack]\n"
      "7f2c1c000000-7f2c1c021000 rw-p 00000000 00:00 0 \n");
  ASSERT_TRUE(m) << m.error().message;
  ASSERT_EQ(m->size(), 3u);
  EXPECT_EQ((*m)[0].start, 0x400000u);
  EXPECT_EQ((*m)[0].end, 0x452000u);
  EXPECT_TRUE((*m)[0].exec);
  EXPECT_FALSE((*m)[0].write);
  EXPECT_EQ((*m)[0].inode, 173521u);
  EXPECT_EQ((*m)[0].dev_major, 8u);
  EXPECT_EQ((*m)[0].path, "/usr/bin/dbus-daemon");
  EXPECT_EQ((*m)[1].path, "[stack]");
  EXPECT_EQ((*m)[2].path, "");
}

TEST(ParseMaps, PathsWithSpaces) {
  auto m = parse_maps("1000-2000 r--p 00001000 00:1f 42   /tmp/my app (deleted)\n");
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)[0].path, "/tmp/my app (deleted)");
  EXPECT_EQ((*m)[0].offset, 0x1000u);
}

TEST(ParseMaps, RejectsGarbage) {
  for (const char* bad :
       {"zzzz", "1000 r--p 0 00:00 0", "2000-1000 r--p 0 00:00 0", "1000-2000 r 0 00:00 0",
        "1000-2000 r--p 0 0000 0", "1000-2000 r--p 0 00:00 x"}) {
    EXPECT_FALSE(parse_maps(bad)) << bad;
  }
}

TEST(Process, OpensSelf) {
  auto p = Process::open(getpid());
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_TRUE(p->alive());
  EXPECT_NE(p->exe_path().find("process_test"), std::string::npos);
  auto maps = p->maps();
  ASSERT_TRUE(maps);
  EXPECT_FALSE(maps->empty());
}

TEST(Process, MissingPid) {
  auto p = Process::open(0x7ffffff0);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("no process with PID"), std::string::npos);
}

TEST(ProcessMemory, ReadsOwnMemory) {
  static uint64_t values[3] = {11, 22, 33};
  auto m = ProcessMemory::open(getpid(), false);
  ASSERT_TRUE(m) << m.error().message;
  auto v = m->read_value<uint64_t>(reinterpret_cast<uint64_t>(&values[1]));
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, 22u);
  EXPECT_FALSE(m->read_value<uint64_t>(8));  // unmapped page
  EXPECT_FALSE(m->write_value<uint64_t>(reinterpret_cast<uint64_t>(&values[0]), 1));
}

TEST(ProcessMemory, ReadManySkipsBadRanges) {
  static uint64_t values[2] = {7, 9};
  auto m = ProcessMemory::open(getpid(), false);
  ASSERT_TRUE(m);
  uint64_t a = 0, b = 0, c = 0;
  ReadRequest reqs[] = {{reinterpret_cast<uint64_t>(&values[0]), &a, 8},
                        {16, &b, 8},
                        {reinterpret_cast<uint64_t>(&values[1]), &c, 8}};
  ASSERT_TRUE(m->read_many(reqs));
  EXPECT_TRUE(reqs[0].ok);
  EXPECT_FALSE(reqs[1].ok);
  EXPECT_TRUE(reqs[2].ok);
  EXPECT_EQ(a, 7u);
  EXPECT_EQ(c, 9u);
}

TEST(ProcessMemory, WritesWhenWritable) {
  static volatile uint64_t cell = 5;
  auto m = ProcessMemory::open(getpid(), true);
  ASSERT_TRUE(m) << m.error().message;
  ASSERT_TRUE(m->write_value<uint64_t>(reinterpret_cast<uint64_t>(&cell), 99));
  EXPECT_EQ(cell, 99u);
}

// A read never reaches another process: once the one opened has exited
// (here reaped too, so its PID is free), small reads (the /proc/PID/mem fd,
// bound to its memory) and large ones (process_vm_readv, checked against
// the pidfd after the read) say it exited; an exec replaces the memory the
// fd is bound to, so small reads say so too.
TEST(ProcessMemory, NoReadAfterTheProcessExitedOrExeced) {
  static uint64_t cell = 42;
  static std::vector<uint8_t> big(3 * ProcessMemory::kMemFdReadMax, 7);
  for (bool exec : {false, true}) {
    SCOPED_TRACE(exec);
    int go[2];
    ASSERT_EQ(pipe(go), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      char c;
      close(go[1]);
      if (read(go[0], &c, 1) == 1 && c == 'x') execl("/bin/sleep", "sleep", "5", nullptr);
      if (c == 'q') _exit(0);
      _exit(1);
    }
    close(go[0]);
    auto m = ProcessMemory::open(child, false);
    ASSERT_TRUE(m) << m.error().message;
    auto v = m->read_value<uint64_t>(reinterpret_cast<uint64_t>(&cell));
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(*v, 42u);
    std::vector<uint8_t> got(big.size());
    ASSERT_TRUE(m->read(reinterpret_cast<uint64_t>(big.data()), got.data(), got.size()));
    EXPECT_EQ(got, big);
    ASSERT_EQ(write(go[1], exec ? "x" : "q", 1), 1);
    close(go[1]);
    if (!exec) {
      ASSERT_EQ(waitpid(child, nullptr, 0), child);
    } else {
      // Bounded by a count, not a clock: until the exec has replaced it.
      for (int i = 0; i < 2000 && m->read_value<uint64_t>(reinterpret_cast<uint64_t>(&cell)); i++)
        usleep(1000);
    }
    auto after = m->read_value<uint64_t>(reinterpret_cast<uint64_t>(&cell));
    ASSERT_FALSE(after);
    EXPECT_NE(after.error().message.find("exited"), std::string::npos) << after.error().message;
    if (!exec) {
      auto r = m->read(reinterpret_cast<uint64_t>(big.data()), got.data(), got.size());
      ASSERT_FALSE(r);
      EXPECT_NE(r.error().message.find("exited"), std::string::npos) << r.error().message;
      uint64_t a = 0;
      ReadRequest reqs[] = {{reinterpret_cast<uint64_t>(&cell), &a, 8}};
      EXPECT_FALSE(m->read_many(reqs));
    } else {
      kill(child, SIGKILL);
      waitpid(child, nullptr, 0);
    }
  }
}

// exec keeps the PID and its start time but replaces the program: the
// addresses read before mean nothing after, so the process counts as gone.
TEST(Process, NotAliveAfterExec) {
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char c;
    close(go[1]);
    if (read(go[0], &c, 1) == 1) execl("/bin/sleep", "sleep", "5", nullptr);
    _exit(1);
  }
  close(go[0]);
  auto p = Process::open(child);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_TRUE(p->alive());
  ASSERT_EQ(write(go[1], "x", 1), 1);
  close(go[1]);
  // Wait (bounded by a count, not a clock) for the exec to land.
  bool replaced = false;
  for (int i = 0; i < 2000 && !replaced; i++) {
    char buf[256] = {};
    ssize_t n = readlink(fmt::format("/proc/{}/exe", child).c_str(), buf, sizeof buf - 1);
    replaced = n > 0 && std::string(buf, static_cast<size_t>(n)).find("sleep") != std::string::npos;
    if (!replaced) usleep(1000);
  }
  ASSERT_TRUE(replaced);
  EXPECT_FALSE(p->alive());
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
}
