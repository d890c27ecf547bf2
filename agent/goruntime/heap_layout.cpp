#include "goruntime/heap_layout.h"

#include "binary/byte_reader.h"

namespace leakhound::goruntime {

uint8_t special_profile_kind(int go_minor) {
  if (go_minor <= 22) return 2;
  if (go_minor <= 24) return 3;
  return 4;
}

const std::vector<HeapLayout>& all_heap_layouts() {
  // Oldest first; regenerate with scripts/gen-offsets.sh.
  static const std::vector<HeapLayout> layouts = {
#include "goruntime/heap_layout_table.inc"
  };
  return layouts;
}

Result<HeapLayout> heap_layout(const binary::GoVersion& v) {
  const auto& all = all_heap_layouts();
  if (all.empty()) return make_error("no heap layouts: the table is empty");
  for (const auto& l : all) {
    if (v.major == 1 && l.go_minor == v.minor) return l;
  }
  if (v.major == 1 && v.minor > all.back().go_minor) return all.back();
  return make_error("{}: no heap layout for this release", v.raw);
}

Result<HeapLayout> heap_layout_from_dwarf(const binary::DwarfTypes& dwarf, int go_minor) {
  struct Want {
    int32_t* out;
    const char* strct;
    const char* field;
    uint64_t size;  // 0: any, then its size goes to *size_out
    int32_t* size_out;
    bool optional;
  };
  HeapLayout l;
  l.go_minor = go_minor;
  const Want wants[] = {
      {&l.mheap_allspans, "runtime.mheap", "allspans", 24, nullptr, false},
      {&l.mheap_arenas, "runtime.mheap", "arenas", 8, nullptr, false},
      {&l.span_start, "runtime.mspan", "startAddr", 8, nullptr, false},
      {&l.span_npages, "runtime.mspan", "npages", 8, nullptr, false},
      {&l.span_nelems, "runtime.mspan", "nelems", 0, &l.span_nelems_size, false},
      {&l.span_spanclass, "runtime.mspan", "spanclass", 1, nullptr, false},
      {&l.span_state, "runtime.mspan", "state", 1, nullptr, false},
      {&l.span_elemsize, "runtime.mspan", "elemsize", 8, nullptr, false},
      {&l.span_specials, "runtime.mspan", "specials", 8, nullptr, false},
      {&l.span_large_type, "runtime.mspan", "largeType", 8, nullptr, true},
      {&l.special_next, "runtime.special", "next", 8, nullptr, false},
      {&l.special_offset, "runtime.special", "offset", 0, &l.special_offset_size, false},
      {&l.special_kind, "runtime.special", "kind", 1, nullptr, false},
      {&l.specialprofile_bucket, "runtime.specialprofile", "b", 8, nullptr, false},
      {&l.type_size, "internal/abi.Type", "Size_", 8, nullptr, false},
      {&l.type_ptrbytes, "internal/abi.Type", "PtrBytes", 8, nullptr, false},
      {&l.type_tflag, "internal/abi.Type", "TFlag", 1, nullptr, false},
      {&l.type_kind, "internal/abi.Type", "Kind_", 1, nullptr, false},
      {&l.type_gcdata, "internal/abi.Type", "GCData", 8, nullptr, false},
      {&l.type_str, "internal/abi.Type", "Str", 4, nullptr, false},
      {&l.md_data, "runtime.moduledata", "data", 8, nullptr, false},
      {&l.md_edata, "runtime.moduledata", "edata", 8, nullptr, false},
      {&l.md_bss, "runtime.moduledata", "bss", 8, nullptr, false},
      {&l.md_ebss, "runtime.moduledata", "ebss", 8, nullptr, false},
      {&l.md_types, "runtime.moduledata", "types", 8, nullptr, false},
      {&l.md_etypes, "runtime.moduledata", "etypes", 8, nullptr, false},
      {&l.md_gcdatamask, "runtime.moduledata", "gcdatamask", 16, nullptr, false},
      {&l.md_gcbssmask, "runtime.moduledata", "gcbssmask", 16, nullptr, false},
  };
  std::map<std::string, binary::StructLayout> structs;
  for (const Want& w : wants) {
    auto it = structs.find(w.strct);
    if (it == structs.end()) {
      auto s = dwarf.struct_layout(w.strct);
      if (!s) return s.error();
      it = structs.emplace(w.strct, std::move(*s)).first;
    }
    const binary::StructLayout& s = it->second;
    auto m = s.members.find(w.field);
    if (m == s.members.end()) {
      if (w.optional) {
        *w.out = kAbsent;
        continue;
      }
      return make_error("DWARF: {} has no field {}", w.strct, w.field);
    }
    const uint64_t size = w.size ? w.size : m->second.size;
    if (w.size && m->second.size && m->second.size != w.size)
      return make_error("DWARF: {}.{} is {} bytes, expected {}", w.strct, w.field, m->second.size,
                        w.size);
    if (size == 0 || size > 8 * 3 || s.size > (1u << 20) ||
        !binary::detail::in_bounds(m->second.offset, size, s.size))
      return make_error("DWARF: {}.{} lies outside the struct", w.strct, w.field);
    *w.out = static_cast<int32_t>(m->second.offset);
    if (w.size_out) *w.size_out = static_cast<int32_t>(size);
  }
  // An empty struct without the green tea GC; absent before 1.25.
  if (auto s = dwarf.struct_layout("runtime.spanInlineMarkBits"); s && s->size <= 4096)
    l.inline_mark_bits = static_cast<int32_t>(s->size);
  return l;
}

Result<HeapLayout> resolve_heap_layout(const binary::ElfFile& elf, const binary::GoVersion& v,
                                       std::string* source) {
  auto table = heap_layout(v);
  if (auto dwarf = binary::DwarfTypes::open(elf.path())) {
    if (auto l = heap_layout_from_dwarf(*dwarf, v.minor)) {
      if (source) *source = "DWARF";
      return l;
    }
  }
  if (!table) return table.error();
  const bool newest = v.minor > all_heap_layouts().back().go_minor;
  if (source) *source = newest ? "table (newest, best effort)" : "table";
  return table;
}

}  // namespace leakhound::goruntime
