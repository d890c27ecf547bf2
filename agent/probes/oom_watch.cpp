#include "probes/oom_watch.h"

#include <bpf/libbpf.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "leakhound/abi/oom.h"
#include "oom.skel.h"
#include "probes/libbpf_log.h"
#include "probes/percpu_counters.h"
#include "target/process.h"

namespace leakhound::probes {
namespace {

double clock_s(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

OomKill decode(const lh_oom_event& e) {
  static const uint64_t page = static_cast<uint64_t>(getpagesize());
  static const uint64_t ns_per_tick = 1000000000ULL / static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  OomKill k;
  k.pid = static_cast<pid_t>(e.tgid);
  k.start_time = e.start_boottime_ns / ns_per_tick;
  k.uid = e.uid;
  const double ago = clock_s(CLOCK_BOOTTIME) - static_cast<double>(e.boot_ns) / 1e9;
  k.unix_time = clock_s(CLOCK_REALTIME) - ago;
  // Per-CPU counters read without their CPUs' deltas can be slightly negative.
  auto bytes = [](lh_u64 pages) { return static_cast<int64_t>(pages) < 0 ? 0 : pages * page; };
  k.total_vm_bytes = bytes(e.total_vm_pages);
  k.anon_rss_bytes = bytes(e.anon_pages);
  k.file_rss_bytes = bytes(e.file_pages);
  k.shmem_rss_bytes = bytes(e.shmem_pages);
  k.constraint = e.constraint == LH_OOM_CONSTRAINT_MEMCG    ? OomKill::Constraint::Cgroup
                 : e.constraint == LH_OOM_CONSTRAINT_GLOBAL ? OomKill::Constraint::Global
                                                            : OomKill::Constraint::Unknown;
  k.killer = static_cast<pid_t>(e.killer_tgid);
  k.comm.assign(e.comm, strnlen(e.comm, sizeof e.comm));
  return k;
}

}  // namespace

const char* to_string(OomKill::Constraint c) {
  switch (c) {
    case OomKill::Constraint::Global:
      return "global";
    case OomKill::Constraint::Cgroup:
      return "cgroup";
    case OomKill::Constraint::Unknown:
      break;
  }
  return "unknown";
}

std::pair<uint64_t, uint64_t> kallsyms_range(std::string_view text, std::string_view name) {
  // "ffffffff816aa540 t mem_cgroup_out_of_memory\n"; module symbols add "\t[mod]".
  auto parse = [](std::string_view line, std::string_view* sym) -> uint64_t {
    uint64_t addr = 0;
    auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), addr, 16);
    if (ec != std::errc() || line.size() < static_cast<size_t>(p - line.data()) + 3) return 0;
    std::string_view rest = line.substr(static_cast<size_t>(p - line.data()) + 3);
    *sym = rest.substr(0, rest.find_first_of(" \t"));
    return addr;
  };
  auto each_line = [&](auto&& f) {
    for (size_t at = 0; at < text.size();) {
      size_t nl = text.find('\n', at);
      if (nl == std::string_view::npos) nl = text.size();
      f(text.substr(at, nl - at));
      at = nl + 1;
    }
  };
  uint64_t lo = 0;
  each_line([&](std::string_view line) {
    std::string_view sym;
    if (uint64_t a = parse(line, &sym); a && sym == name && !lo) lo = a;
  });
  if (!lo) return {0, 0};
  uint64_t hi = UINT64_MAX;
  each_line([&](std::string_view line) {
    std::string_view sym;
    if (uint64_t a = parse(line, &sym); a > lo && a < hi) hi = a;
  });
  return hi == UINT64_MAX ? std::pair<uint64_t, uint64_t>{0, 0} : std::pair{lo, hi};
}

void OomWatch::SkelDeleter::operator()(oom* s) const { oom__destroy(s); }
void OomWatch::RingDeleter::operator()(ring_buffer* r) const { ring_buffer__free(r); }

OomWatch::OomWatch(OomWatch&&) noexcept = default;
OomWatch& OomWatch::operator=(OomWatch&&) noexcept = default;
OomWatch::~OomWatch() {
  ring_.reset();  // before the map it reads
}

Result<OomWatch> OomWatch::open() {
  install_libbpf_logger();
  OomWatch w;
  w.skel_.reset(oom__open());
  if (!w.skel_) return errno_error(errno, "cannot open the OOM-kill BPF object");
  if (auto syms = target::read_text("/proc/kallsyms")) {
    auto [lo, hi] = kallsyms_range(*syms, "mem_cgroup_out_of_memory");
    w.skel_->rodata->memcg_oom_lo = lo;
    w.skel_->rodata->memcg_oom_hi = hi;
    w.constraint_known_ = lo != 0;
  }
  if (int err = oom__load(w.skel_.get()); err)
    return errno_error(-err,
                       "cannot load the OOM-kill BPF program (the mark_victim tracepoint takes "
                       "the victim's task from Linux 6.8 on)");
  if (int err = oom__attach(w.skel_.get()); err)
    return errno_error(-err, "cannot attach to the mark_victim tracepoint (tp_btf)");
  return w;
}

Result<void> OomWatch::poll(int timeout_ms, const Handler& h) {
  if (!ring_) {
    // The ring buffer's callback context is this object: created on first
    // use, after the last move.
    auto cb = [](void* ctx, void* data, size_t size) -> int {
      auto* self = static_cast<OomWatch*>(ctx);
      if (size < sizeof(lh_oom_event) || !self->handler_) return 0;
      (*self->handler_)(decode(*static_cast<const lh_oom_event*>(data)));
      return 0;
    };
    ring_.reset(ring_buffer__new(bpf_map__fd(skel_->maps.oom_events), cb, this, nullptr));
    if (!ring_) return errno_error(errno, "cannot read the OOM-kill ring buffer");
  }
  handler_ = &h;
  int n = ring_buffer__poll(ring_.get(), timeout_ms);
  handler_ = nullptr;
  if (n < 0 && n != -EINTR) return errno_error(-n, "OOM-kill ring buffer");
  return {};
}

uint64_t OomWatch::dropped() const {
  return read_percpu_counters(bpf_map__fd(skel_->maps.oom_counters), LH_OOM_COUNTER_MAX)
      .at(LH_OOM_DROP_RING_FULL);
}

}  // namespace leakhound::probes
