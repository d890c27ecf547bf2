#include "collect/native/allocator_resident.h"

#include <algorithm>

namespace leakhound::collect {

void AllocatorResident::note(const std::vector<uint64_t>& addrs,
                             const std::vector<target::Mapping>& maps) {
  for (uint64_t a : addrs) {
    auto it = std::upper_bound(maps.begin(), maps.end(), a,
                               [](uint64_t x, const target::Mapping& m) { return x < m.start; });
    if (it == maps.begin()) continue;
    --it;
    if (a < it->end) starts_.insert(it->start);
  }
}

void AllocatorResident::record(double t, const std::vector<target::MappingRss>& smaps) {
  const auto poll = static_cast<uint32_t>(times_.size());
  times_.push_back(t);
  std::set<uint64_t> seen;
  for (const auto& m : smaps) {
    seen.insert(m.start);
    auto& h = history_[m.start];
    if (h.empty() || h.back().second != m.rss) h.emplace_back(poll, m.rss);
  }
  for (auto it = history_.begin(); it != history_.end();) {
    auto& h = it->second;
    if (!seen.count(it->first) && h.back().second != 0) h.emplace_back(poll, 0);
    // A mapping gone for good and never the allocator's: nothing to keep.
    if (h.size() == 1 && h.back().second == 0 && !starts_.count(it->first))
      it = history_.erase(it);
    else
      ++it;
  }
}

void AllocatorResident::trim(double t) {
  const auto first = std::lower_bound(times_.begin(), times_.end(), t);
  const auto drop = static_cast<uint32_t>(first - times_.begin());
  if (drop == 0) return;
  times_.erase(times_.begin(), first);
  for (auto it = history_.begin(); it != history_.end();) {
    auto& h = it->second;
    // The value in force at the first kept poll, then the later changes.
    auto later = std::find_if(h.begin(), h.end(), [&](const auto& e) { return e.first >= drop; });
    if (later != h.begin() && (later == h.end() || later->first > drop)) --later;
    h.erase(h.begin(), later);
    for (auto& e : h) e.first = e.first >= drop ? e.first - drop : 0;
    if (h.size() == 1 && h.front().second == 0)
      it = history_.erase(it);
    else
      ++it;
  }
}

std::vector<detect::Point> AllocatorResident::series() const {
  std::vector<detect::Point> out(times_.size());
  for (size_t i = 0; i < times_.size(); i++) out[i].t_s = times_[i];
  for (uint64_t start : starts_) {
    auto it = history_.find(start);
    if (it == history_.end()) continue;
    const auto& h = it->second;
    for (size_t k = 0; k < h.size(); k++) {
      const uint32_t to = k + 1 < h.size() ? h[k + 1].first : static_cast<uint32_t>(out.size());
      for (uint32_t i = h[k].first; i < to && i < out.size(); i++)
        out[i].value += static_cast<double>(h[k].second);
    }
  }
  return out;
}

}  // namespace leakhound::collect
