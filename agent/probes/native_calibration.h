// What one native probe hit costs on this machine, measured rather than
// assumed: the report multiplies it by the target's call rate.
#pragma once

#include <cstdint>
#include <span>

#include "util/result.h"

namespace leakhound::probes {

// Attaches the native programs (entry, return and free probes, as on a real
// allocator) to two functions of leakhound itself, times calls with and
// without them, and returns the cost of one probe hit in nanoseconds (the
// mean over malloc's entry and return and free's entry). A probed function
// whose first instruction the kernel cannot emulate costs a second trap
// (single-step): *_emulated says which kind the real malloc and free are.
// Takes 0.02-0.1 s.
Result<double> measure_native_probe_cost(bool malloc_emulated, bool free_emulated);

// Whether the kernel emulates the instruction at a probed function's entry
// (x86-64: push, nop) rather than single-stepping it.
bool uprobe_emulated(std::span<const uint8_t> entry);

}  // namespace leakhound::probes
