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
#
# C targets (tests/targets/c, gcc, same caching; CTARGETS="" skips them):
#   cleak:      OUT_DIR/cleak-fp + libleaky-fp.so (-fno-omit-frame-pointer) and
#               OUT_DIR/cleak-nofp + libleaky-nofp.so (-fomit-frame-pointer),
#               each program linked to its library with rpath $ORIGIN
#   cleak-libc: cleak and libleaky in one executable, against other C
#               libraries: OUT_DIR/cleak-static (glibc, -static),
#               OUT_DIR/cleak-musl (musl-gcc, dynamic: musl's libc.so) and
#               OUT_DIR/cleak-musl-static (musl-gcc -static); frame pointers on
#   mallocloop: OUT_DIR/mallocloop (-fno-omit-frame-pointer)
#   pidat:      OUT_DIR/pidat (runs a program as a chosen PID: PID reuse tests)
#
# TARGET_ARCH=arm64 builds every variant for arm64 under the same names (for a
# separate OUT_DIR run on arm64: scripts/arm64-vm.sh); cgo and the C targets
# then use aarch64-linux-gnu-gcc (Debian's gcc-aarch64-linux-gnu) unless CC says.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$root/build/targets}")
mkdir -p "$out"
src=$root/tests/targets/go
versions=${VERSIONS:-$(grep -v '^#' "$root/scripts/go-versions.txt")}
# A target may name its own variants: "goleak:default,pie" (VARIANTS still filters).
targets=${TARGETS:-heapleak goleak:default,strip,pie,cgo,arm64 shapes:default,strip cgoleak:cgo busy:cgo retainleak:default,strip}
ctargets=${CTARGETS-cleak cleak-libc mallocloop pidat}
variants=${VARIANTS:-default strip pie cgo pprof arm64 arm64-strip}
jobs=${JOBS:-2}
local_go=$(go env GOVERSION)
goarch=${TARGET_ARCH:-amd64}
case $goarch in
  amd64) cgo_cc=${CC:-gcc} ;;
  arm64) cgo_cc=${CC:-aarch64-linux-gnu-gcc} ;;
  *) echo "build-targets: unsupported TARGET_ARCH $goarch" >&2; exit 1 ;;
esac

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
  local env=(CGO_ENABLED=0 GOOS=linux GOARCH="$goarch" GOFLAGS=-trimpath=false)
  local flags=()
  local common=(-buildvcs=false)
  # Go 1.17 (the "too old" error test's toolchain) has no -buildvcs and stamps nothing.
  [ "${minor#1.}" -ge 18 ] || common=()
  case $var in
    default) ;;
    strip) flags=(-ldflags=-s\ -w) ;;
    pie) flags=(-buildmode=pie) ;;
    cgo) env=(CGO_ENABLED=1 GOOS=linux GOARCH="$goarch")
         # amd64 keeps its old key (the same binaries, not rebuilt).
         [ "$goarch" = amd64 ] || env+=(CC="$cgo_cc") ;;
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
export out src local_go goarch cgo_cc

# build_c NAME FLAGS...: C target NAME from tests/targets/c; OUT_DIR/NAME.key
# holds a hash of the sources, the flags and the compiler version.
csrc=$root/tests/targets/c
cc=$cgo_cc
build_c() {
  local name=$1; shift
  local cflags=(-O2 -g -Wall -Wextra "$@")
  local dest="$out/$name"
  local files=() lib="" srcs=() compiler=$cc
  case $name in
    cleak-fp | cleak-nofp)
      lib="libleaky-${name#cleak-}.so"; files=(libleaky.h libleaky.c cleak.c); srcs=(cleak.c) ;;
    # One executable: the allocator is the executable itself (static) or musl's libc.
    cleak-static | cleak-musl | cleak-musl-static)
      files=(libleaky.h libleaky.c cleak.c); srcs=(cleak.c libleaky.c)
      case $name in *musl*) compiler=musl-gcc ;; esac ;;
    mallocloop | pidat) files=("$name.c"); srcs=("$name.c") ;;
    *) echo "unknown C target $name" >&2; return 1 ;;
  esac
  if ! command -v "$compiler" >/dev/null; then
    echo "build-targets: FAILED $name: $compiler not found (scripts/setup.sh installs it)" >&2
    return 1
  fi
  local defs=()  # the program's own; derived from the name, which the key has
  case $name in cleak-*) defs=(-DVARIANT="\"${name#cleak-}\"") ;; esac
  local key
  key=$( (cd "$csrc" && cat "${files[@]}"; echo "$name ${cflags[*]}"; "$compiler" --version | head -1) | sha256sum | cut -c1-16)
  if [ -x "$dest" ] && { [ -z "$lib" ] || [ -f "$out/$lib" ]; } && [ "$(cat "$dest.key" 2>/dev/null)" = "$key" ]; then
    return 0
  fi
  local tmp
  tmp=$(mktemp -d "$out/.build-$name.XXXXXX")
  if ! (
    set -e
    cd "$csrc"
    if [ -n "$lib" ]; then
      "$compiler" "${cflags[@]}" -fPIC -shared -Wl,-soname,"$lib" -o "$tmp/$lib" libleaky.c
      "$compiler" "${cflags[@]}" "${defs[@]}" -o "$tmp/$name" "${srcs[@]}" \
        -L"$tmp" -l:"$lib" -Wl,-rpath,'$ORIGIN'
    else
      "$compiler" "${cflags[@]}" "${defs[@]}" -o "$tmp/$name" "${srcs[@]}"
    fi
  ) >"$dest.log" 2>&1; then
    echo "build-targets: FAILED $name (see $dest.log)" >&2
    cat "$dest.log" >&2
    rm -rf "$tmp"
    return 1
  fi
  [ -z "$lib" ] || mv "$tmp/$lib" "$out/$lib"
  mv "$tmp/$name" "$dest"
  rm -rf "$tmp"
  echo "$key" >"$dest.key"
  echo "build-targets: built $name${lib:+ + $lib}" >&2
}

rc=0
for t in $ctargets; do
  case $t in
    cleak)
      build_c cleak-fp -fno-omit-frame-pointer || rc=1
      build_c cleak-nofp -fomit-frame-pointer || rc=1
      ;;
    cleak-libc)
      build_c cleak-static -fno-omit-frame-pointer -static || rc=1
      build_c cleak-musl -fno-omit-frame-pointer || rc=1
      build_c cleak-musl-static -fno-omit-frame-pointer -static || rc=1
      ;;
    mallocloop) build_c mallocloop -fno-omit-frame-pointer || rc=1 ;;
    pidat) build_c pidat || rc=1 ;;
    *) echo "build-targets: unknown C target $t" >&2; rc=1 ;;
  esac
done

if [ -s "$jobsfile" ]; then
  xargs -P "$jobs" -L 1 bash -c 'build_one "$@"' _ <"$jobsfile" || rc=$?
fi
exit "$rc"
