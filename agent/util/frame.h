#pragma once

#include <cstdint>
#include <string>

namespace leakhound {

// One symbolized stack frame (an inlined call is a frame of its own).
struct Frame {
  std::string function;  // "main.handler", "runtime.mallocgc"; "0x4a1b2c" when unknown
  std::string file;      // "" when unknown
  int64_t line = 0;      // 0 when unknown
  uint64_t pc = 0;       // address in the target's address space (runtime, not link-time)
  std::string module;    // native frames: the file as mapped ("/usr/lib/.../libc.so.6"); "" for Go
};

// A frame of the Go runtime itself (the allocator, the scheduler): writers
// skip these to show the first frame of the program's own code.
inline bool is_runtime_frame(const Frame& f) {
  return f.function.starts_with("runtime.") || f.function.starts_with("internal/runtime/");
}

}  // namespace leakhound
