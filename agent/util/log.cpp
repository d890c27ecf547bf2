#include "util/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace leakhound {

void init_logging(int verbosity) {
  auto logger = spdlog::stderr_color_mt("leakhound");
  logger->set_pattern("leakhound: %^%l%$: %v");
  logger->set_level(verbosity >= 2   ? spdlog::level::trace
                    : verbosity == 1 ? spdlog::level::debug
                                     : spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

}  // namespace leakhound
