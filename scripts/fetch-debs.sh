#!/usr/bin/env bash
# Downloads Debian packages of another suite with a private apt configuration
# (the system's sources are not touched) and unpacks them, not installs them,
# into OUT_DIR/root (OUT_DIR/apt holds apt's lists and cache, OUT_DIR/debs the
# .debs). Idempotent: a package already downloaded is not fetched again.
#   scripts/fetch-debs.sh SUITE OUT_DIR PACKAGE...
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 SUITE OUT_DIR PACKAGE..." >&2; exit 2; }
suite=$1
out=$(realpath -m "$2")
shift 2
mkdir -p "$out/apt/lists/partial" "$out/apt/cache/archives/partial" "$out/debs" "$out/root"
echo "deb http://deb.debian.org/debian $suite main" >"$out/apt/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$out/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$out/apt/lists" -o "Dir::Cache=$out/apt/cache"
  -o APT::Get::List-Cleanup=0 -o APT::Sandbox::User=root)
cd "$out/debs"
for p in "$@"; do
  if ! ls "${p}"_*.deb >/dev/null 2>&1; then
    if [ -z "$(ls "$out/apt/lists" | grep -m1 Packages || true)" ]; then
      apt-get "${apt_opts[@]}" update >/dev/null
    fi
    # Lists kept from an earlier run may name a version the archive dropped since.
    apt-get "${apt_opts[@]}" download "$p" >/dev/null 2>&1 ||
      { apt-get "${apt_opts[@]}" update >/dev/null && apt-get "${apt_opts[@]}" download "$p" >/dev/null; }
  fi
  dpkg-deb -x "$(ls "${p}"_*.deb | head -1)" "$out/root"
done
