package main

// One resolver for every generated table: a table is a list of specs, each
// the C++ field it fills and where the runtime's DWARF has it.

import (
	"debug/dwarf"
	"errors"
	"fmt"
	"strings"
)

// loc is a place in the runtime's DWARF: a struct, and a path of fields
// through its nested structs ("sched.sp"); an empty path is the struct's
// own size.
type loc struct {
	strct, path string
}

// spec is one field of a generated table.
type spec struct {
	cname string
	at    loc
	// The last field's size in bytes, checked; 0: any.
	size int64
	// A release may lack it: its value is then -1 (absent).
	optional bool
	// Where older releases have it (a renamed field or struct), tried when
	// at is missing.
	alt []loc
	// Also emit cname_size, the field's size (for fields whose size changed
	// across releases).
	withSize bool
}

// entry is one resolved field, in table order.
type entry struct {
	name  string
	value int64
}

// resolver finds specs in one binary's DWARF, each struct looked up once.
type resolver struct {
	d       *dwarf.Data
	structs map[string]*dwarf.StructType
	errs    map[string]error
}

func newResolver(d *dwarf.Data) *resolver {
	return &resolver{d: d, structs: map[string]*dwarf.StructType{}, errs: map[string]error{}}
}

func (r *resolver) find(name string) (*dwarf.StructType, error) {
	if st, ok := r.structs[name]; ok {
		return st, r.errs[name]
	}
	st, err := findStruct(r.d, name)
	r.structs[name], r.errs[name] = st, err
	return st, err
}

// missing says whether err is "no such struct or field", as opposed to a
// field of the wrong size or kind: only the former makes an optional spec
// absent or sends the lookup to an alternative.
type missing struct{ error }

// lookup returns the offset (or, for an empty path, the struct's size) and
// the size of the field at l.
func (r *resolver) lookup(l loc, size int64) (int64, int64, error) {
	st, err := r.find(l.strct)
	if err != nil {
		if strings.HasPrefix(err.Error(), "no DWARF struct type") {
			return 0, 0, missing{err}
		}
		return 0, 0, err
	}
	if l.path == "" {
		return st.ByteSize, st.ByteSize, nil
	}
	names := strings.Split(l.path, ".")
	var base int64
	for _, n := range names[:len(names)-1] {
		f := field(st, n)
		if f == nil {
			return 0, 0, missing{fmt.Errorf("%s has no field %s", st.StructName, n)}
		}
		s, ok := stripTypedefs(f.Type).(*dwarf.StructType)
		if !ok {
			return 0, 0, fmt.Errorf("%s.%s has type %s, want a struct", st.StructName, n, f.Type)
		}
		base += f.ByteOffset
		st = s
	}
	last := names[len(names)-1]
	f := field(st, last)
	if f == nil {
		return 0, 0, missing{fmt.Errorf("%s has no field %s", st.StructName, last)}
	}
	if f.BitSize != 0 {
		return 0, 0, fmt.Errorf("%s.%s is a bit field", st.StructName, last)
	}
	got := f.Type.Size()
	if size != 0 && got != size {
		return 0, 0, fmt.Errorf("%s.%s has size %d, want %d (type %s)", st.StructName, last, got, size, f.Type)
	}
	return base + f.ByteOffset, got, nil
}

// resolve finds every spec; every error is reported, not just the first.
func (r *resolver) resolve(specs []spec) ([]entry, error) {
	var out []entry
	var errs []error
	for _, s := range specs {
		v, size, err := r.lookup(s.at, s.size)
		for _, a := range s.alt {
			var m missing
			if !errors.As(err, &m) {
				break
			}
			v, size, err = r.lookup(a, s.size)
		}
		var m missing
		if errors.As(err, &m) && s.optional {
			v, size, err = absent, 0, nil
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.cname, err))
			continue
		}
		out = append(out, entry{s.cname, v})
		if s.withSize && v != absent {
			out = append(out, entry{s.cname + "_size", size})
		}
	}
	return out, errors.Join(errs...)
}

// value returns the resolved value of name.
func value(es []entry, name string) int64 {
	for _, e := range es {
		if e.name == name {
			return e.value
		}
	}
	panic("no generated field " + name)
}

func stripTypedefs(t dwarf.Type) dwarf.Type {
	for {
		td, ok := t.(*dwarf.TypedefType)
		if !ok {
			return t
		}
		t = td.Type
	}
}
