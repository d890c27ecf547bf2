package main

// The heap's own bookkeeping (runtime.mheap_.allspans, runtime.mspan, the
// specials, internal/abi.Type, moduledata's data/bss masks): the offsets
// agent/goruntime/heap_layout.cpp reads them at, per release, for the
// retention walk. Fields follow HeapLayout (heap_layout.h).

import "strings"

// Fields whose size changed across releases also give their size
// (withSize); internal/abi.Type was runtime._type before 1.21, with other
// field names.
var heapSpecs = []spec{
	{cname: "mheap_allspans", at: loc{"runtime.mheap", "allspans"}, size: 24},
	{cname: "mheap_arenas", at: loc{"runtime.mheap", "arenas"}, size: 8}, // [1]*[1<<22]*heapArena on linux/amd64
	{cname: "span_start", at: loc{"runtime.mspan", "startAddr"}, size: 8},
	{cname: "span_npages", at: loc{"runtime.mspan", "npages"}, size: 8},
	{cname: "span_nelems", at: loc{"runtime.mspan", "nelems"}, withSize: true}, // uint16 from 1.22, uintptr before
	{cname: "span_spanclass", at: loc{"runtime.mspan", "spanclass"}, size: 1},
	{cname: "span_state", at: loc{"runtime.mspan", "state"}, size: 1},
	{cname: "span_elemsize", at: loc{"runtime.mspan", "elemsize"}, size: 8},
	{cname: "span_specials", at: loc{"runtime.mspan", "specials"}, size: 8},
	{cname: "span_large_type", at: loc{"runtime.mspan", "largeType"}, size: 8, optional: true}, // allocation headers, 1.22+
	{cname: "special_next", at: loc{"runtime.special", "next"}, size: 8},
	{cname: "special_offset", at: loc{"runtime.special", "offset"}, withSize: true}, // uint16, uintptr from 1.25
	{cname: "special_kind", at: loc{"runtime.special", "kind"}, size: 1},
	{cname: "specialprofile_bucket", at: loc{"runtime.specialprofile", "b"}, size: 8},
	{cname: "type_size", at: loc{"internal/abi.Type", "Size_"}, size: 8, alt: []loc{{"runtime._type", "size"}}},
	{cname: "type_ptrbytes", at: loc{"internal/abi.Type", "PtrBytes"}, size: 8, alt: []loc{{"runtime._type", "ptrdata"}}},
	{cname: "type_tflag", at: loc{"internal/abi.Type", "TFlag"}, size: 1, alt: []loc{{"runtime._type", "tflag"}}},
	{cname: "type_kind", at: loc{"internal/abi.Type", "Kind_"}, size: 1, alt: []loc{{"runtime._type", "kind"}}},
	{cname: "type_gcdata", at: loc{"internal/abi.Type", "GCData"}, size: 8, alt: []loc{{"runtime._type", "gcdata"}}},
	{cname: "type_str", at: loc{"internal/abi.Type", "Str"}, size: 4, alt: []loc{{"runtime._type", "str"}}},
	{cname: "md_data", at: loc{"runtime.moduledata", "data"}, size: 8},
	{cname: "md_edata", at: loc{"runtime.moduledata", "edata"}, size: 8},
	{cname: "md_bss", at: loc{"runtime.moduledata", "bss"}, size: 8},
	{cname: "md_ebss", at: loc{"runtime.moduledata", "ebss"}, size: 8},
	{cname: "md_types", at: loc{"runtime.moduledata", "types"}, size: 8},
	{cname: "md_etypes", at: loc{"runtime.moduledata", "etypes"}, size: 8},
	{cname: "md_gcdatamask", at: loc{"runtime.moduledata", "gcdatamask"}, size: 16},
	{cname: "md_gcbssmask", at: loc{"runtime.moduledata", "gcbssmask"}, size: 16},
}

func analyzeHeap(r *resolver) ([]entry, error) {
	es, err := r.resolve(heapSpecs)
	if err != nil {
		return nil, err
	}
	// Size of runtime.spanInlineMarkBits (the green tea GC's mark bits at
	// the end of a small-object span, before its heap bits); 0 without, or
	// when it is empty ("not a complete struct type").
	var inline int64
	if st, err := r.find("runtime.spanInlineMarkBits"); err == nil {
		inline = st.ByteSize
	} else if !strings.HasPrefix(err.Error(), "no DWARF struct type") && !strings.Contains(err.Error(), "not a complete") {
		return nil, err
	}
	return append(es, entry{"inline_mark_bits", inline}), nil
}
