// The /proc text parsers: maps, cgroup, mountinfo, status. The first byte
// picks the parser, the rest is its input.
#include <cstddef>
#include <cstdint>
#include <string>

#include "target/cgroup.h"
#include "target/proc_stats.h"
#include "target/process.h"

using namespace leakhound::target;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 5) {
    case 0:
      (void)parse_maps(text);
      break;
    case 1:
      (void)parse_proc_cgroup(text);
      break;
    case 2:
      (void)parse_cgroup_mounts(text);
      break;
    case 3:
      (void)parse_threads(text);
      break;
    default:
      (void)classify_fd_link(text);
      break;
  }
  return 0;
}
