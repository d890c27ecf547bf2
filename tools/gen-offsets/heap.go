package main

// The heap's own bookkeeping (runtime.mheap_.allspans, runtime.mspan, the
// specials, internal/abi.Type, moduledata's data/bss masks): the offsets
// agent/goruntime/heap_layout.cpp reads them at, per release, for the
// retention walk.

import (
	"debug/dwarf"
	"errors"
	"strings"
)

// heapField is one entry of HeapLayout (heap_layout.h): its C++ name, the
// struct and field in the runtime's DWARF, the field's size (0: any) and
// whether a release may lack it (then -1).
type heapField struct {
	cname, strct, field string
	size                int64
	optional            bool
}

var heapFields = []heapField{
	{"mheap_allspans", "runtime.mheap", "allspans", 24, false},
	{"mheap_arenas", "runtime.mheap", "arenas", 8, false}, // [1]*[1<<22]*heapArena on linux/amd64
	{"span_start", "runtime.mspan", "startAddr", 8, false},
	{"span_npages", "runtime.mspan", "npages", 8, false},
	{"span_nelems", "runtime.mspan", "nelems", 0, false}, // uint16 from 1.22, uintptr before
	{"span_spanclass", "runtime.mspan", "spanclass", 1, false},
	{"span_state", "runtime.mspan", "state", 1, false},
	{"span_elemsize", "runtime.mspan", "elemsize", 8, false},
	{"span_specials", "runtime.mspan", "specials", 8, false},
	{"span_large_type", "runtime.mspan", "largeType", 8, true}, // allocation headers, 1.22+
	{"special_next", "runtime.special", "next", 8, false},
	{"special_offset", "runtime.special", "offset", 0, false}, // uint16, uintptr from 1.25
	{"special_kind", "runtime.special", "kind", 1, false},
	{"specialprofile_bucket", "runtime.specialprofile", "b", 8, false},
	{"type_size", "internal/abi.Type", "Size_", 8, false},
	{"type_ptrbytes", "internal/abi.Type", "PtrBytes", 8, false},
	{"type_tflag", "internal/abi.Type", "TFlag", 1, false},
	{"type_kind", "internal/abi.Type", "Kind_", 1, false},
	{"type_gcdata", "internal/abi.Type", "GCData", 8, false},
	{"type_str", "internal/abi.Type", "Str", 4, false},
	{"md_data", "runtime.moduledata", "data", 8, false},
	{"md_edata", "runtime.moduledata", "edata", 8, false},
	{"md_bss", "runtime.moduledata", "bss", 8, false},
	{"md_ebss", "runtime.moduledata", "ebss", 8, false},
	{"md_types", "runtime.moduledata", "types", 8, false},
	{"md_etypes", "runtime.moduledata", "etypes", 8, false},
	{"md_gcdatamask", "runtime.moduledata", "gcdatamask", 16, false},
	{"md_gcbssmask", "runtime.moduledata", "gcbssmask", 16, false},
}

// runtime._type's field names before internal/abi.Type (1.18-1.20).
var oldTypeFields = map[string]string{
	"Size_": "size", "PtrBytes": "ptrdata", "TFlag": "tflag", "Kind_": "kind", "GCData": "gcdata", "Str": "str",
}

type heapLayout struct {
	version string
	minor   int
	values  []int64 // per heapFields
	sizes   map[string]int64
	// Size of runtime.spanInlineMarkBits (the green tea GC's mark bits at
	// the end of a small-object span, before its heap bits); 0 without.
	inlineMarkBits int64
}

func analyzeHeap(d *dwarf.Data, version string, minor int) (*heapLayout, error) {
	l := &heapLayout{version: version, minor: minor, sizes: map[string]int64{}}
	structs := map[string]*dwarf.StructType{}
	var errs []error
	for _, f := range heapFields {
		st, ok := structs[f.strct]
		if !ok {
			var err error
			if st, err = findStruct(d, f.strct); err != nil && f.strct == "internal/abi.Type" {
				st, err = findStruct(d, "runtime._type") // before internal/abi.Type
			}
			if err != nil {
				return nil, err
			}
			structs[f.strct] = st
		}
		name := f.field
		if st.StructName == "runtime._type" {
			name = oldTypeFields[name]
		}
		size := f.size
		if size == 0 {
			if fl := field(st, name); fl != nil {
				size = fl.Type.Size()
				l.sizes[f.cname] = size
			}
		}
		v, err := offset(st, name, size, f.optional)
		l.values = append(l.values, v)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if st, err := findStruct(d, "runtime.spanInlineMarkBits"); err == nil {
		l.inlineMarkBits = st.ByteSize
	} else if !strings.HasPrefix(err.Error(), "no DWARF struct type") {
		// An empty struct (no green tea GC) is "not a complete struct type".
		if !strings.Contains(err.Error(), "not a complete") {
			return nil, err
		}
	}
	return l, nil
}

func renderHeap(ls []*heapLayout) string {
	return renderTable(ls, func(l *heapLayout) string { return l.version }, func(l *heapLayout, f entryField, _ *strings.Builder) {
		f("go_minor", int64(l.minor))
		for i, hf := range heapFields {
			f(hf.cname, l.values[i])
			if sz, ok := l.sizes[hf.cname]; ok {
				f(hf.cname+"_size", sz)
			}
		}
		f("inline_mark_bits", l.inlineMarkBits)
	})
}
