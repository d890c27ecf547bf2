// libbpf's own log, routed through spdlog.
#pragma once

namespace leakhound::probes {

// Routes libbpf's own log through spdlog (debug level; shown with -v).
void install_libbpf_logger();

}  // namespace leakhound::probes
