#!/usr/bin/env bash
# Installs everything leakhound needs to build and test, from Debian packages.
# Idempotent: packages already present are not reinstalled.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build pkg-config git
  clang llvm libbpf-dev bpftool libelf-dev libdw-dev zlib1g-dev
  libcli11-dev libspdlog-dev libfmt-dev libgtest-dev googletest
  nlohmann-json3-dev libcapstone-dev clang-format python3 util-linux
  golang-go
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
echo "setup: dependencies present" >&2
