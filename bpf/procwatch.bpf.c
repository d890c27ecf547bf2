// SPDX-License-Identifier: GPL-2.0
/* Process exec and exit, for the daemon: it attaches to each new Go process
 * within a poll of its exec and detaches when it exits. BTF tracepoints
 * (tp_btf): tracefs is not needed. Exit fires once per thread; only the
 * thread-group leader's exit (the process's) is sent. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "leakhound/abi/procwatch.h"
#include "maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} proc_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LH_PROCWATCH_COUNTER_MAX);
	__type(key, lh_u32);
	__type(value, lh_u64);
} procwatch_counters SEC(".maps");

static __always_inline void count(lh_u32 counter) { count_in(&procwatch_counters, counter); }

static __always_inline void send(lh_u32 kind, lh_u32 tgid) {
	struct lh_proc_event *e = bpf_ringbuf_reserve(&proc_events, sizeof(*e), 0);
	if (!e) {
		count(LH_PROCWATCH_DROP_RING_FULL);
		return;
	}
	e->kind = kind;
	e->tgid = tgid;
	bpf_ringbuf_submit(e, 0);
	count(LH_PROCWATCH_EVENTS);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(lh_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) {
	send(LH_PROC_EXEC, BPF_CORE_READ(p, tgid));
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(lh_exit, struct task_struct *p) {
	if (BPF_CORE_READ(p, pid) != BPF_CORE_READ(p, tgid))
		return 0;
	send(LH_PROC_EXIT, BPF_CORE_READ(p, tgid));
	return 0;
}
