#include "probes/proc_watch.h"

#include <bpf/libbpf.h>

#include <cerrno>

#include "leakhound/abi/procwatch.h"
#include "probes/libbpf_log.h"
#include "probes/percpu_counters.h"
#include "procwatch.skel.h"

namespace leakhound::probes {

void ProcWatch::SkelDeleter::operator()(procwatch* s) const { procwatch__destroy(s); }
void ProcWatch::RingDeleter::operator()(ring_buffer* r) const { ring_buffer__free(r); }

ProcWatch::ProcWatch(ProcWatch&&) noexcept = default;
ProcWatch& ProcWatch::operator=(ProcWatch&&) noexcept = default;
ProcWatch::~ProcWatch() {
  ring_.reset();  // before the map it reads
}

Result<ProcWatch> ProcWatch::open() {
  install_libbpf_logger();
  ProcWatch w;
  w.skel_.reset(procwatch__open());
  if (!w.skel_) return errno_error(errno, "cannot open the process-watch BPF object");
  if (int err = procwatch__load(w.skel_.get()); err)
    return errno_error(-err,
                       "cannot load the process-watch BPF programs (needs CAP_BPF and CAP_PERFMON, "
                       "and a kernel with BTF at /sys/kernel/btf/vmlinux)");
  if (int err = procwatch__attach(w.skel_.get()); err)
    return errno_error(-err, "cannot attach to sched_process_exec/exit (tp_btf)");
  return w;
}

Result<void> ProcWatch::poll(int timeout_ms, const Handler& h) {
  if (!ring_) {
    // The ring buffer's callback context is this object: created on first
    // use, after the last move.
    auto cb = [](void* ctx, void* data, size_t size) -> int {
      auto* self = static_cast<ProcWatch*>(ctx);
      if (size < sizeof(lh_proc_event) || !self->handler_) return 0;
      const auto* e = static_cast<const lh_proc_event*>(data);
      if (e->kind == LH_PROC_EXEC)
        (*self->handler_)(Kind::Exec, static_cast<pid_t>(e->tgid));
      else if (e->kind == LH_PROC_EXIT)
        (*self->handler_)(Kind::Exit, static_cast<pid_t>(e->tgid));
      return 0;
    };
    ring_.reset(ring_buffer__new(bpf_map__fd(skel_->maps.proc_events), cb, this, nullptr));
    if (!ring_) return errno_error(errno, "cannot read the process-event ring buffer");
  }
  handler_ = &h;
  int n = ring_buffer__poll(ring_.get(), timeout_ms);
  handler_ = nullptr;
  if (n < 0 && n != -EINTR) return errno_error(-n, "process-event ring buffer");
  return {};
}

uint64_t ProcWatch::dropped() const {
  return read_percpu_counters(bpf_map__fd(skel_->maps.procwatch_counters), LH_PROCWATCH_COUNTER_MAX)
      .at(LH_PROCWATCH_DROP_RING_FULL);
}

}  // namespace leakhound::probes
