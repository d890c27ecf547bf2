#!/usr/bin/env bash
# Runs leakhound's BPF end-to-end cases inside an emulated arm64 Debian guest,
# on an x86-64 host, from Debian packages and the Go module proxy only.
#
#   scripts/arm64-vm.sh [STEP...]        (default: all of them, in this order)
#     rootfs   debootstrap --arch=arm64 (second stage through qemu-user-static
#              and binfmt), then the guest's packages with the chroot's own apt:
#              python3, Debian's linux-image-arm64 (BTF) and the -dev packages
#              leakhound links, so that the rootfs is also the cross sysroot
#     build    leakhound cross-compiled for arm64 on the host (clang
#              --target=aarch64-linux-gnu --sysroot=ROOTFS, cmake/aarch64.cmake)
#     targets  the Go and C test targets for arm64 (scripts/build-targets.sh
#              with TARGET_ARCH=arm64), for the oldest and newest supported Go
#     image    an ext4 disk image of the rootfs (mkfs.ext4 -d, no loop mount)
#     run      boots it: qemu-system-aarch64 -M virt -cpu max -smp 2 -m 4G under
#              TCG (pauth-impdef=on: QEMU's cheap pointer-authentication
#              hash), the checkout shared read-write over 9p at its own path;
#              the guest runs the cases (ARM64_VM_CASES) and powers off
#
# Environment:
#   ARM64_VM_DIR     cache (rootfs, image, cross build, targets): build/arm64-vm;
#                    `run` stages leakhound and the targets of a cache outside
#                    the checkout into build/arm64-vm-run (the guest sees only
#                    the checkout); `build` refuses a cache configured from
#                    another checkout (it would build that one's sources)
#   ARM64_VM_SUITE   Debian suite of the guest and sysroot: bookworm (the host's:
#                    the cross build uses the host's clang and protoc)
#   ARM64_VM_MIRROR  http://deb.debian.org/debian
#   ARM64_VM_CASES   the guest's commands, one a line (default below)
#   ARM64_VM_CPUS    guest CPUs (2)
#   ARM64_VM_SYSROOT the cross build's sysroot (the rootfs): any tree with the
#                    same packages, e.g. their .debs extracted over its /usr
#
# Nothing on the host changes for good but ARM64_VM_DIR: the arm64 packages come
# from the chroot's own apt, and binfmt_misc is only mounted if it was not.
# Emulation is slow (docs/testing.md has the times): the default CI run does not
# include this.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(realpath -m "${ARM64_VM_DIR:-$root/build/arm64-vm}")
suite=${ARM64_VM_SUITE:-bookworm}
mirror=${ARM64_VM_MIRROR:-http://deb.debian.org/debian}
rootfs=$dir/rootfs
versions=$(grep -v '^#' "$root/scripts/go-versions.txt" | sed -n '1p;$p')
oldest=$(echo "$versions" | head -1 | cut -d. -f1,2)
newest=$(echo "$versions" | tail -1 | cut -d. -f1,2)
mkdir -p "$dir"
log() { echo "arm64-vm: $*" >&2; }
[ "$(id -u)" -eq 0 ] || { log "needs root (debootstrap, chroot, BPF in the guest)"; exit 1; }

# The host's own packages for the steps below (installed when missing: a
# fresh machine has none of them).
HOST_PKGS=(qemu-system-arm qemu-user-static binfmt-support debootstrap
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross lld e2fsprogs ccache)
missing=()
for p in "${HOST_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The guest's packages: what leakhound links (-dev: the sysroot of the cross
# build), what the tests run with, and the kernel.
GUEST_PKGS=(
  linux-image-arm64 kmod iproute2 procps python3 python3-jsonschema
  libc6-dev libstdc++-12-dev libbpf-dev libelf-dev libdw-dev zlib1g-dev libcapstone-dev
  libcpp-httplib-dev libbpfcc-dev libprotobuf-dev libfmt-dev libspdlog-dev libcli11-dev
  nlohmann-json3-dev prometheus-cpp-dev libssl-dev
)

step_rootfs() {
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    [ -e /proc/sys/fs/binfmt_misc/register ] ||
      mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    update-binfmts --enable qemu-aarch64
  fi
  if [ ! -e "$rootfs/.debootstrap-done" ]; then
    log "debootstrap $suite arm64 into $rootfs"
    rm -rf "$rootfs"
    nice debootstrap --arch=arm64 --variant=minbase "$suite" "$rootfs" "$mirror"
    touch "$rootfs/.debootstrap-done"
  fi
  local want
  want=$(printf '%s\n' "${GUEST_PKGS[@]}" | sha256sum | cut -c1-16)
  if [ "$(cat "$rootfs/.pkgs-done" 2>/dev/null)" != "$want" ]; then
    log "installing the guest's packages in the chroot"
    # Never copy the rootfs while these are mounted (cp -a would copy /proc).
    mount -t proc proc "$rootfs/proc"
    mount --bind /dev "$rootfs/dev"
    mount -t devpts devpts "$rootfs/dev/pts"
    # shellcheck disable=SC2064
    trap "umount '$rootfs/dev/pts' '$rootfs/proc' '$rootfs/dev'" EXIT
    # No kernel postinst hooks want a bootloader, and Debian's initrd is not
    # used (make_initramfs): mkinitramfs takes over 30 minutes under qemu-user.
    printf 'do_symlinks = yes\nlink_in_boot = yes\n' >"$rootfs/etc/kernel-img.conf"
    if [ ! -e "$rootfs/usr/sbin/update-initramfs.distrib" ]; then
      chroot "$rootfs" dpkg-divert --local --rename --add /usr/sbin/update-initramfs
      ln -sf /bin/true "$rootfs/usr/sbin/update-initramfs"
    fi
    # An interrupted earlier run (e.g. a full disk) left packages half set up.
    chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive LC_ALL=C dpkg --configure -a
    chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get update -qq
    chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive LC_ALL=C nice \
      apt-get install -y -qq --no-install-recommends "${GUEST_PKGS[@]}" >"$dir/apt.log"
    chroot "$rootfs" apt-get clean
    umount "$rootfs/dev/pts" "$rootfs/proc" "$rootfs/dev"
    trap - EXIT
    echo "$want" >"$rootfs/.pkgs-done"
  fi
}


# bpf/vmlinux/arm64/vmlinux.h (checked in) from the guest kernel's own BTF,
# cut out of its Image: the .BTF blob is found by its header (magic 0xeb9f,
# version 1, header length 24) and checked by bpftool reading it whole.
step_vmlinux() {
  local h=$root/bpf/vmlinux/arm64/vmlinux.h
  [ -s "$h" ] && return 0
  local z
  z=$(ls "$rootfs"/boot/vmlinuz-* | sort -V | tail -1)
  log "vmlinux.h from the BTF in $z"
  python3 - "$z" "$dir/vmlinux.btf" <<'EOF'
import gzip, struct, sys
data = open(sys.argv[1], "rb").read()
if data[:2] == b"\x1f\x8b":
    data = gzip.decompress(data)
i = 0
while (i := data.find(b"\x9f\xeb\x01\x00\x18\x00\x00\x00", i)) >= 0:
    _, _, _, hl, toff, tlen, soff, slen = struct.unpack_from("<HBBIIIII", data, i)
    end = i + hl + max(toff + tlen, soff + slen)
    if tlen > 1 << 20 and end <= len(data):
        open(sys.argv[2], "wb").write(data[i:end])
        sys.exit(0)
    i += 1
sys.exit("no BTF in " + sys.argv[1])
EOF
  BTF=$dir/vmlinux.btf "$root/scripts/gen-vmlinux.sh" arm64
}

# leakhound for arm64: the host's clang with the rootfs as sysroot.
step_build() {
  step_vmlinux
  local b=$dir/build sysroot=${ARM64_VM_SYSROOT:-$rootfs} l
  # Absolute symlinks (libm.so -> /lib/...) point at the host's files from a
  # sysroot: the linker then takes libm.a. Relative ones mean the same in both.
  while IFS= read -r l; do
    ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$sysroot$(readlink "$l")")" "$l"
  done < <(find "$sysroot/usr/lib" -type l -lname '/*')
  # A build dir configured from another checkout builds that one's sources.
  if [ -e "$b/CMakeCache.txt" ] && ! grep -qxF "CMAKE_HOME_DIRECTORY:INTERNAL=$root" "$b/CMakeCache.txt"; then
    log "$b builds $(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$b/CMakeCache.txt"), not $root:" \
      "use an ARM64_VM_DIR of its own (the rootfs can be shared: ARM64_VM_SYSROOT)"
    exit 1
  fi
  if [ ! -e "$b/build.ninja" ]; then
    cmake -S "$root" -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64.cmake" -DCMAKE_SYSROOT="${ARM64_VM_SYSROOT:-$rootfs}" \
      -DLEAKHOUND_TESTS=OFF -DLEAKHOUND_WERROR=ON \
      -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
  fi
  nice cmake --build "$b" -j "${JOBS:-2}" --target leakhound
  file "$b/leakhound" >&2
}

# The suites' targets for arm64, oldest and newest Go (same names as on amd64).
step_targets() {
  TARGET_ARCH=arm64 TARGETS="heapleak:default goleak:default cgoleak:cgo" \
    VERSIONS="$versions" VARIANTS="default cgo" CTARGETS="cleak" JOBS=1 \
    nice "$root/scripts/build-targets.sh" "$dir/targets"
}

# PID 1 of the guest: mounts what the tests need, the checkout over 9p at the
# host's path (lh.share=), runs lh.cmd= and powers off.
GUEST_INIT='#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up
for a in $(cat /proc/cmdline); do
  case $a in lh.share=*) share=${a#lh.share=} ;; lh.cmd=*) cmd=${a#lh.cmd=} ;; esac
done
modprobe 9pnet_virtio
modprobe 9p
mkdir -p "$share"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=mmap lhshare "$share"
echo "guest: Linux $(uname -r) $(uname -m), $(nproc) CPUs, $(date -u)"
sh "$cmd"
echo "guest: done ($?)"
sync
umount "$share"
echo o >/proc/sysrq-trigger
sleep 60
'

# The initramfs: Debian's mkinitramfs takes over half an hour under
# qemu-user, so it is tools/arm64-initramfs (a static Go /init) with the
# modules that mount the root (virtio-blk, ext4) and /dev/console.
make_initramfs() {
  local kver
  kver=$(basename "$(ls -d "$rootfs"/lib/modules/* | sort -V | tail -1)")
  (cd "$root/tools/arm64-initramfs" && CGO_ENABLED=0 GOOS=linux GOARCH=arm64 \
    go build -o "$dir/init" .)
  python3 - "$rootfs/lib/modules/$kver" "$dir/init" "$dir/initrd.img" <<'EOF'
import os, sys
moddir, init, out = sys.argv[1:]
deps = {}
for line in open(os.path.join(moddir, "modules.dep")):
    k, v = line.split(":", 1)
    deps[os.path.basename(k)[:-3]] = (k, [os.path.basename(d)[:-3] for d in v.split()])
order = []
def add(m):
    for d in reversed(deps[m][1]):
        add(d)
    if m not in order:
        order.append(m)
for m in ("crc32c_generic", "virtio_pci", "virtio_blk", "ext4"):
    add(m)
entries = [("dev", 0o40755, b"", 0), ("proc", 0o40755, b"", 0), ("root", 0o40755, b"", 0),
           ("dev/console", 0o20600, b"", (5 << 8) | 1),
           ("init", 0o100755, open(init, "rb").read(), 0),
           ("modules", 0o100644, "\n".join(m + ".ko" for m in order).encode(), 0)]
entries += [(m + ".ko", 0o100644, open(os.path.join(moddir, deps[m][0]), "rb").read(), 0)
            for m in order]
entries.append(("TRAILER!!!", 0, b"", 0))
with open(out, "wb") as f:
    for ino, (name, mode, data, rdev) in enumerate(entries, 1):
        n = name.encode() + b"\0"
        f.write(("070701" + "".join("%08x" % v for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev >> 8, rdev & 0xff, len(n), 0))).encode())
        f.write(n + b"\0" * (-(110 + len(n)) % 4))
        f.write(data + b"\0" * (-len(data) % 4))
print("initramfs:", " ".join(order), file=sys.stderr)
EOF
}

# An ext4 image of the rootfs (mkfs.ext4 -d: no loop device), and the kernel
# and initrd next to it for -kernel/-initrd.
step_image() {
  printf '%s' "$GUEST_INIT" >"$rootfs/sbin/leakhound-guest-init"
  chmod 755 "$rootfs/sbin/leakhound-guest-init"
  cp "$(ls "$rootfs"/boot/vmlinuz-* | sort -V | tail -1)" "$dir/vmlinuz"
  make_initramfs
  log "ext4 image of the rootfs"
  rm -f "$dir/rootfs.ext4"
  truncate -s 8G "$dir/rootfs.ext4"
  # A plain bind mount has no submounts: never the chroot's /proc or /dev.
  local view
  view=$(mktemp -d)
  mount --bind "$rootfs" "$view"
  nice mkfs.ext4 -q -F -L lhroot -d "$view" "$dir/rootfs.ext4" || { umount "$view"; exit 1; }
  umount "$view"
  rmdir "$view"
}

# The guest's commands: a heap, a goroutine and a native case of the suites,
# oldest and newest Go. Binaries run from the guest's tmpfs, not over 9p.
DEFAULT_CASES="heap_e2e.py --versions $oldest,$newest --variants default --jobs 1 :: leak go
goroutine_e2e.py --versions $oldest,$newest --variants default --jobs 1 :: goroutines go
native_e2e.py --versions $oldest,$newest --jobs 1 :: cgo go,cgo slow churn,c fp"

step_run() {
  local cases=${ARM64_VM_CASES:-$DEFAULT_CASES}
  # The guest sees only the checkout (9p): a cache outside it is staged in.
  local share=$dir
  case $dir/ in
    "$root"/*) ;;
    *)
      share=$root/build/arm64-vm-run
      rm -rf "$share" && mkdir -p "$share/build"
      cp "$dir/build/leakhound" "$share/build/" && cp -a "$dir/targets" "$share/"
      ;;
  esac
  local cmd=$share/guest-cmd.sh
  {
    echo "cd '$root'"
    echo "mkdir -p /tmp/lh/build && cp '$share/build/leakhound' /tmp/lh/build/ && cp -a '$share/targets' /tmp/lh/"
    echo "export LEAKHOUND_BUILD_DIR=/tmp/lh/build LEAKHOUND_TARGETS_DIR=/tmp/lh/targets"
    # PID 1's 1024 open files, unlike a login or CI shell's: Go 1.18 does not
    # raise its soft limit (1.19+ does), and goroutine_e2e's unclosed HTTP
    # bodies under emulation ran out (accept4: too many open files).
    echo "ulimit -n 1048576"
    echo "/tmp/lh/build/leakhound --version"
    echo "rc=0"
    while IFS= read -r line; do
      [ -n "$line" ] || continue
      local args=${line%% :: *} only=""
      [ "$args" = "$line" ] || only=${line#* :: }
      echo "echo \"== \$(date -u +%T) $args${only:+ (LEAKHOUND_CASES=$only)}\"; t0=\$(date +%s)"
      echo "LEAKHOUND_CASES='$only' python3 tests/bpf/$args || rc=1"
      echo "echo \"== \$(( \$(date +%s) - t0 ))s\""
    done <<<"$cases"
    echo "exit \$rc"
  } >"$cmd"
  log "booting the guest (TCG: slow); console in $dir/console.log"
  nice qemu-system-aarch64 -M virt -cpu max,pauth-impdef=on -smp "${ARM64_VM_CPUS:-2}" -m 4G \
    -nographic -no-reboot -nic none \
    -kernel "$dir/vmlinuz" -initrd "$dir/initrd.img" \
    -append "console=ttyAMA0 root=/dev/vda rw init=/sbin/leakhound-guest-init panic=-1 lh.share=$root lh.cmd=$cmd" \
    -drive "file=$dir/rootfs.ext4,if=virtio,format=raw" \
    -virtfs "local,path=$root,mount_tag=lhshare,security_model=passthrough,id=lhshare" \
    </dev/null | tee "$dir/console.log"
  grep -q '^guest: done (0)' "$dir/console.log"
}

steps=${*:-rootfs build targets image run}
for s in $steps; do
  case $s in
    rootfs | vmlinux | build | targets | image | run) "step_$s" ;;
    *) log "unknown step $s"; exit 2 ;;
  esac
done
