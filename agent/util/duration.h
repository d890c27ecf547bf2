#pragma once

#include <string>

#include "util/result.h"

namespace leakhound {

// "30s", "2m", "1h", "500ms", "1.5s", or plain seconds ("30"). Must be > 0.
Result<double> parse_duration(const std::string& s);

}  // namespace leakhound
