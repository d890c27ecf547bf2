#include "goruntime/cgo_tls.h"

#include <elf.h>

#include "binary/byte_reader.h"
#include "goruntime/tls_g_ref.h"

namespace leakhound::goruntime {
namespace {

// Static TLS lies below the thread pointer on amd64 (variant II) and inside the
// thread's stack mapping: an offset further away is not a TLS offset.
constexpr int64_t kMaxTlsOffset = int64_t{16} << 20;

Result<int64_t> plausible(int64_t off, std::string_view from) {
  if (off >= 0 || off < -kMaxTlsOffset || off % 8 != 0)
    return make_error("{}: implausible TLS offset of g {}", from, off);
  return off;
}

// An executable (not a shared object): its TLS block is the first, right below
// the thread pointer. PIE executables have an interpreter; static PIE is not
// recognized (then the code's own offset is the only source).
bool is_executable(const binary::ElfFile& elf) {
  return elf.type() == ET_EXEC || (elf.type() == ET_DYN && elf.section(".interp").has_value());
}

std::optional<int64_t> tlsg_formula(const binary::ElfFile& elf) {
  if (!is_executable(elf)) return std::nullopt;
  auto sym = elf.symbol("runtime.tlsg");
  if (!sym || sym->type != STT_TLS) return std::nullopt;
  for (const auto& seg : elf.segments()) {
    if (seg.type != PT_TLS) continue;
    const uint64_t align = seg.align ? seg.align : 1;
    // A power of two, the segment aligned to it (else the loader adds padding
    // the formula does not know), and the symbol inside it.
    if ((align & (align - 1)) != 0 || seg.vaddr % align != 0 || sym->value >= seg.memsz ||
        seg.memsz > static_cast<uint64_t>(kMaxTlsOffset))
      return std::nullopt;
    const uint64_t block = (seg.memsz + align - 1) & ~(align - 1);
    return static_cast<int64_t>(sym->value) - static_cast<int64_t>(block);
  }
  return std::nullopt;
}

}  // namespace

Result<GTlsAccess> find_g_tls_access(const binary::ElfFile& elf, const binary::Pclntab& pcln) {
  if (elf.machine() == binary::Machine::AArch64)
    return make_error("{}: finding g in TLS on arm64 is not supported yet", elf.path());
  if (elf.machine() != binary::Machine::X86_64)
    return make_error("{}: finding g in TLS needs an x86-64 binary", elf.path());
  // Assembly functions that read and write g through TLS (asm_amd64.s:
  // get_tls then MOVQ g(CX)) in every release since 1.18; the pclntab names
  // them without the linker's ".abi0" suffix, .symtab with it.
  static const char* const kFuncs[] = {"runtime.asmcgocall", "runtime.mcall",
                                       "runtime.systemstack"};
  std::optional<GTlsAccess> found;
  std::string why;
  for (const char* name : kFuncs) {
    auto fn = pcln.func_by_name(name);
    if (!fn) fn = pcln.func_by_name(std::string(name) + ".abi0");
    if (!fn) {
      why += fmt::format("{}{}: not in the pclntab", why.empty() ? "" : "; ", name);
      continue;
    }
    auto ref = find_tls_g_ref(elf, fn->entry, fn->end);
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
    if (auto ok = plausible(*found->offset, found->function); !ok) return ok.error();
    if (found->tlsg_formula && *found->tlsg_formula != *found->offset)
      return make_error("{}: {} finds g at TLS offset {}, runtime.tlsg says {}", elf.path(),
                        found->function, *found->offset, *found->tlsg_formula);
  }
  return *found;
}

Result<int64_t> g_tls_offset(const binary::ElfFile& elf, const GTlsAccess& access,
                             const target::MemoryReader* mem, uint64_t load_bias) {
  if (access.offset) return plausible(*access.offset, access.function);
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
    if (access.tlsg_formula) return plausible(*access.tlsg_formula, "runtime.tlsg");
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
  auto off = plausible(*v, fmt::format("{} (GOT slot {:#x})", access.function, slot));
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
