#!/usr/bin/env bash
# Large real Go executables for bench/agent_footprint: Debian trixie packages
# (Go 1.22-1.24, stripped, 54-89 MB each), downloaded with a private apt
# configuration (the system's sources are not touched) and unpacked, not
# installed, into OUT_DIR (default: build/footprint; scripts/fetch-debs.sh):
#   OUT_DIR/root/usr/bin/{prometheus,hugo,rclone,containerd}
# (trixie's podman and dockerd need a newer glibc or a daemon's privileges:
# not used; hugo needs libsass1, which scripts/setup.sh installs.)
#   scripts/fetch-footprint-binaries.sh [OUT_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$root/build/footprint}")
# shellcheck disable=SC2086 # PACKAGES is a list
"$root/scripts/fetch-debs.sh" trixie "$out" ${PACKAGES:-prometheus hugo rclone containerd}
ls -l "$out"/root/usr/bin/prometheus "$out"/root/usr/bin/hugo "$out"/root/usr/bin/rclone
