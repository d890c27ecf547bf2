// SPDX-License-Identifier: GPL-2.0
/* OOM kills, for the daemon: every victim the OOM killer marks
 * (tp_btf/mark_victim, Linux 6.8+, where the task is an argument) is sent with
 * its memory at that moment. Whether a memory cgroup's limit or the host's
 * memory ran out is not an argument: the kill is a cgroup's when
 * mem_cgroup_out_of_memory is on the kernel stack (its address from kallsyms,
 * set by the loader; fentry on out_of_memory would say it too, but is not
 * available everywhere). */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "leakhound/abi/oom.h"
#include "maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* [lo, hi): mem_cgroup_out_of_memory's code; 0, 0: unknown. */
const volatile lh_u64 memcg_oom_lo = 0;
const volatile lh_u64 memcg_oom_hi = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024);
} oom_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LH_OOM_COUNTER_MAX);
	__type(key, lh_u32);
	__type(value, lh_u64);
} oom_counters SEC(".maps");

static __always_inline void count(lh_u32 counter) { count_in(&oom_counters, counter); }

static __always_inline lh_u32 constraint(void *ctx) {
	lh_u64 stack[LH_OOM_STACK_DEPTH];
	if (!memcg_oom_lo)
		return LH_OOM_CONSTRAINT_UNKNOWN;
	long n = bpf_get_stack(ctx, stack, sizeof(stack), 0);
	if (n <= 0)
		return LH_OOM_CONSTRAINT_UNKNOWN;
	for (int i = 0; i < LH_OOM_STACK_DEPTH; i++) {
		if (i * (long)sizeof(lh_u64) >= n)
			break;
		if (stack[i] >= memcg_oom_lo && stack[i] < memcg_oom_hi)
			return LH_OOM_CONSTRAINT_MEMCG;
	}
	return LH_OOM_CONSTRAINT_GLOBAL;
}

/* mm_struct's counters as percpu_counters (Linux 6.2+; every kernel with
 * mark_victim's task argument has them). Declared here so that this also
 * compiles against a vmlinux.h of an older kernel, where rss_stat is a struct
 * (bpf/vmlinux/arm64: Debian bookworm's 6.1); CO-RE maps it to mm_struct. */
struct mm_struct___v62 {
	struct percpu_counter rss_stat[NR_MM_COUNTERS];
} __attribute__((preserve_access_index));

SEC("tp_btf/mark_victim")
int BPF_PROG(lh_mark_victim, struct task_struct *task, uid_t uid) {
	lh_u32 c = constraint(ctx);
	struct lh_oom_event *e = bpf_ringbuf_reserve(&oom_events, sizeof(*e), 0);
	if (!e) {
		count(LH_OOM_DROP_RING_FULL);
		return 0;
	}
	e->tgid = BPF_CORE_READ(task, tgid);
	e->uid = uid;
	e->boot_ns = bpf_ktime_get_boot_ns();
	e->start_boottime_ns = BPF_CORE_READ(task, start_boottime);
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	struct mm_struct___v62 *mm62 = (void *)mm;
	e->total_vm_pages = mm ? BPF_CORE_READ(mm, total_vm) : 0;
	/* percpu_counter's count: get_mm_counter's value, the tracepoint's own. */
	e->file_pages = mm ? BPF_CORE_READ(mm62, rss_stat[MM_FILEPAGES].count) : 0;
	e->anon_pages = mm ? BPF_CORE_READ(mm62, rss_stat[MM_ANONPAGES].count) : 0;
	e->shmem_pages = mm ? BPF_CORE_READ(mm62, rss_stat[MM_SHMEMPAGES].count) : 0;
	e->constraint = c;
	e->killer_tgid = bpf_get_current_pid_tgid() >> 32;
	BPF_CORE_READ_STR_INTO(&e->comm, task, comm);
	bpf_ringbuf_submit(e, 0);
	count(LH_OOM_EVENTS);
	return 0;
}
