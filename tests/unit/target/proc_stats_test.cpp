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
