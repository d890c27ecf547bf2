// Move-only owners of libbpf objects.
#pragma once

#include <bpf/libbpf.h>

#include <memory>

namespace leakhound::probes {

struct LinkDeleter {
  void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
using Link = std::unique_ptr<bpf_link, LinkDeleter>;

// Routes libbpf's own log through spdlog (debug level; shown with -v).
void install_libbpf_logger();

}  // namespace leakhound::probes
