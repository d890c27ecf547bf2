/* runtime.g.atomicstatus values (runtime/runtime2.go; unchanged since Go
 * 1.18, 10 and 11 added in 1.26), shared by the BPF programs and
 * goruntime::GStatus so that both read a g's status the same way. */
#ifndef LEAKHOUND_ABI_G_STATUS_H
#define LEAKHOUND_ABI_G_STATUS_H

enum lh_g_status {
  LH_G_IDLE = 0,
  LH_G_RUNNABLE = 1,
  LH_G_RUNNING = 2,
  LH_G_SYSCALL = 3,
  LH_G_WAITING = 4,
  LH_G_DEAD = 6,
  LH_G_COPYSTACK = 8,
  LH_G_PREEMPTED = 9,
  LH_G_LEAKED = 10,     /* 1.26+ goroutine leak detection */
  LH_G_DEAD_EXTRA = 11, /* 1.26+ */
};

/* Set on top of a status while the GC scans the goroutine's stack. */
#define LH_G_SCAN_BIT 0x1000

#endif
