// check_kernel_support on fake sysfs trees: what a kernel without BTF or
// without uprobe events shows, and the tracefs fallback libbpf uses.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "util/capabilities.h"

namespace leakhound {
namespace {

namespace fs = std::filesystem;

class FakeSys : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lh-sys-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }
  void touch(const std::string& rel) {
    fs::create_directories(fs::path(root_ + rel).parent_path());
    std::ofstream(root_ + rel) << "9\n";
  }
  std::string root_;
};

TEST_F(FakeSys, BtfAndUprobePmu) {
  touch("/kernel/btf/vmlinux");
  touch("/bus/event_source/devices/uprobe/type");
  EXPECT_TRUE(check_kernel_support(root_));
}

TEST_F(FakeSys, NoBtf) {
  touch("/bus/event_source/devices/uprobe/type");
  auto r = check_kernel_support(root_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/kernel/btf/vmlinux is missing"), std::string::npos);
  EXPECT_NE(r.error().message.find("CONFIG_DEBUG_INFO_BTF"), std::string::npos);
}

TEST_F(FakeSys, NoUprobes) {
  touch("/kernel/btf/vmlinux");
  auto r = check_kernel_support(root_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no uprobe support"), std::string::npos);
  EXPECT_NE(r.error().message.find("CONFIG_UPROBE_EVENTS"), std::string::npos);
}

// Where sysfs does not show the PMU, libbpf creates uprobes through tracefs.
TEST_F(FakeSys, TracefsUprobeEventsWithoutPmu) {
  touch("/kernel/btf/vmlinux");
  touch("/kernel/tracing/uprobe_events");
  EXPECT_TRUE(check_kernel_support(root_));
}

}  // namespace
}  // namespace leakhound
