#include "goruntime/cgo_tls.h"

#include <elf.h>

#include <cstring>
#include <span>

#include "binary/byte_reader.h"
#include "goruntime/tls_g_ref.h"

namespace leakhound::goruntime {
namespace {

// Static TLS lies below the thread pointer on amd64 (variant II) and inside the
// thread's stack mapping: an offset further away is not a TLS offset.
constexpr int64_t kMaxTlsOffset = int64_t{16} << 20;

// amd64 (variant II): below the thread pointer; arm64 (variant I): above it,
// past the 16-byte thread control block.
Result<int64_t> plausible(int64_t off, std::string_view from, bool arm64 = false) {
  const bool bad = arm64 ? (off < 16 || off > kMaxTlsOffset) : (off >= 0 || off < -kMaxTlsOffset);
  if (bad || off % 8 != 0) return make_error("{}: implausible TLS offset of g {}", from, off);
  return off;
}

// An executable (not a shared object): its TLS block is the first, right below
// the thread pointer. PIE executables have an interpreter; static PIE is not
// recognized (then the code's own offset is the only source).
bool is_executable(const binary::ElfFile& elf) {
  return elf.type() == ET_EXEC || (elf.type() == ET_DYN && elf.section(".interp").has_value());
}

// amd64: runtime.tlsg - roundup(PT_TLS.p_memsz, align) (the block ends at the
// thread pointer); arm64: roundup(16, align) + runtime.tls_g (the block
// starts past the thread control block).
std::optional<int64_t> tlsg_formula(const binary::ElfFile& elf) {
  if (!is_executable(elf)) return std::nullopt;
  const bool arm64 = elf.machine() == binary::Machine::AArch64;
  auto sym = elf.symbol(arm64 ? "runtime.tls_g" : "runtime.tlsg");
  if (!sym || sym->type != STT_TLS) return std::nullopt;
  for (const auto& seg : elf.segments()) {
    if (seg.type != PT_TLS) continue;
    const uint64_t align = seg.align ? seg.align : 1;
    // A power of two, the segment aligned to it (else the loader adds padding
    // the formula does not know), and the symbol inside it.
    if ((align & (align - 1)) != 0 || seg.vaddr % align != 0 || sym->value >= seg.memsz ||
        seg.memsz > static_cast<uint64_t>(kMaxTlsOffset))
      return std::nullopt;
    if (arm64) return static_cast<int64_t>(((16 + align - 1) & ~(align - 1)) + sym->value);
    const uint64_t block = (seg.memsz + align - 1) & ~(align - 1);
    return static_cast<int64_t>(sym->value) - static_cast<int64_t>(block);
  }
  return std::nullopt;
}

// arm64: how runtime.load_g / save_g (tls_arm64.s) address g, which only cgo
// programs keep in TLS (Go code has it in R28):
//   mrs xT, tpidr_el0; <xO = offset>; ldr/str x28, [xT, xO]
// where the offset is a constant (movz/movk: executables, TLS relaxed by the
// linker) or loaded from a GOT slot (adrp+ldr: initial-exec TLS).
Result<TlsGRef> arm64_tls_g_ref(const binary::ElfFile& elf, uint64_t entry, uint64_t end) {
  if (end <= entry) return make_error("function at {:#x}: empty or inverted bounds", entry);
  auto code = elf.read_vaddr(entry, std::min<uint64_t>(end - entry, 256) & ~uint64_t{3});
  if (!code) return make_error("function at {:#x}: {}", entry, code.error().message);
  enum class Kind : uint8_t { Unknown, Tp, Const, Page, Got };
  struct Reg {
    Kind kind = Kind::Unknown;
    uint64_t value = 0;
  };
  Reg regs[32];
  std::optional<TlsGRef> found;
  for (size_t i = 0; i + 4 <= code->size(); i += 4) {
    const uint64_t pc = entry + i;
    uint32_t in = 0;
    std::memcpy(&in, code->data() + i, 4);
    const uint32_t rd = in & 31, rn = (in >> 5) & 31, rm = (in >> 16) & 31;
    if ((in & 0xffffffe0) == 0xd53bd040) {  // mrs xD, tpidr_el0
      regs[rd] = {Kind::Tp, 0};
    } else if ((in & 0xff800000) == 0xd2800000) {  // movz xD, #imm, lsl #hw*16
      regs[rd] = {Kind::Const, uint64_t{(in >> 5) & 0xffff} << (((in >> 21) & 3) * 16)};
    } else if ((in & 0xff800000) == 0xf2800000) {  // movk xD, #imm, lsl #hw*16
      const unsigned sh = ((in >> 21) & 3) * 16;
      if (regs[rd].kind == Kind::Const)
        regs[rd].value =
            (regs[rd].value & ~(uint64_t{0xffff} << sh)) | (uint64_t{(in >> 5) & 0xffff} << sh);
      else
        regs[rd] = {};
    } else if ((in & 0x9f000000) == 0x90000000) {  // adrp xD, page
      int64_t imm = ((in >> 29) & 3) | (((in >> 5) & 0x7ffff) << 2);
      if (imm & (int64_t{1} << 20)) imm -= int64_t{1} << 21;
      regs[rd] = {Kind::Page, (pc & ~uint64_t{0xfff}) + static_cast<uint64_t>(imm << 12)};
    } else if ((in & 0xffc00000) == 0xf9400000) {  // ldr xD, [xN, #imm12*8]
      const uint64_t off = ((in >> 10) & 0xfff) * 8;
      regs[rd] = regs[rn].kind == Kind::Page ? Reg{Kind::Got, regs[rn].value + off} : Reg{};
    } else if ((in & 0xffa0fc00) == 0xf8206800) {  // ldr/str xD, [xN, xM]
      const Reg* base = &regs[rn];
      const Reg* index = &regs[rm];
      if (index->kind == Kind::Tp) std::swap(base, index);
      if (base->kind == Kind::Tp && rd == 28 &&
          (index->kind == Kind::Const || index->kind == Kind::Got)) {
        TlsGRef r;
        r.insn = pc;
        if (index->kind == Kind::Const)
          r.offset = static_cast<int64_t>(index->value);
        else
          r.got_slot = index->value;
        if (found && (found->offset != r.offset || found->got_slot != r.got_slot))
          return make_error("TPIDR_EL0 accesses at {:#x} and {:#x} disagree", found->insn, r.insn);
        if (!found) found = r;
      }
      if (in & (1u << 22)) regs[rd] = {};  // a load writes xD
    } else if ((in & 0xfc000000) == 0x14000000 || (in & 0xfffffc1f) == 0xd65f0000) {
      break;  // b, ret: the end of this path (load_g and save_g are straight-line)
    }
  }
  if (!found) return make_error("function at {:#x}: no access of g through TPIDR_EL0", entry);
  return *found;
}

// The functions that read or write g through TLS agree on where it is; that
// place is checked against the linker's own formula when it has one.
Result<GTlsAccess> find_in_functions(const binary::ElfFile& elf, const binary::Pclntab& pcln,
                                     std::span<const char* const> funcs,
                                     Result<TlsGRef> (*find_ref)(const binary::ElfFile&, uint64_t,
                                                                 uint64_t),
                                     bool arm64, std::string_view tlsg_name) {
  std::optional<GTlsAccess> found;
  std::string why;
  for (const char* name : funcs) {
    auto fn = pcln.func_by_name(name);
    if (!fn) fn = pcln.func_by_name(std::string(name) + ".abi0");
    if (!fn) {
      why += fmt::format("{}{}: not in the pclntab", why.empty() ? "" : "; ", name);
      continue;
    }
    auto ref = find_ref(elf, fn->entry, fn->end);
    if (!ref) {
      why += fmt::format("{}{}: {}", why.empty() ? "" : "; ", name, ref.error().message);
      continue;
    }
    if (!found) {
      found = GTlsAccess{name, ref->offset, ref->got_slot, std::nullopt};
    } else if (found->offset != ref->offset || found->got_slot != ref->got_slot) {
      return make_error("{}: {} and {} find g in different TLS places", elf.path(), found->function,
                        name);
    }
  }
  if (!found) return make_error("{}: cannot find where threads keep g: {}", elf.path(), why);
  found->tlsg_formula = tlsg_formula(elf);
  if (found->offset) {
    if (auto ok = plausible(*found->offset, found->function, arm64); !ok) return ok.error();
    if (found->tlsg_formula && *found->tlsg_formula != *found->offset)
      return make_error("{}: {} finds g at TLS offset {}, {} says {}", elf.path(), found->function,
                        *found->offset, tlsg_name, *found->tlsg_formula);
  }
  return *found;
}

}  // namespace

Result<GTlsAccess> find_g_tls_access(const binary::ElfFile& elf, const binary::Pclntab& pcln) {
  if (elf.machine() == binary::Machine::AArch64) {
    // load_g and save_g (tls_arm64.s) go through TPIDR_EL0 in every release.
    static const char* const kFuncs[] = {"runtime.load_g", "runtime.save_g"};
    return find_in_functions(elf, pcln, kFuncs, arm64_tls_g_ref, true, "runtime.tls_g");
  }
  if (elf.machine() != binary::Machine::X86_64)
    return make_error("{}: finding g in TLS needs an x86-64 binary", elf.path());
  // Assembly functions that read and write g through TLS (asm_amd64.s:
  // get_tls then MOVQ g(CX)) in every release since 1.18; the pclntab names
  // them without the linker's ".abi0" suffix, .symtab with it.
  static const char* const kFuncs[] = {"runtime.asmcgocall", "runtime.mcall",
                                       "runtime.systemstack"};
  return find_in_functions(elf, pcln, kFuncs, find_tls_g_ref, false, "runtime.tlsg");
}

Result<int64_t> g_tls_offset(const binary::ElfFile& elf, const GTlsAccess& access,
                             const target::MemoryReader* mem, uint64_t load_bias) {
  const bool arm64 = elf.machine() == binary::Machine::AArch64;
  if (access.offset) return plausible(*access.offset, access.function, arm64);
  if (!access.got_slot) return make_error("{}: no TLS access of g to resolve", access.function);
  const uint64_t slot = *access.got_slot;
  // The slot is data the loader relocates: in a writable segment of the file.
  bool writable = false;
  for (const auto& seg : elf.segments()) {
    if (seg.type == PT_LOAD && (seg.flags & PF_W) && slot >= seg.vaddr &&
        binary::detail::in_bounds(slot - seg.vaddr, 8, seg.memsz))
      writable = true;
  }
  if (!writable)
    return make_error("{}: GOT slot {:#x} of g's TLS offset is not in a writable segment",
                      access.function, slot);
  if (!mem) {
    if (access.tlsg_formula) return plausible(*access.tlsg_formula, "runtime.tlsg", arm64);
    return make_error(
        "{}: g's TLS offset is in GOT slot {:#x}, filled by the dynamic loader: it needs the "
        "running process",
        access.function, slot);
  }
  auto v = mem->read_value<int64_t>(slot + load_bias);
  if (!v)
    return make_error("{}: reading GOT slot {:#x} (at {:#x}): {}", access.function, slot,
                      slot + load_bias, v.error().message);
  // Not yet relocated (0) or another value than a TLS offset: refuse.
  auto off = plausible(*v, fmt::format("{} (GOT slot {:#x})", access.function, slot), arm64);
  if (off && access.tlsg_formula && *off != *access.tlsg_formula)
    return make_error("{}: GOT slot {:#x} holds TLS offset {}, runtime.tlsg says {}",
                      access.function, slot, *off, *access.tlsg_formula);
  return off;
}

Result<int64_t> find_g_tls_offset(const binary::ElfFile& elf, const binary::Pclntab& pcln,
                                  const target::MemoryReader* mem, uint64_t load_bias) {
  auto access = find_g_tls_access(elf, pcln);
  if (!access) return access.error();
  return g_tls_offset(elf, *access, mem, load_bias);
}

}  // namespace leakhound::goruntime
