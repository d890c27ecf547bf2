// LinkReaper: what it is handed is released on its own thread, after the
// links, and nothing queued is lost when it is destroyed.
#include "probes/link_reaper.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace leakhound::probes {
namespace {

struct Released {
  std::atomic<int> count{0};
  std::atomic<bool> on_caller{false};
};

std::shared_ptr<const void> keep(Released& r, std::thread::id caller) {
  return std::shared_ptr<const void>(new int(0), [&r, caller](const void* p) {
    if (std::this_thread::get_id() == caller) r.on_caller = true;
    delete static_cast<const int*>(p);
    r.count++;
  });
}

TEST(LinkReaper, ReleasesOnItsOwnThread) {
  Released r;
  LinkReaper reaper;
  for (int i = 0; i < 5; i++) reaper.reap({}, keep(r, std::this_thread::get_id()));
  for (int i = 0; i < 2000 && (r.count < 5 || reaper.pending() > 0); i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(r.count, 5);
  EXPECT_EQ(reaper.pending(), 0u);
  EXPECT_FALSE(r.on_caller);
}

TEST(LinkReaper, DestructorDrainsTheQueue) {
  Released r;
  {
    LinkReaper reaper;
    for (int i = 0; i < 100; i++) reaper.reap({}, keep(r, std::this_thread::get_id()));
  }
  EXPECT_EQ(r.count, 100);
}

}  // namespace
}  // namespace leakhound::probes
