#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz; clang, ASan+UBSan) in build-fuzz and
# runs each for a bounded time on seed corpora from real inputs: the test
# targets of every Go version (ELF), this machine's /proc files (text).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      (default 20; CI's fuzz_smoke test)
# A crash, leak or sanitizer report fails the run and leaves the input in
# build-fuzz/artifacts. Longer runs: see docs/testing.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
secs=${1:-20}
out=$root/build-fuzz
targets=${LEAKHOUND_TARGETS_DIR:-$root/build/targets}
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -g -O1"
cmake -S . -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLEAKHOUND_TESTS=OFF -DLEAKHOUND_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_C_FLAGS="$flags" >/dev/null
cmake --build "$out" --target fuzz_elf fuzz_proc_text fuzz_runtime_memory >/dev/null

seeds=$out/seeds
rm -rf "$seeds" && mkdir -p "$seeds"/{elf,proc_text,runtime_memory} "$out/artifacts"
# ELF seeds: the test target of every Go version (x86-64 and arm64) shrunk to
# what the parsers read (whole binaries fuzz 30 times slower): without a
# symbol table, with .symtab and DWARF, without section headers; cgo and PIE
# builds with .symtab and DWARF. Every release of scripts/go-versions.txt that
# the shrinker reads: its pclntab re-encoder knows the 1.20+ format only.
for v in $(grep -v '^#' scripts/go-versions.txt | grep . | cut -d. -f2); do
  [ "$v" -ge 20 ] || continue
  for arch in default arm64; do
    b=$targets/heapleak-go1.$v-$arch
    [ -f "$b" ] || { echo "fuzz: missing $b: run scripts/build-targets.sh" >&2; exit 1; }
    python3 tests/fuzz/shrink_go_elf.py "$b" "$seeds/elf/go1.$v-$arch"
    python3 tests/fuzz/shrink_go_elf.py "$b" "$seeds/elf/go1.$v-$arch-symtab" --symtab --dwarf zlib
    python3 tests/fuzz/shrink_go_elf.py "$b" "$seeds/elf/go1.$v-$arch-bare" --no-section-headers
  done
  for variant in cgo pie; do
    python3 tests/fuzz/shrink_go_elf.py "$targets/heapleak-go1.$v-$variant" \
      "$seeds/elf/go1.$v-$variant" --symtab --dwarf zlib
  done
done
python3 tests/fuzz/shrink_go_elf.py "$targets/heapleak-go1.26-default" \
  "$seeds/elf/go1.26-default-dwarf-plain" --symtab --dwarf plain
i=0
for f in /proc/self/maps /proc/self/cgroup /proc/self/mountinfo /proc/self/status; do
  { printf "\\x$(printf %02x $i)"; cat "$f"; } >"$seeds/proc_text/$i"
  i=$((i + 1))
done
head -c 4096 /dev/urandom >"$seeds/runtime_memory/random"
# Inputs that once found a bug: run first every time, so it stays fixed.
cp tests/fuzz/regressions/runtime_memory/* "$seeds/runtime_memory/"

run() {
  local name=$1 corpus=$2 maxlen=$3
  local work=$out/corpus/$name
  mkdir -p "$work"
  if ! "$out/tests/fuzz/$name" "$work" "$corpus" -max_total_time="$secs" -max_len="$maxlen" \
    -rss_limit_mb=4096 -artifact_prefix="$out/artifacts/$name-" -print_final_stats=1 \
    >"$out/$name.log" 2>&1; then
    echo "fuzz: $name FAILED:" >&2
    tail -40 "$out/$name.log" >&2
    return 1
  fi
  echo "fuzz: $name ok: $(grep -E 'stat::number_of_executed_units' "$out/$name.log" | awk '{print $2}') executions in ${secs}s" >&2
}
rc=0
run fuzz_elf "$seeds/elf" 131072 & p1=$!
run fuzz_proc_text "$seeds/proc_text" 65536 & p2=$!
wait $p1 || rc=1
wait $p2 || rc=1
run fuzz_runtime_memory "$seeds/runtime_memory" 65536 || rc=1
exit $rc
