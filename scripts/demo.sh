#!/usr/bin/env bash
# Installs, builds, starts the bundled leaky Go programs (heap, then goroutines,
# then C memory taken through cgo) and attaches leakhound to each.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target leakhound
minor=$(go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')
VERSIONS=$(go env GOVERSION | sed 's/^go//') TARGETS="heapleak:default goleak:default cgoleak:cgo" \
  CTARGETS="" scripts/build-targets.sh build/targets
demo=build/targets/heapleak-go$minor-default
godemo=build/targets/goleak-go$minor-default
cgodemo=build/targets/cgoleak-go$minor-cgo

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "demo: starting $demo (leaks ~1 MiB/s of 256 KiB buffers in main.leakOne, churns 100 MB/s of garbage)"
"$demo" -interval 5s -leak-size 262144 >/tmp/leakhound-demo.log 2>&1 &
pid=$!
gpid=""
cpid=""
trap 'kill $pid $gpid $cpid 2>/dev/null || true' EXIT
sleep 3
echo "demo: sudo build/leakhound attach $pid --duration ${DEMO_DURATION:-20s}"
$SUDO build/leakhound attach "$pid" --duration "${DEMO_DURATION:-20s}"
kill $pid 2>/dev/null || true

echo
echo "demo: starting $godemo (goroutines blocked forever on a channel, unclosed HTTP bodies,"
echo "      tickers never stopped, contexts never cancelled; a worker pool and bursts as controls)"
"$godemo" -rate 10 -interval 5s >/tmp/leakhound-godemo.log 2>&1 &
gpid=$!
sleep 2
echo "demo: sudo build/leakhound attach $gpid --duration ${DEMO_DURATION:-20s}"
$SUDO build/leakhound attach "$gpid" --duration "${DEMO_DURATION:-20s}"
kill $gpid 2>/dev/null || true

echo
echo "demo: starting $cgodemo (leaks C memory through C.CString in main.leakCString, 50 KB/s;"
echo "      balanced malloc/free and realloc chains in C as controls)"
"$cgodemo" -interval 5s >/tmp/leakhound-cgodemo.log 2>&1 &
cpid=$!
sleep 2
echo "demo: sudo build/leakhound attach $cpid --duration ${DEMO_DURATION:-20s}"
$SUDO build/leakhound attach "$cpid" --duration "${DEMO_DURATION:-20s}"
