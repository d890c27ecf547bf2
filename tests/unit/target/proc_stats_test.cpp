#include "target/proc_stats.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

using namespace leakhound::target;

TEST(ClassifyFdLink, Kinds) {
  EXPECT_EQ(classify_fd_link("socket:[12345]"), FdKind::Socket);
  EXPECT_EQ(classify_fd_link("pipe:[42]"), FdKind::Pipe);
  EXPECT_EQ(classify_fd_link("anon_inode:[eventpoll]"), FdKind::Anon);
  EXPECT_EQ(classify_fd_link("anon_inode:inotify"), FdKind::Anon);
  EXPECT_EQ(classify_fd_link("/var/log/app.log"), FdKind::File);
  EXPECT_EQ(classify_fd_link("/tmp/x (deleted)"), FdKind::File);
  EXPECT_EQ(classify_fd_link("/dev/null"), FdKind::File);
  EXPECT_EQ(classify_fd_link("net:[4026531840]"), FdKind::Other);
  EXPECT_EQ(classify_fd_link(""), FdKind::Other);
}

TEST(ParseThreads, ReadsTheLine) {
  auto t = parse_threads("Name:\tapp\nState:\tS (sleeping)\nThreads:\t17\nSigQ:\t0/1\n");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(*t, 17u);
}

TEST(ParseThreads, Malformed) {
  EXPECT_FALSE(parse_threads("Name:\tapp\n"));
  EXPECT_FALSE(parse_threads("Name:\tapp\nThreads:\t\n"));
  EXPECT_FALSE(parse_threads("Name:\tapp\nThreads:\tlots\n"));
  EXPECT_FALSE(parse_threads("Name:\tapp\nThreads:\t12x\n"));
}

TEST(CountFds, SeesWhatThisProcessOpens) {
  auto before = count_fds(::getpid());
  ASSERT_TRUE(before) << before.error().message;
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(s, 0);
  int e = ::eventfd(0, 0);
  ASSERT_GE(e, 0);
  int f = ::open("/proc/self/stat", O_RDONLY);
  ASSERT_GE(f, 0);
  auto after = count_fds(::getpid());
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(after->pipe, before->pipe + 2);
  EXPECT_EQ(after->socket, before->socket + 1);
  EXPECT_EQ(after->anon, before->anon + 1);
  EXPECT_EQ(after->file, before->file + 1);
  EXPECT_EQ(after->total(), before->total() + 5);
  for (int fd : {p[0], p[1], s, e, f}) ::close(fd);
}

TEST(CountFds, MissingProcessIsAnError) {
  auto c = count_fds(0x7ffffff0);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("/proc/"), std::string::npos);
}

TEST(ReadThreads, CountsThreads) {
  auto one = read_threads(::getpid());
  ASSERT_TRUE(one) << one.error().message;
  std::atomic<bool> go{false};
  std::thread t([&] {
    while (!go) std::this_thread::yield();
  });
  auto two = read_threads(::getpid());
  go = true;
  t.join();
  ASSERT_TRUE(two);
  EXPECT_EQ(*two, *one + 1);
}

TEST(ReadRss, NonZero) {
  auto r = read_rss_bytes(::getpid());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_GT(*r, 0u);
}

TEST(ParseSmapsRss, EveryMappingWithItsRss) {
  auto m = parse_smaps_rss(
      "00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/dbus-daemon\n"
      "Size:                328 kB\n"
      "Rss:                 100 kB\n"
      "Pss:                  50 kB\n"
      "VmFlags: rd ex mr mw me dw\n"
      "7f4ce0000000-7f4ce0121000 rw-p 00000000 00:00 0 \n"
      "Size:               1156 kB\n"
      "Rss:                1152 kB\n"
      "VmFlags: rd wr mr mw me nr\n");
  ASSERT_TRUE(m) << m.error().message;
  ASSERT_EQ(m->size(), 2u);
  EXPECT_EQ((*m)[0].start, 0x400000u);
  EXPECT_EQ((*m)[0].end, 0x452000u);
  EXPECT_EQ((*m)[0].rss, 100u * 1024);
  EXPECT_EQ((*m)[1].start, 0x7f4ce0000000u);
  EXPECT_EQ((*m)[1].rss, 1152u * 1024);
}

TEST(ParseSmapsRss, Malformed) {
  EXPECT_FALSE(parse_smaps_rss("zz-10 rw-p 0 00:00 0\nRss: 4 kB\n"));
  EXPECT_FALSE(parse_smaps_rss("00-10 rw-p 0 00:00 0\nRss: four kB\n"));
  EXPECT_FALSE(parse_smaps_rss("00-10 rw-p 0 00:00 0\nSize: 4 kB\n"));  // no Rss
}

TEST(ReadSmapsRss, SeesThisProcessesHeap) {
  std::vector<char> block(8 << 20, 1);  // touched: resident
  auto m = read_smaps_rss(::getpid());
  ASSERT_TRUE(m) << m.error().message;
  const auto a = reinterpret_cast<uint64_t>(block.data());
  uint64_t rss = 0;
  for (const auto& x : *m)
    if (x.start <= a && a < x.end) rss = x.rss;
  EXPECT_GE(rss, block.size() / 2);
}
