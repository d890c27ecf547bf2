/* Structs shared by bpf/go_heap.bpf.c and agent/probes/. Plain C, fixed-width
 * types, explicit padding: the C++ side static_asserts the sizes. */
#ifndef LEAKHOUND_ABI_GO_HEAP_H
#define LEAKHOUND_ABI_GO_HEAP_H

#include "leakhound/abi/types.h"

/* One runtime memory-profile bucket (runtime.bucket*) of one process. */
struct lh_bucket_key {
  lh_u32 tgid;
  lh_u32 pad;
  lh_u64 bucket; /* address of the runtime.bucket in the target */
};

/* Profiled events seen by the probes since attach. */
struct lh_bucket_counts {
  lh_u64 allocs; /* runtime.setprofilebucket: a sampled object got this bucket */
  lh_u64 frees;  /* runtime.mProf_Free: a sampled object of this bucket was swept */
};

/* Per process: heap-profile publications (one per GC cycle). */
struct lh_gc_state {
  lh_u64 cycles;  /* runtime.mProf_Flush calls since attach */
  lh_u64 last_ns; /* bpf_ktime_get_ns() of the latest one (CLOCK_MONOTONIC) */
  lh_u64 prev_ns; /* of the one before it: 0 until two were seen */
};

/* Per-CPU counters: indexes of go_heap_counters. */
enum lh_go_heap_counter {
  LH_GO_HEAP_DROP_BUCKET_MAP_FULL = 0, /* a profiled event not counted: bucket_counts full */
  LH_GO_HEAP_COUNTER_MAX,
};

#endif
