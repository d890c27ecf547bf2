// SPDX-License-Identifier: GPL-2.0
/* Goroutine creation and exit, counted per creation site (--goroutine-events).
 * Creation: uprobes on every RET of runtime.newproc1, which returns the new g
 * (never a uretprobe: it corrupts Go stacks). Exit: runtime.gdestroy(gp)
 * (1.22+; goexit0(gp) in 1.21), which every ending goroutine passes through.
 * Both run on the system stack, so neither can fire twice through morestack.
 * The site is read from the g itself (gopc, startpc), at both ends, so nothing
 * is keyed on the g pointer, which the runtime reuses. Each hit costs a uprobe
 * (microseconds): two per goroutine (docs/benchmarks.md). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "go_abi.bpf.h"
#include "leakhound/abi/goroutines.h"
#include "maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, lh_u32); /* tgid */
	__type(value, struct lh_g_config);
} g_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* resized by the loader before load */
	__type(key, struct lh_site_key);
	__type(value, struct lh_site_counts);
} site_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LH_GOROUTINES_COUNTER_MAX);
	__type(key, lh_u32);
	__type(value, lh_u64);
} goroutines_counters SEC(".maps");

static __always_inline struct lh_site_counts *site_of(lh_u64 g) {
	lh_u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct lh_g_config *cfg = bpf_map_lookup_elem(&g_config, &tgid);
	if (!cfg || !g)
		return NULL;
	struct lh_site_key key = {.tgid = tgid};
	if (bpf_probe_read_user(&key.gopc, sizeof key.gopc, (void *)(g + cfg->gopc_off)) ||
	    bpf_probe_read_user(&key.startpc, sizeof key.startpc, (void *)(g + cfg->startpc_off))) {
		count_in(&goroutines_counters, LH_GOROUTINES_DROP_READ_FAILED);
		return NULL;
	}
	struct lh_site_counts zero = {};
	struct lh_site_counts *c = lookup_or_init(&site_counts, &key, &zero);
	if (!c)
		count_in(&goroutines_counters, LH_GOROUTINES_DROP_SITE_MAP_FULL);
	return c;
}

/* At a RET of runtime.newproc1: the result (the new g) is in the first
 * result register, which Go's ABI shares with the first argument. */
SEC("uprobe")
int BPF_KPROBE(go_newproc1_ret) {
	struct lh_site_counts *c = site_of(GO_ARG1(ctx));
	if (c)
		__sync_fetch_and_add(&c->created, 1);
	return 0;
}

/* runtime.gdestroy(gp *g) / runtime.goexit0(gp *g) (1.21), at entry. */
SEC("uprobe")
int BPF_KPROBE(go_gdestroy) {
	struct lh_site_counts *c = site_of(GO_ARG1(ctx));
	if (c)
		__sync_fetch_and_add(&c->exited, 1);
	return 0;
}
