#include "probes/libbpf_log.h"

#include <bpf/libbpf.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <string_view>

#include "util/log.h"

namespace leakhound::probes {
namespace {

int libbpf_log(enum libbpf_print_level level, const char* fmt, va_list args) {
  char buf[1024];
  int n = std::vsnprintf(buf, sizeof buf, fmt, args);
  std::string_view msg(buf, n > 0 ? std::min<size_t>(n, sizeof buf - 1) : 0);
  while (!msg.empty() && msg.back() == '\n') msg.remove_suffix(1);
  if (level == LIBBPF_DEBUG)
    spdlog::trace("libbpf: {}", msg);
  else
    spdlog::debug("libbpf: {}", msg);
  return n;
}

}  // namespace

void install_libbpf_logger() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(libbpf_log); });
}

}  // namespace leakhound::probes
