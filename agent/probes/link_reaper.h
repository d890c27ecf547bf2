// Detaches links on a thread of its own. Removing a uprobe waits for an RCU
// grace period (0.1 to 0.5 s here, more under load): the daemon hands the
// links of an executable whose last process went to the reaper and goes on
// attaching new processes meanwhile.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "probes/bpf_link.h"

namespace leakhound::probes {

class LinkReaper {
 public:
  LinkReaper();
  ~LinkReaper();  // detaches everything still queued, then returns
  LinkReaper(const LinkReaper&) = delete;
  LinkReaper& operator=(const LinkReaper&) = delete;

  // keep: what the links' programs live in (the BPF object), released after them.
  void reap(std::vector<Link> links, std::shared_ptr<const void> keep);
  // Link sets queued or being detached.
  size_t pending() const;

 private:
  struct Job {
    std::vector<Link> links;
    std::shared_ptr<const void> keep;
  };
  void run();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  size_t busy_ = 0;
  bool stop_ = false;
  std::thread thread_;  // last: started once the rest exists
};

}  // namespace leakhound::probes
