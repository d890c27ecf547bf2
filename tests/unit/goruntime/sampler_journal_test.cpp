#include "goruntime/sampler_journal.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>

#include "target/process.h"

namespace leakhound::goruntime {
namespace {

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
  SamplerRecord r{4242, 987654, 0x5a1000, 0, 524288};
  ASSERT_TRUE(save_record(r));
  EXPECT_EQ(std::filesystem::status(dir_).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_all);
  auto back = load_record(4242, 987654);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->rate_addr, 0x5a1000u);
  EXPECT_EQ(back->original, 0);
  EXPECT_EQ(back->written, 524288);
  remove_record(4242, 987654);
  EXPECT_FALSE(load_record(4242, 987654));
}

TEST_F(Journal, AReusedPidIsNotTheSameProcess) {
  ASSERT_TRUE(save_record({4242, 987654, 0x5a1000, 0, 65536}));
  EXPECT_FALSE(load_record(4242, 987655));
  EXPECT_FALSE(load_record(4243, 987654));
  auto any = load_record(4242);  // what restore shows to refuse the new process
  ASSERT_TRUE(any);
  EXPECT_EQ(any->start_time, 987654u);
}

// The process that had the PID before may not remove the record of the one
// that has it now.
TEST_F(Journal, RemoveKeepsAnotherProcesssRecord) {
  ASSERT_TRUE(save_record({4242, 987654, 0x5a1000, 0, 65536}));
  remove_record(4242, 111);
  EXPECT_TRUE(load_record(4242, 987654));
  remove_record(4242, 987654);
  EXPECT_FALSE(load_record(4242));
}

TEST_F(Journal, GarbageIsIgnored) {
  ASSERT_TRUE(save_record({7, 1, 2, 3, 4}));
  FILE* f = std::fopen((dir_ + "/sampler-7").c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("not a record\n", f);
  std::fclose(f);
  EXPECT_FALSE(load_record(7, 1));
}

TEST(JournalDir, UnwritableIsAnError) {
  ::setenv("LEAKHOUND_STATE_DIR", "/proc/no-such-dir", 1);
  auto r = save_record({1, 2, 3, 4, 5});
  ::unsetenv("LEAKHOUND_STATE_DIR");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/proc/no-such-dir"), std::string::npos);
}

// Records of processes that are gone go; this very process's stays.
TEST_F(Journal, PruneRemovesOnlyGoneProcesses) {
  auto self_start = target::read_start_time(getpid());
  ASSERT_TRUE(self_start);
  ASSERT_TRUE(save_record({getpid(), *self_start, 0x5a1000, 0, 524288}));
  ASSERT_TRUE(save_record({getpid() == 1 ? 2 : 1, 1, 0x5a1000, 0, 524288}));  // PID 1, not it
  const pid_t gone = 4194304 - 7;  // above any pid_max in use here
  ASSERT_TRUE(save_record({gone, 5, 0x5a1000, 0, 524288}));
  EXPECT_EQ(prune_records(), 2u);
  EXPECT_TRUE(load_record(getpid(), *self_start));
  EXPECT_FALSE(load_record(gone));
  EXPECT_EQ(prune_records(), 0u);
}

}  // namespace
}  // namespace leakhound::goruntime
