#include "goruntime/global_refs.h"

#include <capstone/capstone.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <string_view>

namespace leakhound::goruntime {
namespace {

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
  Disassembler(const Disassembler&) = delete;
  Disassembler& operator=(const Disassembler&) = delete;
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
      } else if (op.access & CS_AC_WRITE) {
        r.kind = RefKind::Store;
        r.imm = imm;
      } else if (op.access == 0 && i == 0 && x.op_count > 1) {
        r.kind = RefKind::Store;  // capstone gave no access info: dest is operand 0
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
  if (end <= entry) return make_error("function at {:#x}: empty or inverted bounds", entry);
  auto code = elf.read_vaddr(entry, end - entry);
  if (!code) return make_error("function at {:#x}: {}", entry, code.error().message);
  std::vector<DataRef> out;
  switch (elf.machine()) {
    case binary::Machine::X86_64: {
      Disassembler d(CS_ARCH_X86, CS_MODE_64);
      if (!d.ok()) return make_error("capstone: cannot open an x86-64 disassembler");
      amd64_refs(d, *code, entry, out);
      break;
    }
    case binary::Machine::AArch64: {
      Disassembler d(CS_ARCH_ARM64, CS_MODE_ARM);
      if (!d.ok()) return make_error("capstone: cannot open an arm64 disassembler");
      arm64_refs(d, *code, entry, out);
      break;
    }
    default:
      return make_error("{}: unsupported machine (only x86-64 and arm64)", elf.path());
  }
  return out;
}

Result<std::vector<uint64_t>> find_returns(const binary::ElfFile& elf, uint64_t entry,
                                           uint64_t end) {
  if (end <= entry) return make_error("function at {:#x}: empty or inverted bounds", entry);
  auto code = elf.read_vaddr(entry, end - entry);
  if (!code) return make_error("function at {:#x}: {}", entry, code.error().message);
  std::vector<uint64_t> out;
  switch (elf.machine()) {
    case binary::Machine::X86_64: {
      Disassembler d(CS_ARCH_X86, CS_MODE_64);
      if (!d.ok()) return make_error("capstone: cannot open an x86-64 disassembler");
      // Go functions hold no data, so a linear sweep decodes them exactly; the
      // INT3 padding after the last instruction decodes harmlessly.
      decode_all(d, *code, entry, 1, [&](const cs_insn& in) {
        if (in.id == X86_INS_RET) out.push_back(in.address);
      });
      break;
    }
    case binary::Machine::AArch64: {
      for (size_t i = 0; i + 4 <= code->size(); i += 4) {
        uint32_t w;
        std::memcpy(&w, code->data() + i, 4);
        if (w == 0xd65f03c0) out.push_back(entry + i);  // RET (x30)
      }
      break;
    }
    default:
      return make_error("{}: unsupported machine (only x86-64 and arm64)", elf.path());
  }
  if (out.empty()) return make_error("function at {:#x}: no return instruction found", entry);
  return out;
}

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
  if (end <= entry) return make_error("function at {:#x}: empty or inverted bounds", entry);
  auto code = elf.read_vaddr(entry, std::min<uint64_t>(end - entry, 4096));
  if (!code) return make_error("function at {:#x}: {}", entry, code.error().message);
  Disassembler d(CS_ARCH_X86, CS_MODE_64);
  if (!d.ok()) return make_error("capstone: cannot open an x86-64 disassembler");
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
