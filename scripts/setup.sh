#!/usr/bin/env bash
# Installs everything leakhound needs to build and test, from Debian packages.
# Idempotent: packages already present are not reinstalled.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build pkg-config git
  clang llvm libbpf-dev bpftool libelf-dev libdw-dev zlib1g-dev
  libcli11-dev libspdlog-dev libfmt-dev libgtest-dev googletest
  nlohmann-json3-dev libcapstone-dev clang-format clang-tidy jq python3 util-linux strace musl-tools
  libclang-rt-14-dev libfuzzer-14-dev
  libprotobuf-dev protobuf-compiler
  libbpfcc-dev bpftrace
  prometheus-cpp-dev libcpp-httplib-dev prometheus
  chromium fonts-dejavu-core
  # goruntime/arm64_stacks_test runs the arm64 test targets under qemu-user
  qemu-user-static
  golang-go
  # bench/agent_footprint runs Debian trixie's hugo (scripts/fetch-footprint-binaries.sh),
  # which links libsass.so.1
  libsass1
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# The machine may already have a newer Go than Debian's; only install golang-go when no go at all.
if command -v go >/dev/null 2>&1; then
  missing=("${missing[@]/golang-go/}")
fi
read -r -a missing <<<"${missing[*]:-}"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# tests/real: Debian trixie's Prometheus Pushgateway (go1.24.4) and dockerd
# (go1.24.4, PIE; with the containerd it starts and runc), unpacked from their
# .debs with a private apt configuration (the system's sources stay
# bookworm's), not installed. The other real programs are bookworm's
# prometheus (above) and the go1.20 toolchain's trace tool
# (scripts/build-targets.sh fetches it).
real=/opt/leakhound/real
real_pkgs=(prometheus-pushgateway docker.io containerd runc)
if [ ! -x "$real/trixie/root/usr/bin/prometheus-pushgateway" ] ||
  [ ! -x "$real/trixie/root/usr/sbin/dockerd" ] || [ ! -x "$real/trixie/root/usr/bin/containerd" ] ||
  [ ! -x "$real/trixie/root/usr/sbin/runc" ]; then
  echo "setup: unpacking Debian trixie's ${real_pkgs[*]} into $real/trixie" >&2
  $SUDO "$(dirname "$0")/fetch-debs.sh" trixie "$real/trixie" "${real_pkgs[@]}"
fi

# Python's jsonschema (draft 2020-12 support: 4.x) validates reports against
# docs/report.schema.json (tests/schema and every BPF end-to-end test), for the
# python3 on PATH, which CMake picks to run the tests. Debian's own python3
# (prefix /usr) gets python3-jsonschema from apt: pip refuses to install into it
# (PEP 668). Any other python3 (pyenv, a venv), or an apt package too old for
# 2020-12, gets it from PyPI with pip.
has_jsonschema() { python3 -c 'import jsonschema; jsonschema.Draft202012Validator' 2>/dev/null; }
if ! has_jsonschema; then
  py="$(command -v python3)"
  if [ "$(python3 -c 'import sys; print(sys.prefix)')" = /usr ]; then
    echo "setup: installing python3-jsonschema for $py" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt_js=($SUDO apt-get install -y -qq --no-install-recommends python3-jsonschema)
    "${apt_js[@]}" >/dev/null 2>&1 || { $SUDO apt-get update -qq && "${apt_js[@]}" >/dev/null; } || true
  fi
  if ! has_jsonschema; then
    echo "setup: installing jsonschema for $py with pip" >&2
    python3 -m pip install --quiet jsonschema || python3 -m pip install --quiet --user jsonschema || true
  fi
  if ! has_jsonschema; then
    echo "setup: error: cannot make the Python package jsonschema (4.x) importable by $py;" \
      "install it for that interpreter (pip install jsonschema, or apt-get install python3-jsonschema)" >&2
    exit 1
  fi
fi
echo "setup: dependencies present" >&2
