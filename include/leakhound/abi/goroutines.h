/* Structs shared by bpf/goroutines.bpf.c and agent/probes/. Plain C,
 * fixed-width types, explicit padding: the C++ side static_asserts the sizes. */
#ifndef LEAKHOUND_ABI_GOROUTINES_H
#define LEAKHOUND_ABI_GOROUTINES_H

#include "leakhound/abi/types.h"

/* Per process: where the creation site lives in its runtime.g (per Go version). */
struct lh_g_config {
  lh_u32 gopc_off;    /* g.gopc */
  lh_u32 startpc_off; /* g.startpc */
};

/* A creation site: the go statement (g.gopc) and the goroutine's function. */
struct lh_site_key {
  lh_u32 tgid;
  lh_u32 pad;
  lh_u64 gopc;
  lh_u64 startpc;
};

/* Goroutines of a site created and ended since attach. */
struct lh_site_counts {
  lh_u64 created;
  lh_u64 exited;
};

/* Per-CPU counters: indexes of goroutines_counters. */
enum lh_goroutines_counter {
  LH_GOROUTINES_DROP_SITE_MAP_FULL = 0, /* an event not counted: site_counts full */
  LH_GOROUTINES_DROP_READ_FAILED = 1,   /* the g could not be read at the probe */
  LH_GOROUTINES_COUNTER_MAX,
};

#endif
