// arm64 goroutine stacks (GoroutineReader::unwind with the binary's pcsp
// tables) against the Go runtime's own traceback, on the real arm64 goleak of
// every Go release 1.18-1.27 run under qemu-user (qemu-aarch64-static, no
// root): the target is stopped, its parked and in-syscall user goroutines are
// unwound from its memory, then SIGQUIT with GOTRACEBACK=system makes it print
// every goroutine's stack, runtime frames included; each must match frame for
// frame, by goroutine id.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../binary/test_support.h"
#include "binary/buildinfo.h"
#include "binary/pclntab.h"
#include "goruntime/g_layout.h"
#include "goruntime/goroutines.h"
#include "goruntime/runtime_symbols.h"
#include "target/memory.h"

namespace leakhound::goruntime {
namespace {

constexpr const char* kQemu = "/usr/bin/qemu-aarch64-static";

// qemu-user maps the guest at guest_base (0 when the binary's addresses are
// free on the host): the target's addresses shifted by it.
class GuestMemory : public target::MemoryReader {
 public:
  GuestMemory(const target::MemoryReader& host, uint64_t base) : host_(host), base_(base) {}
  Result<void> read(uint64_t addr, void* dst, size_t len) const override {
    return host_.read(addr + base_, dst, len);
  }

 private:
  const target::MemoryReader& host_;
  uint64_t base_;
};

// The arm64 goleak under qemu-user, its stdout and stderr on pipes.
struct Guest {
  pid_t pid = -1;
  FILE* out = nullptr;
  int err = -1;

  bool start(const std::string& path) {
    int o[2], e[2];
    if (pipe(o) || pipe(e)) return false;
    pid = fork();
    if (pid == 0) {
      dup2(o[1], 1);
      dup2(e[1], 2);
      close(o[0]);
      close(e[0]);
      setenv("GOTRACEBACK", "system", 1);
      // One leak of each kind at once, none later (-rate: one in 1000 s).
      execl(kQemu, kQemu, path.c_str(), "-modes", "chan,ctx,ticker", "-pre", "4", "-rate", "0.001",
            "-interval", "1h", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(o[1]);
    close(e[1]);
    out = fdopen(o[0], "r");
    err = e[0];
    return pid > 0;
  }
  bool wait_ready() {
    char line[512];
    while (fgets(line, sizeof line, out)) {
      if (std::string(line).starts_with("ready ")) return true;
    }
    return false;
  }
  bool stop() {
    int st = 0;
    return kill(pid, SIGSTOP) == 0 && waitpid(pid, &st, WUNTRACED) == pid && WIFSTOPPED(st);
  }
  void cont() { kill(pid, SIGCONT); }
  // SIGQUIT: the runtime prints every goroutine and exits.
  std::string quit() {
    cont();
    kill(pid, SIGQUIT);
    std::string text;
    char buf[65536];
    for (ssize_t n; (n = read(err, buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
    int st = 0;
    waitpid(pid, &st, 0);
    pid = -1;
    return text;
  }
  ~Guest() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    if (out) fclose(out);
    if (err >= 0) close(err);
  }
};

// Where qemu mapped the binary's first segment (file offset 0), less its
// link-time address.
std::optional<uint64_t> guest_base(pid_t pid, const std::string& path, const binary::ElfFile& elf) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  const auto canonical = std::filesystem::canonical(path).string();
  for (std::string line; std::getline(maps, line);) {
    if (!line.ends_with(canonical)) continue;
    std::istringstream s(line);
    std::string range, perms, off;
    s >> range >> perms >> off;
    if (std::stoull(off, nullptr, 16) != 0) continue;
    uint64_t start = std::stoull(range.substr(0, range.find('-')), nullptr, 16);
    for (const auto& seg : elf.segments()) {
      if (seg.type == PT_LOAD && seg.offset == 0) return start - (seg.vaddr & ~0xfffULL);
    }
  }
  return std::nullopt;
}

// Function names as the runtime prints them: a generic's shape arguments as [...].
std::string printed(std::string name) {
  for (size_t i = name.find('['); i != std::string::npos; i = name.find('[', i + 1)) {
    int depth = 0;
    size_t j = i;
    for (; j < name.size(); j++) {
      depth += name[j] == '[' ? 1 : name[j] == ']' ? -1 : 0;
      if (depth == 0) break;
    }
    if (j < name.size()) name.replace(i, j - i + 1, "[...]");
  }
  return name;
}

struct Printed {
  std::string state;  // "chan receive", "syscall"...
  std::vector<std::string> frames;
};

// "goroutine 18 [chan receive]:" (1.23+: "goroutine 18 gp=0x... m=nil [chan
// receive, 2 minutes]:"), then a line per frame "pkg.fn(args)" followed by
// its "\tfile:line ..." line, up to "created by" or a blank line.
std::map<uint64_t, Printed> parse_traceback(const std::string& text) {
  std::map<uint64_t, Printed> out;
  std::istringstream in(text);
  Printed* cur = nullptr;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("goroutine ") && line.ends_with(":")) {
      uint64_t id = std::stoull(line.substr(10));
      cur = &out[id];
      auto a = line.find('['), b = line.find_first_of(",]", a);
      if (a != std::string::npos && b != std::string::npos)
        cur->state = line.substr(a + 1, b - a - 1);
    } else if (line.empty() || line.starts_with("created by ")) {
      cur = nullptr;
    } else if (cur && line[0] != '\t' && line.find('(') != std::string::npos) {
      cur->frames.push_back(printed(line.substr(0, line.rfind('('))));
    }
  }
  return out;
}

// Every inlined call expanded, as GoTarget::symbolize_unwound does: return
// PCs looked up at the call (pc-1).
std::vector<std::string> symbolize(const binary::Pclntab& p, const std::vector<uint64_t>& pcs) {
  std::vector<std::string> out;
  for (uint64_t pc : pcs) {
    auto f = p.func_for_pc(pc);
    for (const auto& fr : p.frames(f && f->entry == pc ? pc : pc - 1))
      out.push_back(printed(fr.function));
  }
  return out;
}

class Arm64Stacks : public ::testing::TestWithParam<std::string> {};

TEST_P(Arm64Stacks, MatchTheRuntimesOwnTraceback) {
  ASSERT_TRUE(std::filesystem::exists(kQemu)) << kQemu << " (Debian's qemu-user-static) is needed";
  const std::string path = binary::testing::targets_dir() + "/goleak-go" + GetParam() + "-arm64";
  ASSERT_TRUE(std::filesystem::exists(path))
      << "missing test target " << path << ": build it with scripts/build-targets.sh";
  auto elf = binary::ElfFile::open(path);
  ASSERT_TRUE(elf) << elf.error().message;
  ASSERT_EQ(elf->machine(), binary::Machine::AArch64);
  auto build = binary::read_buildinfo(*elf);
  ASSERT_TRUE(build) << build.error().message;
  auto pcln = binary::Pclntab::load(*elf);
  ASSERT_TRUE(pcln) << pcln.error().message;
  auto syms = resolve_runtime_symbols(*elf, *pcln, build->go_version);
  ASSERT_TRUE(syms) << syms.error().message;
  ASSERT_NE(syms->allgs, 0u);
  std::string source;
  auto layout = resolve_g_layout(*elf, build->go_version, &source);
  ASSERT_TRUE(layout) << layout.error().message;

  Guest guest;
  ASSERT_TRUE(guest.start(path));
  ASSERT_TRUE(guest.wait_ready()) << "the target exited before its ready line";
  auto host = target::ProcessMemory::open(guest.pid, false);
  ASSERT_TRUE(host) << host.error().message;
  auto base = guest_base(guest.pid, path, *elf);
  ASSERT_TRUE(base) << "the binary is not in the qemu process's maps";
  GuestMemory mem(*host, *base);
  StackArch arch;
  arch.link_register = true;
  arch.frame_size = [&](uint64_t pc) { return pcln->frame_size(pc); };
  GoroutineReader reader(mem, *layout, syms->allgs, syms->allglen, {}, arch);
  auto entry = [&](const Goroutine& g) {
    auto f = pcln->func_for_pc(g.startpc);
    return f ? f->name : std::string();
  };

  // Until every leak (4 per mode) and main (in its status loop's select, done
  // writing the ready line) have parked, and os/signal's loop has entered its
  // blocking syscall (it starts late on a loaded machine): stopped, read,
  // resumed.
  std::map<uint64_t, std::pair<std::string, std::vector<std::string>>>
      ours;  // goid -> state, frames
  for (;;) {
    ASSERT_TRUE(guest.stop());
    auto snap = reader.read();
    ASSERT_TRUE(snap) << snap.error().message;
    ours.clear();
    size_t leaks = 0;
    bool main_parked = false, in_syscall = false;
    for (const auto& g : snap->live) {
      const auto st = static_cast<GStatus>(g.status);
      main_parked |= entry(g) == "runtime.main" && st == GStatus::Waiting;
      in_syscall |= !is_system_entry(entry(g)) && st == GStatus::Syscall;
      if (is_system_entry(entry(g)) || (st != GStatus::Waiting && st != GStatus::Syscall)) continue;
      ours[g.goid] = {std::string(reader.state(g)), symbolize(*pcln, reader.unwind(g))};
      leaks += entry(g).starts_with("main.leak");
    }
    if (leaks >= 12 && main_parked && in_syscall) break;
    guest.cont();
    usleep(100'000);
  }
  const auto theirs = parse_traceback(guest.quit());
  ASSERT_FALSE(theirs.empty()) << "no traceback on SIGQUIT";
  size_t compared = 0, syscalls = 0;
  for (const auto& [goid, ours_g] : ours) {
    auto it = theirs.find(goid);
    ASSERT_NE(it, theirs.end()) << "goroutine " << goid << " is not in the traceback";
    // Stopped, these never move: every one is compared.
    EXPECT_EQ(it->second.state, ours_g.first) << "goroutine " << goid;
    EXPECT_EQ(ours_g.second, it->second.frames)
        << "goroutine " << goid << " [" << ours_g.first << "]";
    compared++;
    syscalls += ours_g.first == "syscall";
  }
  // 12 leaks, main in time.Sleep and os/signal's loop in a syscall.
  EXPECT_GE(compared, 14u);
  EXPECT_GE(syscalls, 1u) << "no goroutine in a syscall was compared";
}

INSTANTIATE_TEST_SUITE_P(AllReleases, Arm64Stacks, ::testing::ValuesIn(binary::testing::kVersions),
                         [](const auto& info) {
                           std::string s = "go" + info.param;
                           for (char& c : s) c = c == '.' ? '_' : c;
                           return s;
                         });

}  // namespace
}  // namespace leakhound::goruntime
