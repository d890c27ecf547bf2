#include "goruntime/cgo_tls.h"

#include "goruntime/global_refs.h"

namespace leakhound::goruntime {

Result<int64_t> find_g_tls_offset(const binary::ElfFile& elf, const binary::Pclntab& pcln) {
  // Assembly functions that load g from TLS first thing (asm_amd64.s: get_tls
  // then MOVQ g(CX)), in every release since 1.21.
  static const char* const kFuncs[] = {"runtime.asmcgocall.abi0", "runtime.asmcgocall",
                                       "runtime.mcall", "runtime.systemstack.abi0",
                                       "runtime.systemstack"};
  std::string why;
  for (const char* name : kFuncs) {
    auto fn = pcln.func_by_name(name);
    if (!fn) continue;
    auto off = find_tls_g_offset(elf, fn->entry, fn->end);
    if (off) {
      // TLS lies below the thread pointer on amd64 (variant II), within reason.
      if (*off >= 0 || *off < -(int64_t{1} << 20))
        return make_error("{}: implausible TLS offset of g {}", name, *off);
      return off;
    }
    why = fmt::format("{}: {}", name, off.error().message);
  }
  if (why.empty()) return make_error("none of the runtime's TLS-reading functions was found");
  return make_error("cannot find where threads keep g: {}", why);
}

}  // namespace leakhound::goruntime
