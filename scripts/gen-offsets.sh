#!/usr/bin/env bash
# Generates agent/goruntime/g_layout_table.inc (the layout of runtime.g and the
# wait reason strings, per Go minor release) and
# agent/goruntime/memstats_layout_table.inc (the fields of runtime.memstats and
# runtime.gcController) and agent/goruntime/heap_layout_table.inc (the heap's
# spans, specials, type descriptors and moduledata's pointer masks, for the
# retention walk) from the DWARF of the heapleak targets built by every
# toolchain in scripts/go-versions.txt.
#
#   scripts/gen-offsets.sh [OUT [MS_OUT [HEAP_OUT]]]  builds the targets (cached), writes
#                                               OUT, MS_OUT and HEAP_OUT (default: the three .inc)
#   scripts/gen-offsets.sh --check [F [MS_F [HEAP_F]]]  regenerates into a temp dir from the
#                                               targets already built and fails with
#                                               the diff when a file differs; a
#                                               missing target is an error (the
#                                               g_layout_drift test)
#
# Targets: $LEAKHOUND_TARGETS_DIR (default: build/targets)/heapleak-go1.NN-default.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
check=0
if [ "${1:-}" = --check ]; then
  check=1
  shift
fi
[ $# -le 3 ] || { echo "usage: $0 [--check] [OUT [MS_OUT [HEAP_OUT]]]" >&2; exit 2; }
out=$(realpath -m "${1:-$root/agent/goruntime/g_layout_table.inc}")
ms_out=$(realpath -m "${2:-$root/agent/goruntime/memstats_layout_table.inc}")
heap_out=$(realpath -m "${3:-$root/agent/goruntime/heap_layout_table.inc}")
targets=$(realpath -m "${LEAKHOUND_TARGETS_DIR:-$root/build/targets}")
versions=$(grep -v '^#' "$root/scripts/go-versions.txt" | grep .)

if [ "$check" = 0 ]; then
  TARGETS=heapleak VARIANTS=default "$root/scripts/build-targets.sh" "$targets"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bins=()
for v in $versions; do
  bin="$targets/heapleak-go${v%.*}-default"
  if [ ! -f "$bin" ]; then
    echo "gen-offsets: $bin is missing: run scripts/build-targets.sh" >&2
    exit 1
  fi
  # `go version FILE` prints "FILE: go1.N.P".
  got=$(go version "$bin" | sed 's/.*: //')
  if [ "$got" != "go$v" ]; then
    echo "gen-offsets: $bin was built by $got, not go$v: run scripts/build-targets.sh" >&2
    exit 1
  fi
  bins+=("$bin")
done

(cd "$root/tools/gen-offsets" && GOTOOLCHAIN=local GOFLAGS= CGO_ENABLED=0 \
  go build -o "$tmp/gen-offsets" .)
"$tmp/gen-offsets" "${bins[@]}" >"$tmp/table.inc"
"$tmp/gen-offsets" -memstats "${bins[@]}" >"$tmp/ms_table.inc"
"$tmp/gen-offsets" -heap "${bins[@]}" >"$tmp/heap_table.inc"

if [ "$check" = 1 ]; then
  status=0
  for pair in "$out:$tmp/table.inc" "$ms_out:$tmp/ms_table.inc" "$heap_out:$tmp/heap_table.inc"; do
    f=${pair%%:*}
    if ! diff -u "$f" "${pair#*:}" >"$tmp/diff"; then
      cat "$tmp/diff"
      echo "gen-offsets: $f differs from the DWARF of the targets (diff above:" \
        "- checked in, + regenerated): run scripts/gen-offsets.sh" >&2
      status=1
    else
      echo "gen-offsets: $f matches the DWARF of ${#bins[@]} targets"
    fi
  done
  exit $status
fi
for pair in "$out:$tmp/table.inc" "$ms_out:$tmp/ms_table.inc" "$heap_out:$tmp/heap_table.inc"; do
  f=${pair%%:*}
  mkdir -p "$(dirname "$f")"
  cp "${pair#*:}" "$f.tmp.$$"
  mv "$f.tmp.$$" "$f"
  echo "gen-offsets: wrote $f (${#bins[@]} Go versions)" >&2
done
