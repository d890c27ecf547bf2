#pragma once

#include <cstdint>
#include <string>

#include "util/result.h"

namespace leakhound {

// A memory size as Kubernetes writes it: "150Mi", "1Gi", "512Ki" (powers of
// 1024), "200M", "1G", "500k" (powers of 1000), plain bytes, an optional
// trailing "B" ("150MiB"). "0" is allowed (callers decide what it means).
Result<uint64_t> parse_size(const std::string& s);

}  // namespace leakhound
