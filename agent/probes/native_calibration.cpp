#include "probes/native_calibration.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "probes/native_probes.h"
#include "target/process.h"
#include "util/clock.h"

// Stand-ins for malloc and free with the same probes attached. Written in
// assembly so they start like a C function with a frame pointer (push %rbp,
// which the kernel emulates instead of single-stepping, as for glibc's
// malloc) and cost next to nothing themselves.
#if defined(__x86_64__)
// Two of each: one starting with an instruction the kernel emulates at the
// breakpoint (push), one with an instruction it must single-step out of line
// (test), which costs a second trap: glibc's malloc starts with push %r12, its
// free with test %rdi,%rdi.
extern "C" void* leakhound_calibration_malloc(size_t n);
extern "C" void* leakhound_calibration_malloc_stepped(size_t n);
extern "C" void leakhound_calibration_free(void* p);
extern "C" void leakhound_calibration_free_stepped(void* p);
asm(R"(
  .text
  .globl leakhound_calibration_malloc
  .type leakhound_calibration_malloc, @function
leakhound_calibration_malloc:
  push %rbp
  mov %rsp, %rbp
  lea 0x10000(%rdi), %rax
  pop %rbp
  ret
  .size leakhound_calibration_malloc, .-leakhound_calibration_malloc
  .globl leakhound_calibration_malloc_stepped
  .type leakhound_calibration_malloc_stepped, @function
leakhound_calibration_malloc_stepped:
  test %rdi, %rdi
  push %rbp
  mov %rsp, %rbp
  lea 0x10000(%rdi), %rax
  pop %rbp
  ret
  .size leakhound_calibration_malloc_stepped, .-leakhound_calibration_malloc_stepped
  .globl leakhound_calibration_free
  .type leakhound_calibration_free, @function
leakhound_calibration_free:
  push %rbp
  mov %rsp, %rbp
  pop %rbp
  ret
  .size leakhound_calibration_free, .-leakhound_calibration_free
  .globl leakhound_calibration_free_stepped
  .type leakhound_calibration_free_stepped, @function
leakhound_calibration_free_stepped:
  test %rdi, %rdi
  push %rbp
  mov %rsp, %rbp
  pop %rbp
  ret
  .size leakhound_calibration_free_stepped, .-leakhound_calibration_free_stepped
)");
#endif

namespace leakhound::probes {
namespace {

#if defined(__x86_64__)  // the stand-ins are x86-64 assembly
// File offset of a function of this executable, from where it is mapped.
Result<uint64_t> own_offset(const void* fn) {
  auto text = target::read_text("/proc/self/maps");
  if (!text) return text.error();
  auto maps = target::parse_maps(*text);
  if (!maps) return maps.error();
  const auto addr = reinterpret_cast<uint64_t>(fn);
  for (const auto& m : *maps) {
    if (addr >= m.start && addr < m.end && m.exec) return addr - m.start + m.offset;
  }
  return make_error("calibration: {:#x} is not in an executable mapping", addr);
}

using MallocFn = void* (*)(size_t);
using FreeFn = void (*)(void*);

// Nanoseconds per malloc/free pair of the stand-ins (distinct blocks, as a
// program's would be), in this thread's CPU time: the probes run in it (trap,
// handler, BPF program), and time it sat preempted on a loaded machine is no
// cost (on the wall clock, at load 14, 21.6 us a hit instead of ~1: auto mode
// then took the probes off a cleak target 0.5 s into its window).
double time_pairs(MallocFn m, FreeFn f, int n) {
  const int64_t t0 = thread_cpu_ns();
  for (int i = 0; i < n; i++) f(m(static_cast<size_t>(i) * 16));
  return static_cast<double>(thread_cpu_ns() - t0) / n;
}
#endif

}  // namespace

Result<double> measure_native_probe_cost(bool malloc_emulated, bool free_emulated) {
#if !defined(__x86_64__)
  (void)malloc_emulated;
  (void)free_emulated;
  return make_error("probe cost measurement is only implemented for x86-64");
#else
  MallocFn mfn =
      malloc_emulated ? &leakhound_calibration_malloc : &leakhound_calibration_malloc_stepped;
  FreeFn ffn = free_emulated ? &leakhound_calibration_free : &leakhound_calibration_free_stepped;
  auto m = own_offset(reinterpret_cast<const void*>(mfn));
  if (!m) return m.error();
  auto f = own_offset(reinterpret_cast<const void*>(ffn));
  if (!f) return f.error();
  NativeProbeConfig cfg;
  cfg.pid = getpid();
  cfg.binary = "/proc/self/exe";
  cfg.functions = {{"malloc", *m}, {"free", *f}};
  cfg.max_allocs = 4096;
  cfg.max_stacks = 64;
  cfg.max_go_stacks = 16;
  constexpr int kPairs = 4000;
  double base = time_pairs(mfn, ffn, kPairs);
  double with = 0;
  {
    auto p = NativeProbes::attach(cfg);
    if (!p) return p.error();
    time_pairs(mfn, ffn, 200);  // warm up (first hits fault pages in)
    with = time_pairs(mfn, ffn, kPairs);
  }
  // Three hits per pair: malloc's entry and return, free's entry.
  return std::max(0.0, (with - base) / 3);
#endif
}

bool uprobe_emulated(std::span<const uint8_t> entry) {
#if !defined(__x86_64__)
  return false;  // x86-64 opcodes below; arm64 is not measured (above)
#endif
  if (entry.empty()) return false;
  uint8_t op = entry[0];
  if (op >= 0x50 && op <= 0x57) return true;  // push reg
  if (op == 0x41 && entry.size() > 1 && entry[1] >= 0x50 && entry[1] <= 0x57)
    return true;                                                              // push r8-r15
  return op == 0x90 || (op == 0x66 && entry.size() > 1 && entry[1] == 0x90);  // nop
}

}  // namespace leakhound::probes
