#include "target/native_symbolizer.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <thread>

#include "target/process.h"

using leakhound::Frame;
using leakhound::target::Mapping;
using leakhound::target::NativeSymbolizer;

namespace {

constexpr int kMarkerLine = __LINE__ + 2;  // the line of the function's name
extern "C" __attribute__((noinline)) int lh_symbolizer_marker(int x) {
  asm volatile("" ::: "memory");
  return x * 3 + 1;
}

namespace inner {
__attribute__((noinline)) int cxx_marker(int x, const std::string& s) {
  asm volatile("" ::: "memory");
  return x + static_cast<int>(s.size());
}
}  // namespace inner

// The caller's return address, i.e. just past the call in the caller.
__attribute__((noinline)) uint64_t return_address() {
  uint64_t r = reinterpret_cast<uint64_t>(__builtin_return_address(0));
  asm volatile("" ::: "memory");
  return r;
}

uint64_t g_inner_ra = 0;
extern "C" __attribute__((noinline)) void lh_record_caller() {
  g_inner_ra = reinterpret_cast<uint64_t>(__builtin_return_address(0));
  asm volatile("" ::: "memory");
}

constexpr int kInlinedCallLine = __LINE__ + 2;
static inline __attribute__((always_inline)) void lh_inlined_helper() {
  lh_record_caller();
  asm volatile("" ::: "memory");
}

constexpr int kOuterCallLine = __LINE__ + 2;
extern "C" __attribute__((noinline)) void lh_outer_with_inline() {
  lh_inlined_helper();
  asm volatile("" ::: "memory");
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// glibc exports malloc and its internal aliases at one address; the symbol
// table order decides which name a lookup returns.
bool is_malloc(const std::string& name) {
  static const std::set<std::string> aliases = {"malloc", "__libc_malloc", "__malloc",
                                                "__GI___libc_malloc"};
  return aliases.count(name) > 0;
}

const Mapping* libc_text(const std::vector<Mapping>& maps) {
  for (const Mapping& m : maps)
    if (m.path.find("/libc.so.6") != std::string::npos && m.offset == 0) return &m;
  return nullptr;
}

}  // namespace

TEST(NativeSymbolizer, OwnFunctionWithLineInfo) {
  auto s = NativeSymbolizer::open(getpid());
  ASSERT_TRUE(s) << s.error().message;
  const uint64_t addr = reinterpret_cast<uint64_t>(&lh_symbolizer_marker);
  Frame f = s->resolve(addr, false);
  EXPECT_EQ(f.function, "lh_symbolizer_marker");
  EXPECT_EQ(f.pc, addr);
  EXPECT_TRUE(ends_with(f.file, "native_symbolizer_test.cpp")) << f.file;
  EXPECT_GE(f.line, kMarkerLine);
  EXPECT_LE(f.line, kMarkerLine + 1);
  EXPECT_TRUE(ends_with(f.module, "native_symbolizer_test")) << f.module;
  EXPECT_EQ(lh_symbolizer_marker(1), 4);  // keep it called
}

TEST(NativeSymbolizer, DemanglesCxx) {
  auto s = NativeSymbolizer::open(getpid());
  ASSERT_TRUE(s) << s.error().message;
  Frame f = s->resolve(reinterpret_cast<uint64_t>(&inner::cxx_marker), false);
  EXPECT_EQ(f.function.rfind("(anonymous namespace)::inner::cxx_marker(int, std::", 0), 0u)
      << f.function;
  EXPECT_EQ(inner::cxx_marker(1, "ab"), 3);
}

TEST(NativeSymbolizer, ReturnAddressLineIsTheCall) {
  auto s = NativeSymbolizer::open(getpid());
  ASSERT_TRUE(s) << s.error().message;
  const int call_line = __LINE__ + 1;
  const uint64_t ra = return_address();
  std::vector<Frame> fs = s->frames(ra, true);
  ASSERT_FALSE(fs.empty());
  const Frame& f = fs.back();
  EXPECT_EQ(f.pc, ra);
  EXPECT_NE(f.function.find("ReturnAddressLineIsTheCall"), std::string::npos) << f.function;
  EXPECT_NE(f.function.find("TestBody"), std::string::npos) << f.function;
  EXPECT_TRUE(ends_with(f.file, "native_symbolizer_test.cpp")) << f.file;
  EXPECT_EQ(f.line, call_line);
  EXPECT_EQ(s->resolve(ra, true).line, call_line);
}

TEST(NativeSymbolizer, InlinedCallsAreFramesOfTheirOwn) {
  auto s = NativeSymbolizer::open(getpid());
  ASSERT_TRUE(s) << s.error().message;
  lh_outer_with_inline();
  std::vector<Frame> fs = s->frames(g_inner_ra, true);
  ASSERT_EQ(fs.size(), 2u);
  EXPECT_EQ(fs[0].function, "lh_inlined_helper");
  EXPECT_EQ(fs[0].line, kInlinedCallLine);
  EXPECT_TRUE(ends_with(fs[0].file, "native_symbolizer_test.cpp")) << fs[0].file;
  EXPECT_EQ(fs[1].function, "lh_outer_with_inline");
  EXPECT_EQ(fs[1].line, kOuterCallLine);
  EXPECT_EQ(fs[0].pc, g_inner_ra);
  EXPECT_EQ(fs[1].pc, g_inner_ra);
  EXPECT_EQ(fs[0].module, fs[1].module);
  // resolve() is the outermost: the function and the line within it.
  Frame r = s->resolve(g_inner_ra, true);
  EXPECT_EQ(r.function, "lh_outer_with_inline");
  EXPECT_EQ(r.line, kOuterCallLine);
}

TEST(NativeSymbolizer, LibcMalloc) {
  auto s = NativeSymbolizer::open(getpid());
  ASSERT_TRUE(s) << s.error().message;
  void* (*volatile fn)(size_t) = &malloc;
  const uint64_t addr = reinterpret_cast<uint64_t>(fn);
  Frame f = s->resolve(addr, false);
  EXPECT_TRUE(is_malloc(f.function)) << f.function;
  EXPECT_NE(f.module.find("libc.so.6"), std::string::npos) << f.module;
  EXPECT_EQ(f.pc, addr);
  // With libc's debug info installed (libc6-dbg, found by build ID), the line
  // table names glibc's malloc.c.
  if (!f.file.empty()) {
    EXPECT_TRUE(ends_with(f.file, "malloc.c")) << f.file;
    EXPECT_GT(f.line, 0);
  }
}

// A library loaded after open (dlopen) is found without an explicit
// refresh: an address in no known mapping re-reads the maps.
TEST(NativeSymbolizer, LibraryLoadedLater) {
  auto s = NativeSymbolizer::open(getpid());
  ASSERT_TRUE(s) << s.error().message;
  // capstone: a build dependency of leakhound that this test does not link.
  void* lib = dlopen("libcapstone.so.4", RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr) << dlerror();
  void* fn = dlsym(lib, "cs_version");
  ASSERT_NE(fn, nullptr);
  Frame f = s->resolve(reinterpret_cast<uint64_t>(fn), false);
  EXPECT_EQ(f.function, "cs_version");
  EXPECT_NE(f.module.find("libcapstone.so"), std::string::npos) << f.module;
  dlclose(lib);
  EXPECT_TRUE(s->refresh());
}

TEST(NativeSymbolizer, ChildProcess) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    execlp("sleep", "sleep", "30", static_cast<char*>(nullptr));
    _exit(127);
  }
  struct Reap {
    pid_t pid;
    ~Reap() {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  } reap{child};
  // Wait for the exec: the child's executable is sleep, not this test.
  std::vector<Mapping> maps;
  for (int i = 0; i < 200; i++) {
    auto p = leakhound::target::Process::open(child);
    if (p && ends_with(p->exe_path(), "/sleep")) {
      auto m = p->maps();
      if (m && libc_text(*m)) {
        maps = std::move(*m);
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(maps.empty()) << "child did not exec sleep";
  auto s = NativeSymbolizer::open(child);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->pid(), child);

  // An address in sleep's own code: stripped, so a name or the address, but
  // the module is sleep's file.
  const Mapping* text = nullptr;
  for (const Mapping& m : maps)
    if (m.exec && ends_with(m.path, "/sleep")) text = &m;
  ASSERT_NE(text, nullptr);
  Frame f = s->resolve(text->start + 0x10, false);
  EXPECT_EQ(f.module, text->path);
  EXPECT_EQ(f.pc, text->start + 0x10);
  EXPECT_FALSE(f.function.empty());

  // malloc at the child's own (randomized) libc base.
  auto self_maps = leakhound::target::Process::open(getpid())->maps();
  ASSERT_TRUE(self_maps);
  const Mapping* mine = libc_text(*self_maps);
  const Mapping* theirs = libc_text(maps);
  ASSERT_TRUE(mine && theirs);
  void* (*volatile fn)(size_t) = &malloc;
  const uint64_t child_malloc = reinterpret_cast<uint64_t>(fn) - mine->start + theirs->start;
  Frame m = s->resolve(child_malloc, false);
  EXPECT_TRUE(is_malloc(m.function)) << m.function;
  EXPECT_EQ(m.module, theirs->path);

  // The process exits: what is loaded still resolves, nothing crashes, and
  // refresh says why it cannot.
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  Frame again = s->resolve(child_malloc, false);
  EXPECT_EQ(again.pc, child_malloc);
  EXPECT_FALSE(again.function.empty());
  EXPECT_FALSE(s->resolve(0x10, false).function.empty());
  auto r = s->refresh();
  EXPECT_FALSE(r);
}

TEST(NativeSymbolizer, GarbageAddressesAreHex) {
  auto s = NativeSymbolizer::open(getpid());
  ASSERT_TRUE(s) << s.error().message;
  for (uint64_t a : {uint64_t{0}, uint64_t{1}, uint64_t{0xdeadbeef00}, ~uint64_t{0},
                     uint64_t{0xffffffffff600000}}) {
    for (bool ret : {false, true}) {
      Frame f = s->resolve(a, ret);
      EXPECT_EQ(f.function, fmt::format("{:#x}", a));
      EXPECT_EQ(f.pc, a);
      EXPECT_EQ(f.file, "");
      EXPECT_EQ(f.line, 0);
      EXPECT_EQ(s->frames(a, ret).size(), 1u);
    }
  }
  // Heap memory is not code: hex, no module (it is not an executable mapping).
  auto heap = std::make_unique<int>(1);
  Frame f = s->resolve(reinterpret_cast<uint64_t>(heap.get()), false);
  EXPECT_EQ(f.function.rfind("0x", 0), 0u) << f.function;
  EXPECT_EQ(f.module, "");
}

TEST(NativeSymbolizer, MissingProcessIsAClearError) {
  pid_t gone = fork();
  ASSERT_GE(gone, 0);
  if (gone == 0) _exit(0);
  waitpid(gone, nullptr, 0);
  auto s = NativeSymbolizer::open(gone);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, fmt::format("no process with PID {}", gone));

  for (pid_t bad : {0, -1, 0x3fffffff}) {
    auto b = NativeSymbolizer::open(bad);
    ASSERT_FALSE(b) << bad;
    EXPECT_NE(b.error().message.find("PID"), std::string::npos) << b.error().message;
  }
}

TEST(NativeSymbolizer, MovedFromIsHarmless) {
  auto s = NativeSymbolizer::open(getpid());
  ASSERT_TRUE(s) << s.error().message;
  NativeSymbolizer moved = std::move(*s);
  EXPECT_EQ(s->resolve(0x1234, true).function, "0x1234");
  EXPECT_FALSE(s->refresh());
  EXPECT_TRUE(moved.refresh());
  EXPECT_EQ(moved.resolve(reinterpret_cast<uint64_t>(&lh_symbolizer_marker), false).function,
            "lh_symbolizer_marker");
}

// A mapped path longer than PATH_MAX (legal: only syscall arguments are
// bounded) must not reach bcc's fixed-size maps parser; DWARF still names
// the test's own functions.
TEST(NativeSymbolizer, OverlongMappedPath) {
  const std::string comp(200, 'd');
  const int levels = 60;  // ~12 KB of path: enough to smash bcc's stack unguarded
  int dir = ::open(::testing::TempDir().c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  ASSERT_GE(dir, 0);
  std::vector<int> dirs{dir};
  for (int i = 0; i < levels; i++) {
    mkdirat(dirs.back(), comp.c_str(), 0700);
    int d = openat(dirs.back(), comp.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    ASSERT_GE(d, 0) << strerror(errno);
    dirs.push_back(d);
  }
  int fd = openat(dirs.back(), "code.bin", O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0700);
  ASSERT_GE(fd, 0) << strerror(errno);
  std::vector<char> page(4096, '\xc3');  // ret
  ASSERT_EQ(write(fd, page.data(), page.size()), static_cast<ssize_t>(page.size()));
  void* code = mmap(nullptr, page.size(), PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
  ASSERT_NE(code, MAP_FAILED) << strerror(errno);
  struct Cleanup {
    std::vector<int>& dirs;
    int fd;
    void* code;
    std::string comp;
    ~Cleanup() {
      munmap(code, 4096);
      close(fd);
      unlinkat(dirs.back(), "code.bin", 0);
      for (size_t i = dirs.size() - 1; i > 0; i--) {
        close(dirs[i]);
        unlinkat(dirs[i - 1], comp.c_str(), AT_REMOVEDIR);
      }
      close(dirs[0]);
    }
  } cleanup{dirs, fd, code, comp};

  auto s = NativeSymbolizer::open(getpid());
  ASSERT_TRUE(s) << s.error().message;
  Frame f = s->resolve(reinterpret_cast<uint64_t>(&lh_symbolizer_marker), false);
  EXPECT_EQ(f.function, "lh_symbolizer_marker");
  EXPECT_TRUE(ends_with(f.file, "native_symbolizer_test.cpp")) << f.file;
  Frame c = s->resolve(reinterpret_cast<uint64_t>(code), false);
  EXPECT_TRUE(ends_with(c.module, "/code.bin")) << c.module.size();
  EXPECT_GT(c.module.size(), 4096u);
}
