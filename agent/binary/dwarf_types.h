// Struct layouts and global variables from a binary's own DWARF (libdw), for
// targets that ship it: exact offsets even for Go releases newer than the
// generated tables. Hostile input: every lookup may fail with a clear error.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "util/result.h"

namespace leakhound::binary {

struct StructMember {
  uint64_t offset = 0;
  uint64_t size = 0;      // byte size of its type (0 when unknown)
  std::string type_name;  // "" when anonymous
};

struct StructLayout {
  uint64_t size = 0;
  std::map<std::string, StructMember> members;
};

struct Variable {
  uint64_t address = 0;  // link-time (DW_OP_addr)
  uint64_t size = 0;     // byte size of its type
};

class DwarfTypes {
 public:
  // Errors when the file has no DWARF (e.g. built with -ldflags=-w or stripped).
  static Result<DwarfTypes> open(const std::string& path);
  DwarfTypes(DwarfTypes&&) noexcept;
  DwarfTypes& operator=(DwarfTypes&&) noexcept;
  ~DwarfTypes();

  // A named struct ("runtime.g"); the first definition with members.
  Result<StructLayout> struct_layout(const std::string& name) const;
  // A global variable with a static address ("runtime.waitReasonStrings").
  Result<Variable> variable(const std::string& name) const;

 private:
  struct Impl;
  explicit DwarfTypes(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace leakhound::binary
