// Reading the per-CPU u64 counter arrays every probe family keeps
// (`<family>_counters` maps indexed by `enum lh_<family>_counter`).
#pragma once

#include <cstdint>
#include <vector>

namespace leakhound::probes {

// Per-CPU array of u64 counters: each of the first `slots` keys summed over CPUs.
std::vector<uint64_t> read_percpu_counters(int map_fd, uint32_t slots);

// Sum over CPUs and the first `slots` keys of a per-CPU array of u64 counters.
uint64_t sum_percpu_counters(int map_fd, uint32_t slots);

}  // namespace leakhound::probes
