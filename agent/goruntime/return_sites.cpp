#include "goruntime/return_sites.h"

#include <cstring>

#include "goruntime/disassembler.h"

namespace leakhound::goruntime {

using detail::decode_all;
using detail::Disassembler;

Result<std::vector<uint64_t>> find_returns(const binary::ElfFile& elf, uint64_t entry,
                                           uint64_t end) {
  auto code = detail::function_code(elf, entry, end);
  if (!code) return code.error();
  auto d = Disassembler::for_machine(elf);
  if (!d) return d.error();
  std::vector<uint64_t> out;
  if (elf.machine() == binary::Machine::X86_64) {
    // Go functions hold no data, so a linear sweep decodes them exactly; the
    // INT3 padding after the last instruction decodes harmlessly.
    decode_all(*d, *code, entry, 1, [&](const cs_insn& in) {
      if (in.id == X86_INS_RET) out.push_back(in.address);
    });
  } else {
    for (size_t i = 0; i + 4 <= code->size(); i += 4) {
      uint32_t w;
      std::memcpy(&w, code->data() + i, 4);
      if (w == 0xd65f03c0) out.push_back(entry + i);  // RET (x30)
    }
  }
  if (out.empty()) return make_error("function at {:#x}: no return instruction found", entry);
  return out;
}

}  // namespace leakhound::goruntime
