#!/usr/bin/env bash
# Fails when a tracked C/C++ file differs from clang-format's output
# (.clang-format at the root for the agent, bpf/.clang-format for BPF code).
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.cpp' '*.h' '*.c' | grep -v '/vmlinux/' || true)
[ -n "$files" ] || { echo "check-format: no files" >&2; exit 1; }
# shellcheck disable=SC2086
clang-format --dry-run --Werror $files
echo "check-format: $(echo "$files" | wc -l) files formatted"
