// What the C allocator keeps resident: the RSS of the mappings that have held
// an outstanding allocation during the window (malloc arenas, [heap], mmapped
// chunks, tracked anonymous mmaps). Measured from /proc/PID/smaps rather than
// modelled: it includes chunk headers and rounding, free chunks the allocator
// keeps (fragmentation, per-thread arenas) and blocks allocated before attach,
// whatever the allocator (glibc, musl, jemalloc...). An anonymous mapping the
// kernel merged with a neighbour counts whole.
//
// A mapping is found only when a block traced since attach lands in it (the
// main arena may hold only older blocks for a while), so the RSS of every
// mapping is kept at every poll, as changes only, and a mapping found late
// counts from the window's start: else its whole RSS would read as growth.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "detect/trend.h"
#include "target/proc_stats.h"
#include "target/process.h"

namespace leakhound::collect {

class AllocatorResident {
 public:
  // Remembers the mappings (of `maps`, sorted by start) that hold one of
  // `addrs`: they are the allocator's from then on.
  void note(const std::vector<uint64_t>& addrs, const std::vector<target::Mapping>& maps);
  // One poll at t: the RSS of every mapping now (`smaps`, sorted by start).
  void record(double t, const std::vector<target::MappingRss>& smaps);
  // Forgets polls before t, keeping each mapping's RSS at the first kept one.
  void trim(double t);
  // The allocator's mappings' RSS summed at each poll recorded.
  std::vector<detect::Point> series() const;
  size_t mappings() const { return starts_.size(); }

 private:
  std::set<uint64_t> starts_;  // the allocator's mappings, by start address
  std::vector<double> times_;  // per poll
  // Per mapping start: (poll index, RSS) at each change; a mapping absent at
  // a poll has RSS 0 from it on.
  std::map<uint64_t, std::vector<std::pair<uint32_t, uint64_t>>> history_;
};

}  // namespace leakhound::collect
