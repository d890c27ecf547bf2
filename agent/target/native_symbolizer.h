// Symbolizes native (C/C++) code addresses of a running process: function
// names through BCC's symbolizer (ELF .symtab/.dynsym, debuglink and build-id
// debug files, perf maps, other mount namespaces), file and line from DWARF
// through libdw when the module or a debug file for it has line tables.
// Lookups fill caches (symbols, DWARF, results): not thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "util/frame.h"
#include "util/result.h"

namespace leakhound::target {

class NativeSymbolizer {
 public:
  // Errors: no such process, or its mappings are unreadable (permissions).
  static Result<NativeSymbolizer> open(pid_t pid);

  NativeSymbolizer(NativeSymbolizer&&) noexcept;
  NativeSymbolizer& operator=(NativeSymbolizer&&) noexcept;
  ~NativeSymbolizer();

  pid_t pid() const;

  // The function containing addr (demangled when C++), its module (the path
  // as mapped in the process) and, with DWARF, file and line in that function
  // (for an inlined call: the line of the outermost call site). A return
  // address is looked up at addr - 1 (the call); pc stays addr. Unknown:
  // function "0x..." (and the module when the address is in one).
  Frame resolve(uint64_t addr, bool return_address) const;
  // The same with inlined calls expanded, leaf first; the last frame is
  // resolve()'s. Never empty.
  std::vector<Frame> frames(uint64_t addr, bool return_address) const;

  // Re-reads the mappings (after dlopen/dlclose). resolve() does this by
  // itself when an address is in no known mapping and the mappings changed.
  Result<void> refresh();

 private:
  struct Impl;
  explicit NativeSymbolizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace leakhound::target
