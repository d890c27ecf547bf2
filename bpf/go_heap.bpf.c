// SPDX-License-Identifier: GPL-2.0
/* Go heap. Always: one probe on runtime.mProf_Flush, which publishes the heap
 * profile once per GC cycle, so user space reads the runtime's buckets right
 * after each GC and knows when it happened. Optionally (--heap-events): the
 * runtime's own profiled allocations and frees, counted per memory-profile
 * bucket. The runtime samples about one allocation per MemProfileRate bytes,
 * so those fire far less often than allocations, but still once per sample:
 * each uprobe hit costs microseconds, which adds up at GB/s allocation rates
 * (docs/benchmarks.md). Probing every allocation (mallocgc) would cost ~10x. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "go_abi.bpf.h"
#include "leakhound/abi/go_heap.h"
#include "maps.bpf.h"

/* Programs use BPF_KPROBE: libbpf 1.1 has no BPF_UPROBE; a uprobe gets the same pt_regs. */

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* resized by the loader before load */
	__type(key, struct lh_bucket_key);
	__type(value, struct lh_bucket_counts);
} bucket_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, lh_u32); /* tgid */
	__type(value, struct lh_gc_state);
} gc_state SEC(".maps"); /* also the set of watched processes: user space adds each
			  * tgid before it is watched, so one probe set on a binary
			  * serves every process of it that is watched, and no other */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LH_GO_HEAP_COUNTER_MAX);
	__type(key, lh_u32);
	__type(value, lh_u64);
} go_heap_counters SEC(".maps");

static __always_inline struct lh_bucket_counts *counts_for(lh_u64 bucket) {
	lh_u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!bpf_map_lookup_elem(&gc_state, &tgid))
		return 0; /* not a watched process */
	struct lh_bucket_key key = {
	    .tgid = tgid,
	    .bucket = bucket,
	};
	struct lh_bucket_counts zero = {};
	struct lh_bucket_counts *c = lookup_or_init(&bucket_counts, &key, &zero);
	if (!c)
		count_in(&go_heap_counters, LH_GO_HEAP_DROP_BUCKET_MAP_FULL);
	return c;
}

/* runtime.setprofilebucket(p unsafe.Pointer, b *bucket), every Go version:
 * called once per sampled allocation, on the system stack. */
SEC("uprobe")
int BPF_KPROBE(go_setprofilebucket) {
	struct lh_bucket_counts *c = counts_for(GO_ARG2(ctx));
	if (c)
		__sync_fetch_and_add(&c->allocs, 1);
	return 0;
}

/* runtime.mProf_Free(b *bucket, size uintptr) (1.27: (b *bucket)): called by
 * the sweeper when a sampled object is freed. */
SEC("uprobe")
int BPF_KPROBE(go_mprof_free) {
	struct lh_bucket_counts *c = counts_for(GO_ARG1(ctx));
	if (c)
		__sync_fetch_and_add(&c->frees, 1);
	return 0;
}

/* runtime.mProf_Flush(), every Go version: publishes the heap profile of the
 * GC cycle that just ended (called from gcMarkTermination). */
SEC("uprobe")
int BPF_KPROBE(go_mprof_flush) {
	lh_u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct lh_gc_state *st = bpf_map_lookup_elem(&gc_state, &tgid);
	if (!st)
		return 0; /* not a watched process */
	st->prev_ns = st->last_ns;
	st->last_ns = bpf_ktime_get_ns();
	__sync_fetch_and_add(&st->cycles, 1);
	return 0;
}
