#include "goruntime/write_journal.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>

#include "target/process.h"

namespace leakhound::goruntime {
namespace {

JournaledWrite rate(uint64_t addr, int64_t written) {
  return {WriteKind::MemProfileRate, addr, 8, 0, written};
}

class Journal : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lh-journal-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = std::string(tmpl) + "/state";  // created by the first save
    ::setenv("LEAKHOUND_STATE_DIR", dir_.c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("LEAKHOUND_STATE_DIR");
    std::filesystem::remove_all(std::filesystem::path(dir_).parent_path());
  }
  std::string dir_;
};

TEST_F(Journal, SaveLoadRemove) {
  EXPECT_EQ(journal_dir(), dir_);
  ASSERT_TRUE(journal_write(4242, 987654, rate(0x5a1000, 524288)));
  EXPECT_EQ(std::filesystem::status(dir_).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_all);
  auto back = load_record(4242, 987654);
  ASSERT_TRUE(back);
  const JournaledWrite* w = back->find(WriteKind::MemProfileRate);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->addr, 0x5a1000u);
  EXPECT_EQ(w->width, 8);
  EXPECT_EQ(w->original, 0);
  EXPECT_EQ(w->written, 524288);
  EXPECT_FALSE(back->find(WriteKind::GoroutineLeakPending));
  remove_record(4242, 987654);
  EXPECT_FALSE(load_record(4242, 987654));
}

TEST_F(Journal, AReusedPidIsNotTheSameProcess) {
  ASSERT_TRUE(journal_write(4242, 987654, rate(0x5a1000, 65536)));
  EXPECT_FALSE(load_record(4242, 987655));
  EXPECT_FALSE(load_record(4243, 987654));
  auto any = load_record(4242);  // what restore shows to refuse the new process
  ASSERT_TRUE(any);
  EXPECT_EQ(any->start_time, 987654u);
}

// The process that had the PID before may not remove the record of the one
// that has it now.
TEST_F(Journal, RemoveKeepsAnotherProcesssRecord) {
  ASSERT_TRUE(journal_write(4242, 987654, rate(0x5a1000, 65536)));
  remove_record(4242, 111);
  EXPECT_TRUE(load_record(4242, 987654));
  remove_record(4242, 987654);
  EXPECT_FALSE(load_record(4242));
}

TEST_F(Journal, GarbageIsIgnored) {
  ASSERT_TRUE(journal_write(7, 1, rate(2, 4)));
  FILE* f = std::fopen((dir_ + "/writes-7").c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("not a record\n", f);
  std::fclose(f);
  EXPECT_FALSE(load_record(7, 1));
}

// The heap sampler and the goroutine leak check journal into one record;
// forgetting one kind keeps the other, and the file goes with the last.
TEST_F(Journal, KindsShareOneRecord) {
  ASSERT_TRUE(journal_write(4242, 987654, rate(0x5a1000, 524288)));
  ASSERT_TRUE(journal_write(4242, 987654, {WriteKind::GoroutineLeakPending, 0x6b2000, 1, 0, 1}));
  ASSERT_TRUE(journal_write(4242, 987654, rate(0x5a1000, 65536)));  // replaces, never duplicates
  auto r = load_record(4242, 987654);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->writes.size(), 2u);
  EXPECT_EQ(r->find(WriteKind::MemProfileRate)->written, 65536);
  const JournaledWrite* p = r->find(WriteKind::GoroutineLeakPending);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->addr, 0x6b2000u);
  EXPECT_EQ(p->width, 1);
  journal_forget(4242, 987654, WriteKind::MemProfileRate);
  r = load_record(4242, 987654);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->find(WriteKind::MemProfileRate));
  EXPECT_TRUE(r->find(WriteKind::GoroutineLeakPending));
  journal_forget(4242, 111, WriteKind::GoroutineLeakPending);  // another process's: kept
  EXPECT_TRUE(load_record(4242, 987654));
  journal_forget(4242, 987654, WriteKind::GoroutineLeakPending);
  EXPECT_FALSE(load_record(4242));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/writes-4242"));
}

// A record of a process at another start time is replaced, not merged.
TEST_F(Journal, AWriteForANewProcessReplacesTheOldRecord) {
  ASSERT_TRUE(journal_write(4242, 1, rate(0x5a1000, 524288)));
  ASSERT_TRUE(journal_write(4242, 2, {WriteKind::GoroutineLeakPending, 0x6b2000, 1, 0, 1}));
  auto r = load_record(4242);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->start_time, 2u);
  EXPECT_EQ(r->writes.size(), 1u);
}

TEST(JournalDir, UnwritableIsAnError) {
  ::setenv("LEAKHOUND_STATE_DIR", "/proc/no-such-dir", 1);
  auto r = journal_write(1, 2, rate(3, 5));
  ::unsetenv("LEAKHOUND_STATE_DIR");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/proc/no-such-dir"), std::string::npos);
}

// Records of processes that are gone go; this very process's stays.
TEST_F(Journal, PruneRemovesOnlyGoneProcesses) {
  auto self_start = target::read_start_time(getpid());
  ASSERT_TRUE(self_start);
  ASSERT_TRUE(journal_write(getpid(), *self_start, rate(0x5a1000, 524288)));
  ASSERT_TRUE(journal_write(getpid() == 1 ? 2 : 1, 1, rate(0x5a1000, 524288)));  // PID 1, not it
  const pid_t gone = 4194304 - 7;  // above any pid_max in use here
  ASSERT_TRUE(journal_write(gone, 5, rate(0x5a1000, 524288)));
  EXPECT_EQ(prune_records(), 2u);
  EXPECT_TRUE(load_record(getpid(), *self_start));
  EXPECT_FALSE(load_record(gone));
  EXPECT_EQ(prune_records(), 0u);
}

}  // namespace
}  // namespace leakhound::goruntime
