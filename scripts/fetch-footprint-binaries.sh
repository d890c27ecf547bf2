#!/usr/bin/env bash
# Large real Go executables for bench/agent_footprint: Debian trixie packages
# (Go 1.22-1.24, stripped, 54-89 MB each), downloaded with a private apt
# configuration (the system's sources are not touched) and unpacked, not
# installed, into OUT_DIR (default: build/footprint):
#   OUT_DIR/root/usr/bin/{prometheus,hugo,rclone,containerd}
# (trixie's podman and dockerd need a newer glibc or a daemon's privileges:
# not used; hugo needs libsass1, which scripts/setup.sh installs.)
#   scripts/fetch-footprint-binaries.sh [OUT_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$root/build/footprint}")
packages=${PACKAGES:-prometheus hugo rclone containerd}
mkdir -p "$out/apt/lists/partial" "$out/apt/cache/archives/partial" "$out/debs"
echo "deb http://deb.debian.org/debian trixie main" >"$out/apt/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$out/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$out/apt/lists" -o "Dir::Cache=$out/apt/cache"
  -o APT::Get::List-Cleanup=0 -o APT::Sandbox::User=root)
if [ -z "$(ls "$out/apt/lists" | grep -m1 Packages || true)" ]; then
  apt-get "${apt_opts[@]}" update >/dev/null
fi
cd "$out/debs"
for p in $packages; do
  ls "${p}"_*.deb >/dev/null 2>&1 || apt-get "${apt_opts[@]}" download "$p" >/dev/null
done
for d in *.deb; do dpkg-deb -x "$d" "$out/root"; done
ls -l "$out"/root/usr/bin/prometheus "$out"/root/usr/bin/hugo "$out"/root/usr/bin/rclone
