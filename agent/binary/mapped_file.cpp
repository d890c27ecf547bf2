#include "binary/mapped_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <mutex>

#include "util/fd.h"

namespace leakhound::binary {

namespace {

// The SIGBUS guard. A signal handler can only find the mapping that faulted
// through process-wide state: a fixed table of address ranges, read lock-free
// in the handler and written under a mutex. 4096 mappings: one per distinct
// executable and library open at once, far more than a node runs.
struct Slot {
  std::atomic<uintptr_t> start{0}, end{0};
  std::atomic<std::atomic<bool>*> damaged{nullptr};
};
constexpr size_t kSlots = 4096;

struct Guard {
  std::array<Slot, kSlots> slots;
  std::mutex mu;
  struct sigaction previous {};
  uintptr_t page_size = 4096;
};

Guard& guard() {
  static Guard* g = new Guard();  // never destroyed: the handler may run at exit
  return *g;
}

void on_sigbus(int sig, siginfo_t* si, void* ctx) {
  Guard& g = guard();
  auto addr = reinterpret_cast<uintptr_t>(si->si_addr);
  for (auto& s : g.slots) {
    uintptr_t start = s.start.load(std::memory_order_acquire);
    if (start == 0 || addr < start || addr >= s.end.load(std::memory_order_relaxed)) continue;
    // The file shrank under the mapping: a private zero page stands in for
    // the lost one, and the faulting read is retried on it.
    void* page = reinterpret_cast<void*>(addr & ~(g.page_size - 1));
    if (mmap(page, g.page_size, PROT_READ, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) ==
        MAP_FAILED) {
      break;
    }
    if (auto* d = s.damaged.load(std::memory_order_relaxed)) d->store(true);
    return;
  }
  // Not one of ours: whoever handled SIGBUS before, or the default action
  // (the faulting instruction runs again and the signal kills the process).
  const struct sigaction& p = g.previous;
  if ((p.sa_flags & SA_SIGINFO) && p.sa_sigaction != nullptr) {
    p.sa_sigaction(sig, si, ctx);
  } else if (p.sa_handler != SIG_DFL && p.sa_handler != SIG_IGN) {
    p.sa_handler(sig);
  } else {
    signal(SIGBUS, SIG_DFL);
  }
}

Result<void> install_guard() {
  static std::once_flag once;
  static int err = 0;
  std::call_once(once, [] {
    Guard& g = guard();
    g.page_size = uintptr_t(sysconf(_SC_PAGESIZE));
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &g.previous) != 0) err = errno;
  });
  if (err != 0) return errno_error(err, "cannot install the SIGBUS handler for mapped files");
  return ok_result();
}

}  // namespace

Result<std::shared_ptr<const MappedFile>> MappedFile::open(const std::string& path) {
  if (auto r = install_guard(); !r) return r.error();
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return errno_error(errno, "{}: cannot open", path);
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return errno_error(errno, "{}: cannot stat", path);
  if (!S_ISREG(st.st_mode)) return make_error("{}: not a regular file", path);
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->dev_ = st.st_dev;
  m->ino_ = st.st_ino;
  m->mtime_ns_ = int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  if (st.st_size <= 0) return std::shared_ptr<const MappedFile>(std::move(m));
  const size_t size = size_t(st.st_size);
  void* p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (p == MAP_FAILED) return errno_error(errno, "{}: cannot map", path);
  Guard& g = guard();
  m->base_ = static_cast<const uint8_t*>(p);
  m->size_ = size;
  m->map_len_ = (size + g.page_size - 1) & ~(g.page_size - 1);
  std::lock_guard lock(g.mu);
  for (size_t i = 0; i < kSlots; i++) {
    Slot& s = g.slots[i];
    if (s.start.load(std::memory_order_relaxed) != 0) continue;
    s.end.store(reinterpret_cast<uintptr_t>(p) + m->map_len_, std::memory_order_relaxed);
    s.damaged.store(&m->damaged_, std::memory_order_relaxed);
    s.start.store(reinterpret_cast<uintptr_t>(p), std::memory_order_release);
    m->slot_ = int(i);
    return std::shared_ptr<const MappedFile>(std::move(m));
  }
  // ~MappedFile unmaps it.
  return make_error("{}: cannot map: {} files are mapped already", path, kSlots);
}

MappedFile::~MappedFile() {
  if (slot_ >= 0) {
    Guard& g = guard();
    std::lock_guard lock(g.mu);
    g.slots[slot_].start.store(0, std::memory_order_release);
  }
  if (base_ != nullptr) munmap(const_cast<uint8_t*>(base_), map_len_);
}

void MappedFile::release_pages() const {
  // Pages that stand in for lost ones would read the shrunk file again: keep them.
  if (base_ != nullptr && !damaged()) {
    madvise(const_cast<uint8_t*>(base_), map_len_, MADV_DONTNEED);
    // Later reads are scattered lookups (a function's line table for a
    // PC): without fault-around each maps one page, not sixteen.
    madvise(const_cast<uint8_t*>(base_), map_len_, MADV_RANDOM);
  }
}

}  // namespace leakhound::binary
