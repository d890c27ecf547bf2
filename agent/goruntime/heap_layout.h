// Where the Go runtime keeps its heap's own bookkeeping, per Go version, for
// the retention walk (goruntime/heap_walk.h): runtime.mheap_.allspans and
// .arenas, runtime.mspan, the specials that tie a sampled object to its
// profile bucket, the type descriptor (internal/abi.Type) and moduledata's
// data/bss pointer masks. Offsets come from the binary's DWARF when it has
// one, else from the table scripts/gen-offsets.sh generates from real
// toolchains' binaries (heap_layout_table.inc; g_layout_drift checks it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "binary/buildinfo.h"
#include "binary/dwarf_types.h"
#include "binary/elf_file.h"
#include "goruntime/g_layout.h"  // kAbsent
#include "util/result.h"

namespace leakhound::goruntime {

struct HeapLayout {
  int go_minor = 0;
  int32_t mheap_allspans = 0;  // []*mspan
  int32_t mheap_arenas = 0;    // [1]*[1<<22]*heapArena
  int32_t span_start = 0, span_npages = 0;
  int32_t span_nelems = 0, span_nelems_size = 0;  // uintptr before 1.22, uint16 after
  int32_t span_spanclass = 0, span_state = 0;     // uint8 each
  int32_t span_elemsize = 0, span_specials = 0;
  int32_t span_large_type = kAbsent;  // *_type of a large object, 1.22+
  int32_t special_next = 0;
  int32_t special_offset = 0, special_offset_size = 0;  // uint16, uintptr from 1.24
  int32_t special_kind = 0;
  int32_t specialprofile_bucket = 0;  // *bucket
  int32_t type_size = 0, type_ptrbytes = 0, type_tflag = 0, type_kind = 0, type_gcdata = 0,
          type_str = 0;
  int32_t md_data = 0, md_edata = 0, md_bss = 0, md_ebss = 0, md_types = 0, md_etypes = 0;
  int32_t md_gcdatamask = 0, md_gcbssmask = 0;  // bitvector{n int32, bytedata *uint8}
  // Bytes of the green tea GC's inline mark bits at the end of a small-object
  // span, before its heap bits (1.26+ by default); 0 without.
  int32_t inline_mark_bits = 0;
};

// _KindSpecialProfile (mheap.go), a constant DWARF does not carry: 2 up to
// 1.22, 3 in 1.23-1.24 (weak handles came first), 4 from 1.25 (tiny blocks).
uint8_t special_profile_kind(int go_minor);

// The table's layout for a release; for releases newer than the table, the
// newest layout (best effort).
Result<HeapLayout> heap_layout(const binary::GoVersion& v);
Result<HeapLayout> heap_layout_from_dwarf(const binary::DwarfTypes& dwarf, int go_minor);
// DWARF when present, else the table. `source`: "DWARF", "table",
// "table (newest, best effort)".
Result<HeapLayout> resolve_heap_layout(const binary::ElfFile& elf, const binary::GoVersion& v,
                                       std::string* source);
const std::vector<HeapLayout>& all_heap_layouts();

}  // namespace leakhound::goruntime
