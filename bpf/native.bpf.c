// SPDX-License-Identifier: GPL-2.0
/* Native allocations (libc malloc family, anonymous mmap) outstanding per
 * stack. Entry uprobes keep the arguments per thread; return probes (uretprobes
 * are safe on C functions, never used on Go ones) record the block with its
 * stack in `outstanding`; free/munmap delete it. User space reads the table in
 * batches and aggregates per stack. Only the outermost allocator call of a
 * thread counts: glibc's realloc and calloc may call malloc internally.
 *
 * The stack: C frames by the kernel's frame-pointer walk (taken at the return
 * probe, where the caller's frame is complete), then, for a call made from Go
 * through cgo, the Go frames of the goroutine that made it: its g is in TLS
 * (g0 of the thread's m during a cgo call), m.curg is in _Gsyscall, and its
 * saved syscallpc/syscallbp start the Go frame-pointer walk. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "leakhound/abi/g_status.h"
#include "leakhound/abi/native.h"
#include "maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define MAP_SHARED 0x01
#define MAP_FIXED 0x10
#define MAP_ANONYMOUS 0x20

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, lh_u32); /* tgid */
	__type(value, struct lh_native_config);
} native_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH); /* a thread killed mid-call must not leak an entry */
	__uint(max_entries, 16384);
	__type(key, lh_u64); /* pid_tgid */
	__type(value, struct lh_native_pending);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144); /* resized by the loader (--native-max-allocs) */
	__type(key, struct lh_alloc_key);
	__type(value, struct lh_alloc);
} outstanding SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* resized by the loader */
	__type(key, lh_u64);	    /* hash of the frames */
	__type(value, struct lh_c_stack);
} c_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, lh_u32);
	__type(value, struct lh_c_stack);
} c_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* resized by the loader */
	__type(key, lh_u64);	    /* hash of the frames */
	__type(value, struct lh_go_stack);
} go_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, lh_u32);
	__type(value, struct lh_go_stack);
} go_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* resized by the loader, as c_stacks */
	__type(key, struct lh_native_stack_key);
	__type(value, struct lh_native_stack_total);
} stack_totals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LH_NATIVE_COUNTER_MAX);
	__type(key, lh_u32);
	__type(value, lh_u64);
} native_counters SEC(".maps");

static __always_inline void count(__u32 counter) { count_in(&native_counters, counter); }

static __always_inline struct lh_native_config *process_config(void) {
	lh_u32 tgid = bpf_get_current_pid_tgid() >> 32;
	return bpf_map_lookup_elem(&native_config, &tgid);
}

/* Entry of an allocator call: keep its arguments, or count one more nested call. */
static __always_inline int enter(lh_u32 kind, lh_u64 size, lh_u64 aux) {
	if (!process_config())
		return 0;
	count(LH_NATIVE_CALLS);
	lh_u64 id = bpf_get_current_pid_tgid();
	struct lh_native_pending *p = bpf_map_lookup_elem(&pending, &id);
	if (p && p->depth > 0) {
		p->depth++;
		return 0;
	}
	struct lh_native_pending np = {.size = size, .aux = aux, .kind = kind, .depth = 1};
	if (bpf_map_update_elem(&pending, &id, &np, BPF_ANY))
		count(LH_NATIVE_DROP_PENDING);
	return 0;
}

/* The goroutine behind a cgo call, if any: its Go frames, stored once per
 * distinct stack; returns their key (0: none). */
static __always_inline lh_u64 go_stack(const struct lh_native_config *cfg) {
	/* The thread pointer: FS base on amd64, TPIDR_EL0 on arm64. */
	struct task_struct *task = bpf_get_current_task_btf();
#if defined(__TARGET_ARCH_x86)
	lh_u64 fsbase = BPF_CORE_READ(task, thread.fsbase);
#else
	lh_u64 fsbase = BPF_CORE_READ(task, thread.uw.tp_value);
#endif
	lh_u64 g = 0, m = 0, g0 = 0, curg = 0;
	if (!fsbase || bpf_probe_read_user(&g, sizeof g, (void *)(fsbase + cfg->tls_g_off)) || !g)
		return 0; /* not a Go thread */
	if (bpf_probe_read_user(&m, sizeof m, (void *)(g + cfg->g_m)) || !m ||
	    bpf_probe_read_user(&g0, sizeof g0, (void *)(m + cfg->m_g0)) || g != g0 ||
	    bpf_probe_read_user(&curg, sizeof curg, (void *)(m + cfg->m_curg)) || !curg)
		return 0; /* not in a cgo call (the runtime's own C calls run on g0 without one) */
	lh_u32 status = 0;
	if (bpf_probe_read_user(&status, sizeof status, (void *)(curg + cfg->g_status)) ||
	    (status & ~LH_G_SCAN_BIT) != LH_G_SYSCALL)
		return 0;
	lh_u64 lo = 0, hi = 0, pc = 0, bp = 0;
	if (bpf_probe_read_user(&lo, sizeof lo, (void *)(curg + cfg->g_stack_lo)) ||
	    bpf_probe_read_user(&hi, sizeof hi, (void *)(curg + cfg->g_stack_hi)) ||
	    bpf_probe_read_user(&pc, sizeof pc, (void *)(curg + cfg->g_syscallpc)) ||
	    bpf_probe_read_user(&bp, sizeof bp, (void *)(curg + cfg->g_syscallbp)) || !pc)
		return 0;

	lh_u32 zero = 0;
	struct lh_go_stack *s = bpf_map_lookup_elem(&go_scratch, &zero);
	if (!s)
		return 0;
	s->pcs[0] = pc;
	lh_u32 nr = 1;
	lh_u64 hash = stack_hash_step(STACK_HASH_INIT, pc);
	for (int i = 1; i < LH_NATIVE_GO_FRAMES; i++) {
		/* Frame records live on the goroutine's stack, in ascending order. */
		if (bp < lo || bp + 16 > hi || (bp & 7))
			break;
		lh_u64 rec[2];
		if (bpf_probe_read_user(rec, sizeof rec, (void *)bp) || !rec[1])
			break;
		s->pcs[i & (LH_NATIVE_GO_FRAMES - 1)] = rec[1];
		nr = i + 1;
		hash = stack_hash_step(hash, rec[1]);
		if (rec[0] <= bp)
			break;
		bp = rec[0];
	}
	s->nr = nr;
	hash = intern_stack(&go_stacks, hash, s);
	count(hash ? LH_NATIVE_GO_STACKS : LH_NATIVE_DROP_GO_STACK);
	return hash;
}

static __always_inline void forget(lh_u32 tgid, lh_u64 addr) {
	struct lh_alloc_key key = {.tgid = tgid, .addr = addr};
	if (bpf_map_delete_elem(&outstanding, &key) == 0)
		count(LH_NATIVE_FREES);
	else
		count(LH_NATIVE_FREES_UNKNOWN);
}

/* The C frames of this call, stored once per distinct stack; 0 when lost. */
static __always_inline lh_u64 c_stack(void *ctx) {
	lh_u32 zero = 0;
	struct lh_c_stack *s = bpf_map_lookup_elem(&c_scratch, &zero);
	if (!s)
		return 0;
	long n = bpf_get_stack(ctx, s->pcs, sizeof s->pcs, BPF_F_USER_STACK);
	if (n <= 0)
		return 0;
	lh_u32 nr = (lh_u32)n / sizeof(lh_u64);
	s->nr = nr;
	lh_u64 hash = STACK_HASH_INIT;
	for (int i = 0; i < LH_NATIVE_C_FRAMES; i++) {
		if (i >= nr)
			break;
		hash = stack_hash_step(hash, s->pcs[i]);
	}
	return intern_stack(&c_stacks, hash, s); /* 0: table full, counted by the caller */
}

static __always_inline void record(void *ctx, const struct lh_native_config *cfg, lh_u32 tgid,
				   lh_u64 addr, const struct lh_native_pending *p) {
	struct lh_alloc a = {.size = p->size, .kind = p->kind, .ts_ns = bpf_ktime_get_ns()};
	a.c_stack = c_stack(ctx);
	if (!a.c_stack)
		count(LH_NATIVE_DROP_STACK);
	if (cfg->go)
		a.go_stack = go_stack(cfg);
	struct lh_alloc_key key = {.tgid = tgid, .addr = addr};
	if (bpf_map_update_elem(&outstanding, &key, &a, BPF_ANY)) {
		count(LH_NATIVE_DROP_TABLE_FULL);
		return;
	}
	count(LH_NATIVE_ALLOCS);
	/* The stack's total. Its entry is made at its first allocation and never
	 * removed while the probes are in, so a stack that finds the table full
	 * has no total at all (judged without the warm-up fit), never a short one. */
	struct lh_native_stack_key sk = {
	    .tgid = tgid, .c_stack = a.c_stack, .go_stack = a.go_stack};
	struct lh_native_stack_total zero = {};
	struct lh_native_stack_total *t = lookup_or_init(&stack_totals, &sk, &zero);
	if (t) {
		__sync_fetch_and_add(&t->allocs, 1);
		__sync_fetch_and_add(&t->bytes, a.size);
	}
}

/* Return of an allocator call: the outermost one records what it returned. */
static __always_inline int leave(void *ctx, lh_u64 ret) {
	struct lh_native_config *cfg = process_config();
	if (!cfg)
		return 0;
	count(LH_NATIVE_CALLS);
	lh_u64 id = bpf_get_current_pid_tgid();
	lh_u32 tgid = id >> 32;
	struct lh_native_pending *pp = bpf_map_lookup_elem(&pending, &id);
	if (!pp)
		return 0;
	if (pp->depth > 1) {
		pp->depth--;
		return 0;
	}
	struct lh_native_pending p = *pp;
	bpf_map_delete_elem(&pending, &id);

	switch (p.kind) {
	case LH_ALLOC_MALLOC:
	case LH_ALLOC_CALLOC:
		if (ret)
			record(ctx, cfg, tgid, ret, &p);
		break;
	case LH_ALLOC_REALLOC:
		if (ret) {
			if (p.aux && p.aux != ret)
				forget(tgid, p.aux);
			record(ctx, cfg, tgid, ret, &p);
		} else if (p.size == 0 && p.aux) {
			forget(tgid, p.aux); /* realloc(p, 0) frees p */
		}
		break;
	case LH_ALLOC_POSIX_MEMALIGN: {
		lh_u64 addr = 0;
		if ((int)ret == 0 && !bpf_probe_read_user(&addr, sizeof addr, (void *)p.aux) &&
		    addr)
			record(ctx, cfg, tgid, addr, &p);
		break;
	}
	case LH_ALLOC_MMAP:
		if (ret && ret != (lh_u64)-1)
			record(ctx, cfg, tgid, ret, &p);
		break;
	default:
		break;
	}
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(malloc_enter, lh_u64 size) { return enter(LH_ALLOC_MALLOC, size, 0); }

/* memalign(align, size), aligned_alloc(align, size) */
SEC("uprobe")
int BPF_KPROBE(memalign_enter, lh_u64 align, lh_u64 size) {
	return enter(LH_ALLOC_MALLOC, size, 0);
}

SEC("uprobe")
int BPF_KPROBE(calloc_enter, lh_u64 n, lh_u64 size) {
	if ((n | size) >> 32)
		return enter(LH_ALLOC_SKIP, 0,
			     0); /* may overflow (calloc fails); never seen sane */
	return enter(LH_ALLOC_CALLOC, n * size, 0);
}

SEC("uprobe")
int BPF_KPROBE(realloc_enter, lh_u64 ptr, lh_u64 size) {
	return enter(LH_ALLOC_REALLOC, size, ptr);
}

SEC("uprobe")
int BPF_KPROBE(reallocarray_enter, lh_u64 ptr, lh_u64 n, lh_u64 size) {
	if ((n | size) >> 32)
		return enter(LH_ALLOC_SKIP, 0, 0);
	return enter(LH_ALLOC_REALLOC, n * size, ptr);
}

SEC("uprobe")
int BPF_KPROBE(posix_memalign_enter, lh_u64 memptr, lh_u64 align, lh_u64 size) {
	return enter(LH_ALLOC_POSIX_MEMALIGN, size, memptr);
}

/* mmap(addr, len, prot, flags, fd, off): anonymous private mappings made by
 * the program itself; MAP_FIXED remaps and PROT_NONE reservations (the Go
 * runtime's arenas) are not allocations of their own. */
SEC("uprobe")
int BPF_KPROBE(mmap_enter, lh_u64 addr, lh_u64 len, lh_u64 prot, lh_u64 flags) {
	struct lh_native_config *cfg = process_config();
	if (!cfg)
		return 0;
	bool tracked = cfg->track_mmap && (flags & MAP_ANONYMOUS) && !(flags & MAP_SHARED) &&
		       !(flags & MAP_FIXED) && prot != 0;
	return enter(tracked ? LH_ALLOC_MMAP : LH_ALLOC_SKIP, len, 0);
}

SEC("uretprobe")
int BPF_KRETPROBE(alloc_return, lh_u64 ret) { return leave(ctx, ret); }

SEC("uprobe")
int BPF_KPROBE(free_enter, lh_u64 ptr) {
	if (!ptr || !process_config())
		return 0;
	count(LH_NATIVE_CALLS);
	forget(bpf_get_current_pid_tgid() >> 32, ptr);
	return 0;
}

/* munmap(addr, len): only a whole mapping we recorded, by its start. */
SEC("uprobe")
int BPF_KPROBE(munmap_enter, lh_u64 addr) {
	struct lh_native_config *cfg = process_config();
	if (!addr || !cfg || !cfg->track_mmap)
		return 0;
	count(LH_NATIVE_CALLS);
	struct lh_alloc_key key = {.tgid = bpf_get_current_pid_tgid() >> 32, .addr = addr};
	if (bpf_map_delete_elem(&outstanding, &key) == 0)
		count(LH_NATIVE_FREES);
	return 0;
}
