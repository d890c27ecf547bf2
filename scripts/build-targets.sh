#!/usr/bin/env bash
# Builds every test target for every Go version and build variant, once, and
# caches the result: a binary is rebuilt only when its sources or build recipe change.
#
#   scripts/build-targets.sh [OUT_DIR]            (default: build/targets)
#   TARGETS="heapleak goleak:default,pie" VERSIONS="1.26.8" VARIANTS="default pie" scripts/build-targets.sh
#
# Built with -buildvcs=false: a binary must not depend on the checkout it was
# built in (Go 1.24+ would stamp a VCS pseudo-version into its module version).
# Output: OUT_DIR/<target>-go1.NN-<variant>[-arm64]
# Variants: default (CGO_ENABLED=0), strip (-s -w), pie (-buildmode=pie),
#           cgo (CGO_ENABLED=1, external linking), pprof (serves net/http/pprof:
#           heap sampler on), arm64 (cross-built, for parser tests only).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$root/build/targets}")
mkdir -p "$out"
src=$root/tests/targets/go
versions=${VERSIONS:-$(grep -v '^#' "$root/scripts/go-versions.txt")}
# A target may name its own variants: "goleak:default,pie" (VARIANTS still filters).
targets=${TARGETS:-heapleak goleak:default,strip,pie,cgo shapes:default}
variants=${VARIANTS:-default strip pie cgo pprof arm64 arm64-strip}
jobs=${JOBS:-2}
local_go=$(go env GOVERSION)

jobsfile=$(mktemp)
trap 'rm -f "$jobsfile"' EXIT
for spec in $targets; do
  t=${spec%%:*}
  own=$variants
  if [ "$spec" != "$t" ]; then
    own=""
    for var in $(echo "${spec#*:}" | tr , ' '); do
      case " $variants " in *" $var "*) own="$own $var" ;; esac
    done
  fi
  for v in $versions; do
    for var in $own; do
      echo "$t $v $var" >>"$jobsfile"
    done
  done
done

build_one() {
  local t=$1 v=$2 var=$3
  local minor=${v%.*}
  local name="$t-go$minor-$var"
  local dest="$out/$name"
  local tc="go$v"
  [ "$tc" = "$local_go" ] && tc=local
  local env=(CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GOFLAGS=-trimpath=false)
  local flags=()
  local common=(-buildvcs=false)
  case $var in
    default) ;;
    strip) flags=(-ldflags=-s\ -w) ;;
    pie) flags=(-buildmode=pie) ;;
    cgo) env=(CGO_ENABLED=1 GOOS=linux GOARCH=amd64) ;;
    pprof) flags=(-tags=pprof) ;;
    arm64) env=(CGO_ENABLED=0 GOOS=linux GOARCH=arm64) ;;
    arm64-strip) env=(CGO_ENABLED=0 GOOS=linux GOARCH=arm64); flags=(-ldflags=-s\ -w) ;;
    *) echo "unknown variant $var" >&2; return 1 ;;
  esac
  local key
  key=$( (cat "$src/go.mod"; find "$src/$t" -type f -print0 | sort -z | xargs -0 cat; echo "$tc ${env[*]} ${common[*]} ${flags[*]}") | sha256sum | cut -c1-16)
  if [ -x "$dest" ] && [ "$(cat "$dest.key" 2>/dev/null)" = "$key" ]; then
    return 0
  fi
  local tmp="$dest.tmp.$$"
  if ! (cd "$src" && env "${env[@]}" GOTOOLCHAIN="$tc" go build "${common[@]}" "${flags[@]}" -o "$tmp" "./$t") >"$dest.log" 2>&1; then
    echo "build-targets: FAILED $name (see $dest.log)" >&2
    cat "$dest.log" >&2
    rm -f "$tmp"
    return 1
  fi
  mv "$tmp" "$dest"
  echo "$key" >"$dest.key"
  echo "build-targets: built $name" >&2
}
export -f build_one
export out src local_go

xargs -P "$jobs" -L 1 bash -c 'build_one "$@"' _ <"$jobsfile"
