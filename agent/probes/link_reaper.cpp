#include "probes/link_reaper.h"

namespace leakhound::probes {

LinkReaper::LinkReaper() : thread_([this] { run(); }) {}

LinkReaper::~LinkReaper() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void LinkReaper::reap(std::vector<Link> links, std::shared_ptr<const void> keep) {
  {
    std::lock_guard lock(mu_);
    jobs_.push_back(Job{std::move(links), std::move(keep)});
  }
  cv_.notify_one();
}

size_t LinkReaper::pending() const {
  std::lock_guard lock(mu_);
  return jobs_.size() + busy_;
}

void LinkReaper::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, and nothing left
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    ++busy_;
    lock.unlock();
    destroy_links(job.links);
    job.keep.reset();
    lock.lock();
    --busy_;
  }
}

}  // namespace leakhound::probes
