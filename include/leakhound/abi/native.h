/* Structs shared by bpf/native.bpf.c and agent/probes/. Plain C,
 * fixed-width types, explicit padding: the C++ side static_asserts the sizes. */
#ifndef LEAKHOUND_ABI_NATIVE_H
#define LEAKHOUND_ABI_NATIVE_H

#include "leakhound/abi/types.h"

#define LH_NATIVE_C_FRAMES 48  /* C frames kept per stack (kernel FP walk) */
#define LH_NATIVE_GO_FRAMES 32 /* Go frames of the goroutine behind a cgo call */

/* Per process. go = 1: a Go program whose threads find their g at
 * thread pointer + tls_g_off (FS base on amd64, TPIDR_EL0 on arm64), with
 * these runtime.g / runtime.m offsets. */
struct lh_native_config {
  lh_u64 tls_g_off; /* two's complement: negative on amd64, positive on arm64 */
  lh_u32 go;
  lh_u32 track_mmap; /* anonymous private mmap/munmap */
  lh_u32 g_m, m_g0, m_curg, g_status;
  lh_u32 g_stack_lo, g_stack_hi, g_syscallpc, g_syscallbp; /* syscallbp: sched.bp before 1.23 */
};

/* What the caller asked for (the outermost allocator call of a thread). */
enum lh_alloc_kind {
  LH_ALLOC_SKIP = 0,   /* an entry not tracked (kept for nesting depth) */
  LH_ALLOC_MALLOC = 1, /* malloc, valloc, pvalloc, memalign, aligned_alloc */
  LH_ALLOC_CALLOC = 2,
  LH_ALLOC_REALLOC = 3, /* realloc, reallocarray */
  LH_ALLOC_POSIX_MEMALIGN = 4,
  LH_ALLOC_MMAP = 5,
};

/* A thread inside an allocator call: arguments kept from entry to return. */
struct lh_native_pending {
  lh_u64 size;
  lh_u64 aux; /* realloc: the old pointer; posix_memalign: memptr */
  lh_u32 kind;
  lh_u32 depth; /* allocator calls nested in this one (glibc's realloc calls malloc) */
};

struct lh_alloc_key {
  lh_u32 tgid;
  lh_u32 pad;
  lh_u64 addr;
};

/* One outstanding allocation. */
struct lh_alloc {
  lh_u64 size;
  lh_u64 go_stack; /* key in go_stacks, 0: none */
  lh_u64 c_stack;  /* key in c_stacks (hash of the frames), 0: lost */
  lh_u32 kind;
  lh_u32 pad;
  lh_u64 ts_ns; /* bpf_ktime_get_ns at the allocation */
};

/* What one stack (of one process) has allocated since the probes went in,
 * counted as each allocation is recorded: against what the stack still holds
 * it shows whether its blocks die, and how soon (the warm-up of a stack whose
 * blocks from before attach were never seen, detect/warmup.h). */
struct lh_native_stack_key {
  lh_u32 tgid;
  lh_u32 pad;
  lh_u64 c_stack;
  lh_u64 go_stack;
};

struct lh_native_stack_total {
  lh_u64 allocs;
  lh_u64 bytes;
};

/* The C frames of an allocation (the kernel's frame-pointer walk), keyed by
 * their hash: unlike a stack-trace map, two stacks never fight over a bucket. */
struct lh_c_stack {
  lh_u32 nr;
  lh_u32 pad;
  lh_u64 pcs[LH_NATIVE_C_FRAMES];
};

struct lh_go_stack {
  lh_u32 nr;
  lh_u32 pad;
  lh_u64 pcs[LH_NATIVE_GO_FRAMES];
};

/* Per-CPU counters: indexes of native_counters. */
enum lh_native_counter {
  LH_NATIVE_ALLOCS = 0,          /* allocations recorded */
  LH_NATIVE_FREES = 1,           /* frees of recorded allocations */
  LH_NATIVE_FREES_UNKNOWN = 2,   /* frees of memory allocated before attach (or dropped) */
  LH_NATIVE_CALLS = 3,           /* probe hits (entries and returns) */
  LH_NATIVE_GO_STACKS = 4,       /* allocations attributed to a goroutine in a cgo call */
  LH_NATIVE_DROP_TABLE_FULL = 5, /* allocation not recorded: outstanding table full */
  LH_NATIVE_DROP_STACK = 6,      /* allocation recorded without its C stack (stack map full) */
  LH_NATIVE_DROP_GO_STACK = 7,   /* ... without its Go stack (go_stacks full) */
  LH_NATIVE_DROP_PENDING = 8,    /* call not followed: too many threads in allocator calls */
  LH_NATIVE_COUNTER_MAX,
};

#endif
