/* OOM kills, for the daemon (bpf/oom.bpf.c): one event per victim the kernel's
 * OOM killer marks (tracepoint mark_victim). */
#ifndef LEAKHOUND_ABI_OOM_H
#define LEAKHOUND_ABI_OOM_H

#include "leakhound/abi/types.h"

/* Which limit the failed allocation hit. */
enum lh_oom_constraint {
  LH_OOM_CONSTRAINT_UNKNOWN = 0, /* mem_cgroup_out_of_memory's address unknown (kallsyms) */
  LH_OOM_CONSTRAINT_GLOBAL = 1,  /* the host's memory (or a cpuset's, a memory policy's) */
  LH_OOM_CONSTRAINT_MEMCG = 2,   /* a memory cgroup's limit */
};

/* Kernel frames searched for mem_cgroup_out_of_memory. */
#define LH_OOM_STACK_DEPTH 24

struct lh_oom_event {
  lh_u32 tgid;              /* the victim, in the agent's (initial) PID namespace */
  lh_u32 uid;               /* the victim's, as the tracepoint gives it */
  lh_u64 boot_ns;           /* when: CLOCK_BOOTTIME */
  lh_u64 start_boottime_ns; /* the victim's start (/proc/PID/stat starttime, in ns) */
  /* The victim's memory when marked, in pages: the kernel's own counters, as
   * its "Killed process" line prints them. */
  lh_u64 total_vm_pages;
  lh_u64 anon_pages;
  lh_u64 file_pages;
  lh_u64 shmem_pages;
  lh_u32 constraint;  /* enum lh_oom_constraint */
  lh_u32 killer_tgid; /* the process whose allocation failed */
  char comm[16];      /* the victim's */
};

/* Per-CPU counters: indexes of oom_counters. */
enum lh_oom_counter {
  LH_OOM_EVENTS = 0,         /* events sent */
  LH_OOM_DROP_RING_FULL = 1, /* an event lost: the ring buffer was full */
  LH_OOM_COUNTER_MAX,
};

#endif
