#!/usr/bin/env bash
# Installs what is missing, builds leakhound and every test target, runs every
# test (unit, then BPF end-to-end as root). The command README and CI use.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=${JOBS:-$(nproc)}

scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLEAKHOUND_TESTS=ON -DLEAKHOUND_WERROR=ON >/dev/null
cmake --build build -j "$jobs"
scripts/build-targets.sh build/targets
# One toolchain older than supported, for the "Go too old" error test.
VERSIONS=1.20.14 VARIANTS=default scripts/build-targets.sh build/targets

if [ "$(id -u)" -ne 0 ]; then
  echo "test.sh: not root: running unit tests only (BPF tests need root)" >&2
  exec ctest --test-dir build --output-on-failure -j "$jobs" -L unit
fi
ctest --test-dir build --output-on-failure -j "$jobs"
