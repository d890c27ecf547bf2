/* Go's register-based calling convention (ABIInternal, Go 1.17+): integer
 * arguments in RAX, RBX, RCX, RDI, RSI, R8-R11 on amd64 and R0-R15 on arm64.
 * Not the C convention, so PT_REGS_PARMn does not apply. */
#ifndef LEAKHOUND_GO_ABI_BPF_H
#define LEAKHOUND_GO_ABI_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>

#if defined(__TARGET_ARCH_x86)
#define GO_ARG1(ctx) ((__u64)BPF_CORE_READ((ctx), ax))
#define GO_ARG2(ctx) ((__u64)BPF_CORE_READ((ctx), bx))
#define GO_ARG3(ctx) ((__u64)BPF_CORE_READ((ctx), cx))
#elif defined(__TARGET_ARCH_arm64)
#define GO_ARG1(ctx) ((__u64)BPF_CORE_READ((struct user_pt_regs *)(ctx), regs[0]))
#define GO_ARG2(ctx) ((__u64)BPF_CORE_READ((struct user_pt_regs *)(ctx), regs[1]))
#define GO_ARG3(ctx) ((__u64)BPF_CORE_READ((struct user_pt_regs *)(ctx), regs[2]))
#else
#error "unsupported architecture"
#endif

#endif
