// Where a thread of a Go program finds its current g in thread-local storage
// (amd64: at fs_base + offset): what a probe on C code needs to find the
// goroutine behind a cgo call (GO_RUNTIME.md section 4).
#pragma once

#include <cstdint>

#include "binary/elf_file.h"
#include "binary/pclntab.h"
#include "util/result.h"

namespace leakhound::goruntime {

// From the runtime's own code (runtime.asmcgocall and friends read and write g
// through TLS), so stripped, PIE and externally linked binaries work alike:
// -8 when internally linked, lower when C code adds TLS variables of its own.
Result<int64_t> find_g_tls_offset(const binary::ElfFile& elf, const binary::Pclntab& pcln);

}  // namespace leakhound::goruntime
