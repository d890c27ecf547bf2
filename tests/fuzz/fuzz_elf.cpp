// ELF, .go.buildinfo, .gopclntab (pcvalue and inline tree), DWARF types (the
// runtime.g layout) and the disassembly-based readers on arbitrary bytes
// presented as a file. Seeds: real Go binaries shrunk by shrink_go_elf.py.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "binary/buildinfo.h"
#include "binary/dwarf_types.h"
#include "binary/elf_file.h"
#include "binary/pclntab.h"
#include "goruntime/cgo_tls.h"
#include "goruntime/data_refs.h"
#include "goruntime/g_layout.h"
#include "goruntime/profile_layout.h"
#include "goruntime/return_sites.h"
#include "goruntime/runtime_symbols.h"

using namespace leakhound;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static int fd = ::memfd_create("fuzz-elf", 0);
  if (fd < 0 || ::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size))
    return 0;
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  auto elf = binary::ElfFile::open(path);
  if (!elf) return 0;
  auto bi = binary::read_buildinfo(*elf);
  auto pcln = binary::Pclntab::load(*elf);
  // The daemon drops the file's pages after each report: later reads fault them in again.
  if (const auto* m = elf->mapping()) m->release_pages();
  if (pcln) {
    size_t n = 0;
    pcln->for_each_func([&](const binary::FuncInfo& f) {
      if (n++ > 64) return;
      (void)pcln->frames(f.entry);
      (void)pcln->frames(f.entry + (f.end - f.entry) / 2);
      (void)pcln->frame_size(f.entry + (f.end - f.entry) / 2);
      (void)pcln->func_for_pc(f.end - 1);
      if (n < 8) {
        (void)goruntime::find_data_refs(*elf, f.entry, f.end);
        (void)goruntime::find_returns(*elf, f.entry, f.end);
      }
    });
    (void)pcln->func_by_name("runtime.mallocgc");
    (void)goruntime::find_g_tls_offset(*elf, *pcln);  // no memory: GOT slots unresolved
    if (bi) (void)goruntime::resolve_runtime_symbols(*elf, *pcln, bi->go_version);
  }
  if (auto dw = binary::DwarfTypes::open(path)) {
    (void)goruntime::g_layout_from_dwarf(*dw, *elf,
                                         bi ? bi->go_version.minor : goruntime::kMaxGoMinor);
  }
  return 0;
}
