// PC-relative data references of one function, found by disassembling it with
// capstone: RIP-relative memory operands on amd64, ADRP+ADD / ADRP+LDR/STR
// pairs on arm64. Used to recover runtime globals from binaries without
// .symtab (see runtime_symbols.cpp for which function references which global).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "binary/elf_file.h"
#include "util/result.h"

namespace leakhound::goruntime {

enum class RefKind : uint8_t {
  Load,       // memory read (MOV/MOVZX/LDR/LDAR...)
  Store,      // memory write, including read-modify-write (INC, XCHG, STR, STLR...)
  Compare,    // CMP/TEST with a memory operand (amd64 only: arm64 loads first)
  AddressOf,  // only the address is computed (LEA, ADRP+ADD)
};

struct DataRef {
  uint64_t insn = 0;    // link-time address of the instruction that accesses/forms it
  uint64_t target = 0;  // link-time address referenced
  uint8_t width = 0;    // access width in bytes; 0 for AddressOf
  RefKind kind = RefKind::Load;
  std::optional<int64_t> imm;  // immediate stored/compared (a store of XZR/WZR is 0)

  bool reads() const { return kind == RefKind::Load || kind == RefKind::Compare; }
};

// Decodes the function [entry, end) (link-time addresses; bounds from the
// pclntab) and returns its data references in instruction order. On arm64 an
// ADRP+ADD address that is then dereferenced (Go's atomics: ADD then LDAR/STLR)
// yields an AddressOf ref followed by a Load/Store ref of the right width.
// Undecodable bytes are skipped; the decoder never reads past `end`.
Result<std::vector<DataRef>> find_data_refs(const binary::ElfFile& elf, uint64_t entry,
                                            uint64_t end);

}  // namespace leakhound::goruntime
