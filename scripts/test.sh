#!/usr/bin/env bash
# Installs what is missing, builds leakhound and every test target, runs every
# test (unit, then BPF end-to-end as root). The command README and CI use.
#
#   scripts/test.sh          CI: each e2e suite runs a slice of the Go releases
#                            per build variant (oldest, newest, one in between:
#                            `python3 tests/bpf/lhtest.py` prints it)
#   scripts/test.sh --full   every e2e suite on every Go release (LEAKHOUND_FULL=1)
set -euo pipefail
case "${1:-}" in
  --full) export LEAKHOUND_FULL=1 ;;
  "") ;;
  *) echo "usage: $0 [--full]" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=${JOBS:-$(nproc)}

scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLEAKHOUND_TESTS=ON -DLEAKHOUND_WERROR=ON >/dev/null
cmake --build build -j "$jobs"
scripts/build-targets.sh build/targets
# The release before the oldest supported one, for the "Go too old" error test
# (cli_errors.py takes the minor before scripts/go-versions.txt's first).
VERSIONS=1.17.13 VARIANTS=default TARGETS=heapleak CTARGETS= scripts/build-targets.sh build/targets

if [ "$(id -u)" -ne 0 ]; then
  echo "test.sh: not root: running unit tests only (BPF tests need root)" >&2
  exec ctest --test-dir build --output-on-failure -j "$jobs" -L unit
fi
ctest --test-dir build --output-on-failure -j "$jobs"
