#!/usr/bin/env bash
# Runs clang-tidy (the checks in .clang-tidy) on every agent/ source, JOBS at
# a time, and remembers each file that passed: its key is a hash of the file,
# every header it includes (ninja's dependency log), its compile command,
# .clang-tidy and the clang-tidy version, so a rerun checks only what a change
# can affect. Needs a built tree (compile_commands.json, generated skeletons).
#
#   scripts/clang-tidy.sh [BUILD_DIR [FILE...]]   default: build, every agent/*.cpp
#                                                 (ctest test clang_tidy, label lint)
set -euo pipefail
only=()
for f in "${@:2}"; do only+=("$(realpath "$f")"); done
cd "$(dirname "$0")/.."
build=$(cd "${1:-build}" && pwd)
jobs=${JOBS:-$(nproc)}
command -v clang-tidy >/dev/null || { echo "clang-tidy: not installed (scripts/setup.sh)" >&2; exit 1; }
[ -f "$build/compile_commands.json" ] || { echo "clang-tidy: no $build/compile_commands.json" >&2; exit 1; }
cache="$build/clang-tidy-cache"
mkdir -p "$cache"

# What every key shares: the checks and the tool.
export LH_TIDY_BASE
LH_TIDY_BASE=$( (cat .clang-tidy; clang-tidy --version) | sha256sum | cut -d' ' -f1)
export LH_TIDY_BUILD=$build LH_TIDY_CACHE=$cache

# One line per agent source: file <TAB> object (relative to the build dir) <TAB> command.
jq -r '.[] | select(.file | test("/agent/.*\\.cpp$")) |
       [.file, (.command | capture(" -o (?<o>[^ ]+)").o), .command] | @tsv' \
  "$build/compile_commands.json" | sort -u >"$cache/.files"
if [ "${#only[@]}" -gt 0 ]; then
  printf '%s\n' "${only[@]}" | awk -F'\t' 'NR == FNR { want[$1] = 1; next } $1 in want' - "$cache/.files" \
    >"$cache/.files.only"
  mv "$cache/.files.only" "$cache/.files"
fi

check_one() {
  local file=$1 obj=$2 cmd=$3 deps key
  # Headers from ninja's log, when up to date with the source; without them
  # (not built, or stale) the file is checked and nothing is remembered.
  deps=$(ninja -C "$LH_TIDY_BUILD" -t deps "$obj" 2>/dev/null |
    awk 'NR == 1 && !/\(VALID\)/ { exit } NR > 1 && NF { print $1 }')
  key=$( { echo "$LH_TIDY_BASE $cmd"; cat "$file"; [ -z "$deps" ] || (cd "$LH_TIDY_BUILD" && cat $deps); } |
    sha256sum | cut -d' ' -f1)
  [ -n "$deps" ] && [ -e "$LH_TIDY_CACHE/$key" ] && return 0
  if clang-tidy -p "$LH_TIDY_BUILD" --quiet "$file" 2>/dev/null >"$LH_TIDY_CACHE/.out.$key"; then
    [ -z "$deps" ] || : >"$LH_TIDY_CACHE/$key"
    rm -f "$LH_TIDY_CACHE/.out.$key"
  else
    cat "$LH_TIDY_CACHE/.out.$key"
    rm -f "$LH_TIDY_CACHE/.out.$key"
    return 1
  fi
}
export -f check_one

start=$SECONDS
n=$(wc -l <"$cache/.files")
if tr '\t\n' '\0\0' <"$cache/.files" | xargs -0 -n 3 -P "$jobs" bash -c 'check_one "$@"' _; then
  echo "clang-tidy: $n files clean ($((SECONDS - start)) s)"
else
  echo "clang-tidy: findings above (fix them, or NOLINT(check) with the reason)" >&2
  exit 1
fi
