#include "probes/percpu_counters.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

namespace leakhound::probes {

std::vector<uint64_t> read_percpu_counters(int map_fd, uint32_t slots) {
  std::vector<uint64_t> out(slots, 0);
  long ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return out;
  std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpu));
  for (uint32_t key = 0; key < slots; key++) {
    if (bpf_map_lookup_elem(map_fd, &key, per_cpu.data())) continue;
    for (uint64_t v : per_cpu) out[key] += v;
  }
  return out;
}

uint64_t sum_percpu_counters(int map_fd, uint32_t slots) {
  uint64_t total = 0;
  for (uint64_t v : read_percpu_counters(map_fd, slots)) total += v;
  return total;
}

}  // namespace leakhound::probes
