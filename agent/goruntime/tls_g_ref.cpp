#include "goruntime/tls_g_ref.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include "goruntime/disassembler.h"

namespace leakhound::goruntime {

using detail::decode_all;
using detail::Disassembler;

namespace {

// The general-purpose register a register name belongs to ("rcx", "ecx", "cl"
// -> "c"; "r8d" -> "r8"), so a write to any part of it ends what we know of it.
std::string_view gpr_family(std::string_view n) {
  if (n.size() >= 2 && n[0] == 'r' && std::isdigit(static_cast<unsigned char>(n[1]))) {
    while (!n.empty() && !std::isdigit(static_cast<unsigned char>(n.back()))) n.remove_suffix(1);
    return n;  // r8..r15
  }
  if (n.size() == 3 && (n[0] == 'r' || n[0] == 'e')) n.remove_prefix(1);  // rax, esi -> ax, si
  if (n.size() == 3 && n.back() == 'l') n.remove_suffix(1);               // sil, bpl -> si, bp
  if (n.size() == 2 && n[0] >= 'a' && n[0] <= 'd' && (n[1] == 'x' || n[1] == 'l' || n[1] == 'h'))
    n.remove_suffix(1);  // ax, al, ah -> a
  return n;
}

// What a register is known to hold just before an FS-relative access.
struct TlsBase {
  std::string_view family;
  bool from_got = false;  // value is the 8 bytes at `value` (a GOT slot), else `value` itself
  uint64_t value = 0;
  int age = 0;  // instructions since it was set
};

// Go's TLS macros put the base load right before the access; allow a little
// scheduling in between, never across control flow.
constexpr int kTlsWindow = 4;

}  // namespace

Result<TlsGRef> find_tls_g_ref(const binary::ElfFile& elf, uint64_t entry, uint64_t end) {
  if (elf.machine() != binary::Machine::X86_64)
    return make_error("{}: finding g in TLS is only implemented for x86-64", elf.path());
  auto code = detail::function_code(elf, entry, end, 4096);
  if (!code) return code.error();
  auto dis = Disassembler::for_machine(elf);
  if (!dis) return dis.error();
  const Disassembler& d = *dis;
  const csh h = d.handle();
  std::vector<TlsBase> known;  // a few entries at most
  std::optional<TlsGRef> found;
  std::string conflict;
  size_t unresolved = 0;
  decode_all(d, *code, entry, 1, [&](const cs_insn& in) {
    if (!conflict.empty()) return;
    const cs_x86& x = in.detail->x86;
    for (uint8_t i = 0; i < x.op_count; i++) {
      const cs_x86_op& op = x.operands[i];
      if (op.type != X86_OP_MEM || op.mem.segment != X86_REG_FS) continue;
      TlsGRef r;
      r.insn = in.address;
      if (op.mem.index != X86_REG_INVALID) {
        unresolved++;
        continue;
      }
      if (op.mem.base == X86_REG_INVALID) {
        r.offset = op.mem.disp;
      } else {
        const char* name = cs_reg_name(h, op.mem.base);
        auto it = std::find_if(known.begin(), known.end(), [&](const TlsBase& k) {
          return name && k.family == gpr_family(name);
        });
        if (it == known.end() || (it->from_got && op.mem.disp != 0)) {
          unresolved++;
          continue;
        }
        if (it->from_got)
          r.got_slot = it->value;
        else
          r.offset = static_cast<int64_t>(it->value) + op.mem.disp;
      }
      if (!found) {
        found = r;
      } else if (found->offset != r.offset || found->got_slot != r.got_slot) {
        conflict = fmt::format("FS accesses at {:#x} and {:#x} disagree", found->insn, r.insn);
      }
    }

    // What registers hold afterwards: `mov $imm, r64` and `mov slot(%rip), r64`
    // set a base; any other write to the register, or control flow, forgets it.
    for (auto& k : known) k.age++;
    std::erase_if(known, [](const TlsBase& k) { return k.age > kTlsWindow; });
    for (uint8_t i = 0; i < in.detail->groups_count; i++) {
      uint8_t g = in.detail->groups[i];
      if (g == CS_GRP_CALL || g == CS_GRP_RET || g == CS_GRP_JUMP || g == CS_GRP_INT) {
        known.clear();
        return;
      }
    }
    cs_regs reads, writes;
    uint8_t nreads = 0, nwrites = 0;
    if (cs_regs_access(h, &in, reads, &nreads, writes, &nwrites) != CS_ERR_OK) {
      known.clear();  // cannot tell what it writes
      return;
    }
    for (uint8_t w = 0; w < nwrites; w++) {
      const char* name = cs_reg_name(h, writes[w]);
      if (!name) continue;
      std::erase_if(known, [&](const TlsBase& k) { return k.family == gpr_family(name); });
    }
    if (in.id != X86_INS_MOV || x.op_count != 2 || x.operands[0].type != X86_OP_REG ||
        x.operands[0].size != 8)
      return;
    const char* dst = cs_reg_name(h, x.operands[0].reg);
    if (!dst) return;
    const cs_x86_op& src = x.operands[1];
    if (src.type == X86_OP_IMM) {
      known.push_back({gpr_family(dst), false, static_cast<uint64_t>(src.imm), 0});
    } else if (src.type == X86_OP_MEM && src.size == 8 && src.mem.base == X86_REG_RIP &&
               src.mem.index == X86_REG_INVALID && src.mem.segment == X86_REG_INVALID) {
      known.push_back(
          {gpr_family(dst), true, in.address + in.size + static_cast<uint64_t>(src.mem.disp), 0});
    }
  });
  if (!conflict.empty()) return make_error("function at {:#x}: {}", entry, conflict);
  if (found) return *found;
  if (unresolved)
    return make_error("function at {:#x}: {} FS access(es) through a register of unknown value",
                      entry, unresolved);
  return make_error("function at {:#x} reads no FS-relative memory", entry);
}

}  // namespace leakhound::goruntime
