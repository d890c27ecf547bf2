// What the code finders (data_refs, return_sites, tls_g_ref) share: an owned
// capstone handle, a linear sweep that skips undecodable bytes, and the bytes
// of one function read with bounds checked. Internal to goruntime.
#pragma once

#include <capstone/capstone.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <utility>

#include "binary/elf_file.h"
#include "util/result.h"

namespace leakhound::goruntime::detail {

// RAII over a capstone handle and one reusable instruction buffer.
class Disassembler {
 public:
  Disassembler(cs_arch arch, cs_mode mode) {
    if (cs_open(arch, mode, &h_) != CS_ERR_OK) return;
    cs_option(h_, CS_OPT_DETAIL, CS_OPT_ON);
    insn_ = cs_malloc(h_);
  }
  ~Disassembler() {
    if (insn_) cs_free(insn_, 1);
    if (h_) cs_close(&h_);
  }
  Disassembler(Disassembler&& o) noexcept
      : h_(std::exchange(o.h_, 0)), insn_(std::exchange(o.insn_, nullptr)) {}
  Disassembler(const Disassembler&) = delete;
  Disassembler& operator=(const Disassembler&) = delete;
  Disassembler& operator=(Disassembler&&) = delete;

  // One for the machine of elf (x86-64 or arm64).
  static Result<Disassembler> for_machine(const binary::ElfFile& elf) {
    switch (elf.machine()) {
      case binary::Machine::X86_64: {
        Disassembler d(CS_ARCH_X86, CS_MODE_64);
        if (!d.ok()) return make_error("capstone: cannot open an x86-64 disassembler");
        return d;
      }
      case binary::Machine::AArch64: {
        Disassembler d(CS_ARCH_ARM64, CS_MODE_ARM);
        if (!d.ok()) return make_error("capstone: cannot open an arm64 disassembler");
        return d;
      }
      default:
        return make_error("{}: unsupported machine (only x86-64 and arm64)", elf.path());
    }
  }

  bool ok() const { return insn_ != nullptr; }
  csh handle() const { return h_; }
  cs_insn* insn() const { return insn_; }

 private:
  csh h_ = 0;
  cs_insn* insn_ = nullptr;
};

// Calls f(insn) for every decodable instruction of code (starting at addr);
// bytes that do not decode are skipped by `step` (1 on amd64, 4 on arm64).
template <typename F>
void decode_all(const Disassembler& d, std::span<const uint8_t> code, uint64_t addr, size_t step,
                F&& f) {
  const uint8_t* p = code.data();
  size_t left = code.size();
  while (left > 0) {
    if (cs_disasm_iter(d.handle(), &p, &left, &addr, d.insn())) {
      f(*d.insn());
      continue;
    }
    size_t skip = std::min(step, left);  // data or an unknown opcode
    p += skip;
    left -= skip;
    addr += skip;
  }
}

// The bytes of the function [entry, end), at most `limit` of them.
inline Result<std::span<const uint8_t>> function_code(const binary::ElfFile& elf, uint64_t entry,
                                                      uint64_t end, uint64_t limit = UINT64_MAX) {
  if (end <= entry) return make_error("function at {:#x}: empty or inverted bounds", entry);
  auto code = elf.read_vaddr(entry, std::min(end - entry, limit));
  if (!code) return make_error("function at {:#x}: {}", entry, code.error().message);
  return *code;
}

}  // namespace leakhound::goruntime::detail
