#pragma once

#include <time.h>

#include <cstdint>

namespace leakhound {

// CLOCK_MONOTONIC in nanoseconds: the clock of bpf_ktime_get_ns and of the
// Go runtime's nanotime, so times from probes and from the target compare.
inline int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// CLOCK_REALTIME in microseconds since the Unix epoch: a report's instants,
// comparable with the target's own clock stamps and across processes.
inline int64_t unix_us() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

// CPU time of the calling thread (user and system: a process_vm_readv copy
// counts), in nanoseconds: what a read cost leakhound, however long it sat
// preempted on a loaded machine.
inline int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace leakhound
