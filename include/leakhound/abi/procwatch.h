/* Process exec/exit events for the daemon (bpf/procwatch.bpf.c). */
#ifndef LEAKHOUND_ABI_PROCWATCH_H
#define LEAKHOUND_ABI_PROCWATCH_H

#include "leakhound/abi/types.h"

enum lh_proc_event_kind { LH_PROC_EXEC = 1, LH_PROC_EXIT = 2 };

struct lh_proc_event {
  lh_u32 kind; /* enum lh_proc_event_kind */
  lh_u32 tgid; /* in the agent's (initial) PID namespace */
};

/* Per-CPU counters: indexes of procwatch_counters. */
enum lh_procwatch_counter {
  LH_PROCWATCH_EVENTS = 0,         /* events sent */
  LH_PROCWATCH_DROP_RING_FULL = 1, /* an event lost: the ring buffer was full */
  LH_PROCWATCH_COUNTER_MAX,
};

#endif
