// SamplerControl on a real child process (fork of this test: same addresses),
// whose "MemProfileRate" is a global of this file.
#include "goruntime/sampler.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "goruntime/write_journal.h"

namespace leakhound::goruntime {
namespace {

int64_t g_rate = 0;  // the child's copy is the target's MemProfileRate

class Sampler : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lh-sampler-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ::setenv("LEAKHOUND_STATE_DIR", dir_.c_str(), 1);
    ASSERT_EQ(::pipe(go_), 0);
    child_ = ::fork();
    ASSERT_GE(child_, 0);
    if (child_ == 0) {
      char c;
      ::close(go_[1]);
      (void)!::read(go_[0], &c, 1);  // until the parent closes its end
      ::_exit(0);
    }
    ::close(go_[0]);
  }
  void TearDown() override {
    ::close(go_[1]);
    if (child_ > 0) {
      ::kill(child_, SIGKILL);
      ::waitpid(child_, nullptr, 0);
    }
    ::unsetenv("LEAKHOUND_STATE_DIR");
    std::filesystem::remove_all(dir_);
  }
  void reap() {
    ::kill(child_, SIGKILL);
    ::waitpid(child_, nullptr, 0);
    child_ = -1;
  }
  std::string dir_;
  int go_[2] = {-1, -1};
  pid_t child_ = -1;
};

TEST_F(Sampler, EnablesAndRestores) {
  auto proc = target::Process::open(child_);
  ASSERT_TRUE(proc) << proc.error().message;
  auto mem = target::ProcessMemory::open(child_, true);
  ASSERT_TRUE(mem) << mem.error().message;
  const auto addr = reinterpret_cast<uint64_t>(&g_rate);
  auto s = SamplerControl::open(*proc, *mem, addr, 0);
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_TRUE(s->enable(kEnableRate));
  EXPECT_EQ(*mem->read_value<int64_t>(addr), kEnableRate);
  EXPECT_TRUE(load_record(child_, proc->start_time()));
  ASSERT_TRUE(s->restore());
  EXPECT_EQ(*mem->read_value<int64_t>(addr), 0);
  EXPECT_FALSE(load_record(child_));
}

// An exited target has nothing to restore, and its PID may already belong to
// another program: restore() succeeds without reading or writing, and drops
// the journal entry of the process that is gone.
TEST_F(Sampler, RestoreLeavesAnExitedProcessAlone) {
  auto proc = target::Process::open(child_);
  ASSERT_TRUE(proc) << proc.error().message;
  auto mem = target::ProcessMemory::open(child_, true);
  ASSERT_TRUE(mem) << mem.error().message;
  const pid_t pid = child_;
  auto s = SamplerControl::open(*proc, *mem, reinterpret_cast<uint64_t>(&g_rate), 0);
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_TRUE(s->enable(kEnableRate));
  reap();
  auto r = s->restore();
  EXPECT_TRUE(r) << r.error().message;
  EXPECT_FALSE(load_record(pid));
}

}  // namespace
}  // namespace leakhound::goruntime
