#include "goruntime/data_refs.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <string_view>

#include "goruntime/disassembler.h"

namespace leakhound::goruntime {
namespace {

using detail::decode_all;
using detail::Disassembler;

// ---- amd64: every RIP-relative memory operand (Go addresses all of its data
// this way, in PIE and externally linked binaries too).
void amd64_refs(const Disassembler& d, std::span<const uint8_t> code, uint64_t entry,
                std::vector<DataRef>& out) {
  decode_all(d, code, entry, 1, [&](const cs_insn& in) {
    const cs_x86& x = in.detail->x86;
    std::optional<int64_t> imm;
    for (uint8_t i = 0; i < x.op_count; i++) {
      if (x.operands[i].type == X86_OP_IMM) imm = x.operands[i].imm;
    }
    for (uint8_t i = 0; i < x.op_count; i++) {
      const cs_x86_op& op = x.operands[i];
      if (op.type != X86_OP_MEM || op.mem.base != X86_REG_RIP || op.mem.index != X86_REG_INVALID)
        continue;
      DataRef r;
      r.insn = in.address;
      r.target = in.address + in.size + static_cast<uint64_t>(op.mem.disp);
      r.width = op.size;
      if (in.id == X86_INS_LEA) {
        r.kind = RefKind::AddressOf;
        r.width = 0;
      } else if (in.id == X86_INS_CMP || in.id == X86_INS_TEST) {
        r.kind = RefKind::Compare;
        r.imm = imm;
      } else if ((op.access & CS_AC_WRITE) || (op.access == 0 && i == 0 && x.op_count > 1)) {
        r.kind = RefKind::Store;  // written; without access info from capstone, dest is operand 0
        r.imm = imm;
      } else {
        r.kind = RefKind::Load;
      }
      out.push_back(r);
    }
  });
}

// ---- arm64: Go's assembler forms a data address with ADRP (4 KiB page) and
// then either ADD #lo12 (address of, e.g. before LDAR/STLR) or an LDR/STR with
// the low bits as offset, normally in the next instruction. Tracked register
// values expire after kWindow instructions, on any write, and on calls/branches.
constexpr int kWindow = 6;

struct Tracked {
  uint64_t value = 0;  // ADRP page, or a full address from ADRP+ADD
  int age = -1;        // instructions since set; -1: not tracked
};

int gpr_index(csh h, unsigned reg) {
  const char* n = cs_reg_name(h, reg);
  if (!n) return -1;
  std::string_view s(n);
  if (s == "fp" || s == "x29" || s == "w29") return 29;
  if (s == "lr" || s == "x30" || s == "w30") return 30;
  if (s.size() < 2 || (s[0] != 'x' && s[0] != 'w')) return -1;
  int v = 0;
  for (char c : s.substr(1)) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return -1;
    v = v * 10 + (c - '0');
  }
  return v <= 30 ? v : -1;
}

// Width of a register operand from its name (w/x/b/h/s/d/q, wzr/xzr).
uint8_t reg_width(csh h, unsigned reg) {
  const char* n = cs_reg_name(h, reg);
  if (!n) return 0;
  switch (n[0]) {
    case 'w':
    case 's':
      return 4;
    case 'x':
    case 'd':
      return 8;
    case 'b':
      return 1;
    case 'h':
      return 2;
    case 'q':
      return 16;
    default:
      return 0;
  }
}

bool is_zero_reg(csh h, unsigned reg) {
  const char* n = cs_reg_name(h, reg);
  return n && (std::strcmp(n, "xzr") == 0 || std::strcmp(n, "wzr") == 0);
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// LSE read-modify-write atomics: they write memory.
bool is_lse_rmw(std::string_view m) {
  for (auto p :
       {"ldadd", "ldclr", "ldeor", "ldset", "ldsmax", "ldsmin", "ldumax", "ldumin", "cas", "swp"}) {
    if (starts_with(m, p)) return true;
  }
  return false;
}

bool is_exclusive_store(std::string_view m) {  // stxr/stlxr/stxp/stlxp: op0 = status
  return starts_with(m, "stxr") || starts_with(m, "stlxr") || starts_with(m, "stxp") ||
         starts_with(m, "stlxp");
}

bool ends_branch_window(const cs_insn& in) {
  for (uint8_t i = 0; i < in.detail->groups_count; i++) {
    uint8_t g = in.detail->groups[i];
    if (g == CS_GRP_CALL || g == CS_GRP_RET || g == CS_GRP_JUMP) return true;
  }
  return false;
}

void arm64_refs(const Disassembler& d, std::span<const uint8_t> code, uint64_t entry,
                std::vector<DataRef>& out) {
  std::array<Tracked, 31> regs{};
  const csh h = d.handle();
  decode_all(d, code, entry, 4, [&](const cs_insn& in) {
    const cs_arm64& a = in.detail->arm64;
    const std::string_view m(in.mnemonic);
    auto tracked = [&](unsigned reg) -> const Tracked* {
      int i = gpr_index(h, reg);
      return (i >= 0 && regs[i].age >= 0) ? &regs[i] : nullptr;
    };
    std::array<int, 4> written{-1, -1, -1, -1};
    size_t nwritten = 0;
    auto mark_written = [&](unsigned reg) {
      int i = gpr_index(h, reg);
      if (i >= 0 && nwritten < written.size()) written[nwritten++] = i;
    };
    int fresh = -1;
    Tracked fresh_val;

    const bool store = starts_with(m, "st") || is_lse_rmw(m);
    const bool load = !store && starts_with(m, "ld");
    if (in.id == ARM64_INS_ADRP && a.op_count == 2 && a.operands[1].type == ARM64_OP_IMM) {
      fresh = gpr_index(h, a.operands[0].reg);
      fresh_val = {static_cast<uint64_t>(a.operands[1].imm), 0};
    } else if (in.id == ARM64_INS_ADD && a.op_count == 3 && a.operands[1].type == ARM64_OP_REG &&
               a.operands[2].type == ARM64_OP_IMM && tracked(a.operands[1].reg)) {
      // ADRP+ADD: the address itself (sym or sym+field).
      uint64_t imm = static_cast<uint64_t>(a.operands[2].imm);
      if (a.operands[2].shift.type == ARM64_SFT_LSL) imm <<= a.operands[2].shift.value;
      const uint64_t target = tracked(a.operands[1].reg)->value + imm;
      out.push_back({in.address, target, 0, RefKind::AddressOf, std::nullopt});
      fresh = gpr_index(h, a.operands[0].reg);
      fresh_val = {target, 0};
      mark_written(a.operands[0].reg);
    } else if (load || store) {
      // Data registers: the register operands, minus an exclusive store's status.
      std::array<unsigned, 3> data{};
      size_t ndata = 0;
      const cs_arm64_op* mem = nullptr;
      for (uint8_t i = 0; i < a.op_count; i++) {
        const cs_arm64_op& op = a.operands[i];
        if (op.type == ARM64_OP_MEM) {
          mem = &op;
        } else if (op.type == ARM64_OP_REG && ndata < data.size()) {
          if (i == 0 && is_exclusive_store(m)) {
            mark_written(op.reg);
            continue;
          }
          data[ndata++] = op.reg;
          if (load || is_lse_rmw(m)) mark_written(op.reg);
        }
      }
      const Tracked* t = mem ? tracked(mem->mem.base) : nullptr;
      if (t && mem->mem.index == ARM64_REG_INVALID && ndata > 0) {
        uint8_t w = reg_width(h, data[0]);
        const char last = m.back();
        if (m == "ldrsw" || m == "ldursw") {
          w = 4;
        } else if (last == 'b') {
          w = 1;
        } else if (last == 'h') {
          w = 2;
        }
        const bool pair = starts_with(m, "ldp") || starts_with(m, "stp") ||
                          starts_with(m, "ldnp") || starts_with(m, "stnp");
        const uint64_t base = t->value + static_cast<uint64_t>(int64_t{mem->mem.disp});
        for (size_t k = 0; k < (pair ? ndata : 1); k++) {
          DataRef r{in.address, base + k * w, w, store ? RefKind::Store : RefKind::Load,
                    std::nullopt};
          if (store && is_zero_reg(h, data[k])) r.imm = 0;
          out.push_back(r);
        }
      }
      if (mem && a.writeback) mark_written(mem->mem.base);
    } else if (!(starts_with(m, "cmp") || starts_with(m, "cmn") || starts_with(m, "tst") ||
                 starts_with(m, "ccm") || starts_with(m, "prfm"))) {
      // Data processing and moves write their first operand.
      if (a.op_count > 0 && a.operands[0].type == ARM64_OP_REG) mark_written(a.operands[0].reg);
    }

    // Expire tracked values: written, too old, or control flow leaves the block.
    const bool flush = ends_branch_window(in);
    for (size_t i = 0; i < regs.size(); i++) {
      Tracked& r = regs[i];
      if (r.age < 0) continue;
      bool w = false;
      for (size_t k = 0; k < nwritten; k++) w = w || written[k] == static_cast<int>(i);
      if (w || flush || ++r.age > kWindow) r.age = -1;
    }
    if (fresh >= 0 && !flush) regs[fresh] = fresh_val;
  });
}

}  // namespace

Result<std::vector<DataRef>> find_data_refs(const binary::ElfFile& elf, uint64_t entry,
                                            uint64_t end) {
  auto code = detail::function_code(elf, entry, end);
  if (!code) return code.error();
  auto d = Disassembler::for_machine(elf);
  if (!d) return d.error();
  std::vector<DataRef> out;
  if (elf.machine() == binary::Machine::X86_64)
    amd64_refs(*d, *code, entry, out);
  else
    arm64_refs(*d, *code, entry, out);
  return out;
}

}  // namespace leakhound::goruntime
