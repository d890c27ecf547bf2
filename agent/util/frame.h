#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace leakhound {

// One symbolized stack frame (an inlined call is a frame of its own).
struct Frame {
  std::string function;  // "main.handler", "runtime.mallocgc"; "0x4a1b2c" when unknown
  std::string file;      // "" when unknown
  int64_t line = 0;      // 0 when unknown
  uint64_t pc = 0;       // address in the target's address space (runtime, not link-time)
  std::string module;    // native frames: the file as mapped ("/usr/lib/.../libc.so.6"); "" for Go
};

// A function of the Go runtime itself (the allocator, the scheduler, and
// since Go 1.21 its internal/runtime/... packages): writers skip these to
// show the first frame of the program's own code. The one place this rule
// lives; goruntime::is_system_entry deliberately differs (it mirrors the
// runtime's own isSystemGoroutine).
inline bool is_runtime_function(std::string_view function) {
  return function.starts_with("runtime.") || function.starts_with("internal/runtime/");
}

inline bool is_runtime_frame(const Frame& f) { return is_runtime_function(f.function); }

// A function of the program's own code: package main, or a package of its
// main module (`module` as .go.buildinfo's "mod" line gives it; may be empty).
// Go names a function by its package's import path, so a package of module
// "example.com/app" is "example.com/app/..." or the module's root itself.
inline bool in_main_module(std::string_view function, std::string_view module) {
  if (function.starts_with("main.")) return true;
  if (module.empty() || !function.starts_with(module)) return false;
  const std::string_view rest = function.substr(module.size());
  return rest.starts_with('/') || rest.starts_with('.');
}

// cgo's generated calls (main._Cfunc_CString, _cgo_<hash>_Cfunc__Cmalloc).
inline bool is_cgo_glue(const Frame& f) {
  const std::string_view fn = f.function;
  const size_t dot = fn.rfind('.');
  const std::string_view last = dot == std::string_view::npos ? fn : fn.substr(dot + 1);
  return last.starts_with("_Cfunc_") || last.starts_with("_cgo_");
}

// The first frame of the program's own code (leaf first): not the runtime's,
// nor, with skip_cgo_glue, cgo's glue (the caller of C.CString, not
// C.CString). The leaf frame when every frame is skipped; null when empty.
inline const Frame* first_program_frame(const std::vector<Frame>& stack, bool skip_cgo_glue) {
  for (const Frame& f : stack) {
    if (!is_runtime_frame(f) && !(skip_cgo_glue && is_cgo_glue(f))) return &f;
  }
  return stack.empty() ? nullptr : &stack.front();
}

}  // namespace leakhound
