// Reads the runtime's goroutines (runtime.allgs) from the target without
// stopping it: one batched read of the g pointers, one of the g headers, and
// stacks unwound from the registers saved in each g (frame pointers; on arm64
// the functions' frame sizes, as the runtime's unwinder does). Target memory changes
// under us: every count, pointer and walk is bounded and validated; what fails
// validation is counted and skipped, never followed.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "binary/pclntab.h"
#include "goruntime/g_layout.h"
#include "target/memory.h"
#include "util/result.h"

namespace leakhound::goruntime {

struct Goroutine {
  uint64_t g = 0;  // address of the runtime.g
  uint64_t goid = 0;
  uint32_t status = 0;  // GStatus, _Gscan bit masked off
  uint8_t wait_reason = 0;
  int64_t wait_since_ns = 0;  // CLOCK_MONOTONIC ns when it blocked; 0 = unknown
  uint64_t parent_goid = 0;
  uint64_t gopc = 0, startpc = 0;  // runtime addresses
  uint64_t ancestors = 0;          // *[]ancestorInfo (goruntime/ancestry.h); 0: none
  uint64_t stack_lo = 0, stack_hi = 0;
  uint64_t pc = 0, sp = 0, bp = 0;  // where to resume it (sched, or the syscall's)
};

struct AllgLimits {
  size_t max_goroutines = 4 << 20;  // bounds the pointer array read
  size_t max_depth = 64;            // frames per unwound stack
  size_t stack_window = 16 << 10;   // bytes read at once from a stack top
};

struct AllgSnapshot {
  std::vector<Goroutine> live;  // every g not dead, in allgs order
  uint64_t allglen = 0;         // entries in allgs (live and dead)
  size_t rejected = 0;          // g pointers or headers that failed validation
};

// How the target's stacks are laid out, for unwinding.
struct StackArch {
  // arm64 (and every link-register machine Go supports): a frame keeps its
  // return address at 0(SP) and its frame record {caller's FP, return address}
  // at SP-8, one word below SP; amd64's is at or above SP.
  bool link_register = false;
  // The frame at a runtime pc (the function's pcsp table). With it, arm64
  // stacks are walked as the runtime's own unwinder does, frame by frame from
  // SP (no frame pointer needed); without it, or on amd64, by frame pointers.
  std::function<std::optional<binary::FrameSize>(uint64_t pc)> frame_size;
};

class GoroutineReader {
 public:
  // allgs_addr: runtime.allgs (slice header); allglen_addr: runtime.allglen, 0
  // when unknown (the slice's own length is used then).
  GoroutineReader(const target::MemoryReader& mem, GLayout layout, uint64_t allgs_addr,
                  uint64_t allglen_addr, AllgLimits limits = {}, StackArch arch = {});

  Result<AllgSnapshot> read() const;

  // Return PCs of a goroutine's stack, innermost first (the first is where it
  // resumes). Empty for a running goroutine (its saved state is stale) or when
  // nothing could be read. tops, when given, gets one entry a PC: the end
  // (exclusive) of that frame's part of the stack, the next frame's start;
  // the outermost frame's is stack.hi. Stack slots map to frames by it.
  std::vector<uint64_t> unwind(const Goroutine& g, std::vector<uint64_t>* tops = nullptr) const;

  // "chan receive", "select", ... for a waiting (or leaked) goroutine; "running",
  // "runnable", "syscall", ... otherwise.
  std::string_view state(const Goroutine& g) const;

  const GLayout& layout() const { return layout_; }

 private:
  bool parse(const uint8_t* raw, uint64_t addr, Goroutine& g) const;
  // The arm64 walk by pcsp; false when its first frame is not a known function.
  bool unwind_by_sp(const Goroutine& g, std::vector<uint64_t>& pcs,
                    std::vector<uint64_t>& tops) const;

  const target::MemoryReader& mem_;
  GLayout layout_;
  uint64_t allgs_addr_, allglen_addr_;
  AllgLimits limits_;
  StackArch arch_;
};

// Whether a goroutine whose entry function is `entry` is one of the runtime's
// own (as runtime.isSystemGoroutine decides by its start function; such
// goroutines are not counted by runtime.NumGoroutine).
bool is_system_entry(std::string_view entry);

}  // namespace leakhound::goruntime
