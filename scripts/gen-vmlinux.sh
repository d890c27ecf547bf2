#!/usr/bin/env bash
# Regenerates the checked-in vmlinux.h from the running kernel's BTF.
# BPF programs are CO-RE, so one header serves every kernel with BTF.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
arch=${1:-x86}
btf=${BTF:-/sys/kernel/btf/vmlinux}
[ -r "$btf" ] || { echo "gen-vmlinux: $btf not readable (kernel built without BTF?)" >&2; exit 1; }
mkdir -p "$root/bpf/vmlinux/$arch"
bpftool btf dump file "$btf" format c >"$root/bpf/vmlinux/$arch/vmlinux.h"
echo "wrote bpf/vmlinux/$arch/vmlinux.h" >&2
