#include "target/memory.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <limits>

namespace leakhound::target {

Result<void> MemoryReader::read_many(std::span<ReadRequest> reqs) const {
  for (auto& r : reqs) r.ok = read(r.addr, r.dst, r.len).ok();
  return {};
}

Result<ProcessMemory> ProcessMemory::open(pid_t pid, bool writable) {
  ProcessMemory m;
  m.pid_ = pid;
  m.writable_ = writable;
  // Linux 5.3+; without it large reads are not guarded against a reused PID.
  // Taken before the mem fd: if that one is then of another process, the
  // pidfd's original has exited and every read says so.
  if (int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); fd >= 0)
    m.pidfd_ = UniqueFd(fd);
  const auto permission = [pid] {
    return make_error(
        "permission denied reading the memory of PID {}: run leakhound as root (or "
        "with CAP_SYS_PTRACE)",
        pid);
  };
  int fd =
      ::open(fmt::format("/proc/{}/mem", pid).c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ESRCH) return make_error("PID {} exited", pid);
    if (errno == EACCES || errno == EPERM) return permission();
    return errno_error(errno, "cannot open /proc/{}/mem", pid);
  }
  m.mem_ = UniqueFd(fd);
  // Large reads use process_vm_readv; check now that we may read at all.
  char probe;
  iovec local{&probe, 1}, remote{nullptr, 1};
  if (::process_vm_readv(pid, &local, 1, &remote, 1, 0) < 0 && (errno == EPERM || errno == ESRCH)) {
    if (errno == ESRCH) return make_error("PID {} exited", pid);
    return permission();
  }
  if (m.exited()) return make_error("PID {} exited", pid);
  return m;
}

bool ProcessMemory::exited() const {
  if (!pidfd_.valid()) return false;
  pollfd p{pidfd_.get(), POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;  // readable once the process has exited
}

Result<void> ProcessMemory::read(uint64_t addr, void* dst, size_t len) const {
  if (len == 0) return {};
  ssize_t n = 0;
  if (len <= kMemFdReadMax) {
    // Past the original's exit its memory is gone: 0 bytes, never another's.
    if (addr > static_cast<uint64_t>(std::numeric_limits<off_t>::max()))
      return make_error("cannot read {} bytes at {:#x} in PID {}", len, addr, pid_);
    n = ::pread(mem_.get(), dst, len, static_cast<off_t>(addr));
    if (n == 0) return make_error("PID {} exited", pid_);
  } else {
    iovec local{dst, len}, remote{reinterpret_cast<void*>(addr), len};
    n = ::process_vm_readv(pid_, &local, 1, &remote, 1, 0);
    if (exited()) return make_error("PID {} exited", pid_);
  }
  if (n < 0) return errno_error(errno, "cannot read {} bytes at {:#x} in PID {}", len, addr, pid_);
  if (static_cast<size_t>(n) != len)
    return make_error("short read of {} bytes at {:#x} in PID {}", len, addr, pid_);
  return {};
}

Result<void> ProcessMemory::read_many(std::span<ReadRequest> reqs) const {
  // process_vm_readv stops at the first bad remote range: batch, then retry
  // the rest after a failed one so one unmapped address doesn't fail them all.
  size_t i = 0;
  while (i < reqs.size()) {
    size_t n = std::min<size_t>(reqs.size() - i, IOV_MAX);
    std::vector<iovec> local(n), remote(n);
    for (size_t k = 0; k < n; k++) {
      local[k] = {reqs[i + k].dst, reqs[i + k].len};
      remote[k] = {reinterpret_cast<void*>(reqs[i + k].addr), reqs[i + k].len};
    }
    ssize_t got = ::process_vm_readv(pid_, local.data(), n, remote.data(), n, 0);
    if (got < 0) {
      if (errno == ESRCH) return make_error("PID {} exited", pid_);
      reqs[i].ok = false;  // the first range is unreadable; go on after it
      i++;
      continue;
    }
    size_t done = 0;
    size_t k = 0;
    for (; k < n; k++) {
      if (done + reqs[i + k].len > static_cast<size_t>(got)) break;
      done += reqs[i + k].len;
      reqs[i + k].ok = true;
    }
    if (k < n) {
      reqs[i + k].ok = false;  // partially read or unreadable
      k++;
    }
    i += k;
  }
  // Once for the batch: every range was read while the original still ran.
  if (exited()) return make_error("PID {} exited", pid_);
  return {};
}

Result<void> ProcessMemory::write(uint64_t addr, const void* src, size_t len) const {
  if (!writable_) return make_error("internal: write into PID {} refused (read-only)", pid_);
  ssize_t n = ::pwrite(mem_.get(), src, len, static_cast<off_t>(addr));
  if (n < 0) return errno_error(errno, "cannot write {} bytes at {:#x} in PID {}", len, addr, pid_);
  if (static_cast<size_t>(n) != len)
    return make_error("short write at {:#x} in PID {}", addr, pid_);
  return {};
}

void FakeMemory::map(uint64_t addr, std::vector<uint8_t> bytes) {
  regions_.emplace_back(addr, std::move(bytes));
}

Result<void> FakeMemory::read(uint64_t addr, void* dst, size_t len) const {
  for (const auto& [base, bytes] : regions_) {
    if (addr >= base && addr - base <= bytes.size() && len <= bytes.size() - (addr - base)) {
      std::memcpy(dst, bytes.data() + (addr - base), len);
      return {};
    }
  }
  return make_error("fake memory: {:#x}+{} unmapped", addr, len);
}

}  // namespace leakhound::target
