// Command gen-offsets reads the DWARF of Go binaries (one per Go minor
// release, not stripped) and prints the layout of runtime.g and the runtime's
// wait reason strings as a C++ fragment, agent/goruntime/g_layout_table.inc:
// the entries of the std::vector<GLayout> in agent/goruntime/g_layout.cpp.
//
//	gen-offsets BINARY...
//	gen-offsets -memstats BINARY...
//	gen-offsets -heap BINARY...
//
// With -memstats it prints the offsets of runtime.memstats and
// runtime.gcController fields instead (agent/goruntime/memstats_layout_table.inc),
// with -heap those of the heap's spans, specials, types and moduledata's
// pointer masks (agent/goruntime/heap_layout_table.inc).
//
// scripts/gen-offsets.sh runs it on the heapleak targets of every Go version
// in scripts/go-versions.txt. Any missing type, field or variable is an error.
package main

import (
	"debug/buildinfo"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

const absent = -1

// gSpecs: the fields of GLayout (g_layout.h), in its order.
var gSpecs = []spec{
	{cname: "g_size", at: loc{"runtime.g", ""}},
	{cname: "stack_lo", at: loc{"runtime.g", "stack.lo"}, size: 8},
	{cname: "stack_hi", at: loc{"runtime.g", "stack.hi"}, size: 8},
	{cname: "sched_sp", at: loc{"runtime.g", "sched.sp"}, size: 8},
	{cname: "sched_pc", at: loc{"runtime.g", "sched.pc"}, size: 8},
	{cname: "sched_bp", at: loc{"runtime.g", "sched.bp"}, size: 8},
	{cname: "syscallsp", at: loc{"runtime.g", "syscallsp"}, size: 8},
	{cname: "syscallpc", at: loc{"runtime.g", "syscallpc"}, size: 8},
	{cname: "syscallbp", at: loc{"runtime.g", "syscallbp"}, size: 8, optional: true},
	{cname: "atomicstatus", at: loc{"runtime.g", "atomicstatus"}, size: 4}, // atomic.Uint32: its value is at +0
	{cname: "goid", at: loc{"runtime.g", "goid"}, size: 8},
	{cname: "waitsince", at: loc{"runtime.g", "waitsince"}, size: 8},
	{cname: "waitreason", at: loc{"runtime.g", "waitreason"}, size: 1},
	{cname: "parent_goid", at: loc{"runtime.g", "parentGoid"}, size: 8, optional: true},
	{cname: "gopc", at: loc{"runtime.g", "gopc"}, size: 8},
	{cname: "ancestors", at: loc{"runtime.g", "ancestors"}, size: 8},
	{cname: "startpc", at: loc{"runtime.g", "startpc"}, size: 8},
	{cname: "g_m", at: loc{"runtime.g", "m"}, size: 8},
	{cname: "m_g0", at: loc{"runtime.m", "g0"}, size: 8},
	{cname: "m_curg", at: loc{"runtime.m", "curg"}, size: 8},
	// runtime.work's goroutine leak detector (1.26+): goroutineLeak.pending
	// (an atomic.Bool: one byte) and .count. Before 1.20 runtime.work has
	// an anonymous struct type: no named workType.
	{cname: "leak_pending", at: loc{"runtime.workType", "goroutineLeak.pending"}, size: 1, optional: true},
	{cname: "leak_count", at: loc{"runtime.workType", "goroutineLeak.count"}, size: 8, optional: true},
}

// table is one release's entry of a generated table.
type table struct {
	version  string // "go1.21.13"
	minor    int
	entries  []entry
	waitStrs []string // the g table's wait reasons
}

var kinds = map[string]func(*elf.File, *resolver, *table) error{
	"": func(f *elf.File, r *resolver, t *table) error {
		var err error
		if t.entries, err = r.resolve(gSpecs); err != nil {
			return err
		}
		if sp, size := value(t.entries, "startpc"), value(t.entries, "g_size"); sp+8 > size {
			return fmt.Errorf("startpc at %d is beyond sizeof(g) %d", sp, size)
		}
		if t.waitStrs, err = waitReasonStrings(f, r.d); err != nil {
			return fmt.Errorf("runtime.waitReasonStrings: %w", err)
		}
		return nil
	},
	"-memstats": func(_ *elf.File, r *resolver, t *table) (err error) {
		t.entries, err = analyzeMemStats(r)
		return err
	},
	"-heap": func(_ *elf.File, r *resolver, t *table) (err error) {
		t.entries, err = analyzeHeap(r)
		return err
	},
}

func main() {
	args := os.Args[1:]
	kind := ""
	if len(args) > 0 && strings.HasPrefix(args[0], "-") {
		kind, args = args[0], args[1:]
	}
	analyzeKind, ok := kinds[kind]
	if !ok || len(args) < 1 {
		fmt.Fprintln(os.Stderr, "usage: gen-offsets [-memstats|-heap] BINARY...")
		os.Exit(2)
	}
	var ts []*table
	seen := map[int]string{}
	for _, path := range args {
		t, err := analyze(path, analyzeKind)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gen-offsets: %s: %v\n", path, err)
			os.Exit(1)
		}
		if prev, ok := seen[t.minor]; ok {
			fmt.Fprintf(os.Stderr, "gen-offsets: %s and %s are both Go 1.%d: give one binary per minor release\n", prev, path, t.minor)
			os.Exit(1)
		}
		seen[t.minor] = path
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].minor < ts[j].minor })
	os.Stdout.WriteString(render(ts))
}

var versionRE = regexp.MustCompile(`^go1\.(\d+)(\.\d+)?$`)

func analyze(path string, fill func(*elf.File, *resolver, *table) error) (*table, error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading Go build info: %w", err)
	}
	m := versionRE.FindStringSubmatch(bi.GoVersion)
	if m == nil {
		return nil, fmt.Errorf("Go version %q is not a release (go1.N or go1.N.P)", bi.GoVersion)
	}
	minor, _ := strconv.Atoi(m[1])
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.ByteOrder != binary.LittleEndian {
		return nil, errors.New("not a 64-bit little-endian ELF file")
	}
	if f.Section(".debug_info") == nil && f.Section(".zdebug_info") == nil {
		return nil, errors.New("no DWARF (.debug_info): stripped binary? build it without -ldflags=-s -w")
	}
	d, err := f.DWARF()
	if err != nil {
		return nil, fmt.Errorf("reading DWARF: %w", err)
	}
	t := &table{version: bi.GoVersion, minor: minor}
	if err := fill(f, newResolver(d), t); err != nil {
		return nil, err
	}
	return t, nil
}

// findStruct returns the struct type with the given name.
func findStruct(d *dwarf.Data, name string) (*dwarf.StructType, error) {
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			return nil, err
		}
		if e == nil {
			return nil, fmt.Errorf("no DWARF struct type %s", name)
		}
		if e.Tag != dwarf.TagStructType {
			continue
		}
		if n, _ := e.Val(dwarf.AttrName).(string); n != name {
			r.SkipChildren()
			continue
		}
		t, err := d.Type(e.Offset)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		st, ok := t.(*dwarf.StructType)
		if !ok || st.Incomplete {
			return nil, fmt.Errorf("%s is not a complete struct type", name)
		}
		return st, nil
	}
}

func field(st *dwarf.StructType, name string) *dwarf.StructField {
	for _, f := range st.Field {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// offset returns the offset of field name, checking its size; with optional,
// a missing field gives -1.
func offset(st *dwarf.StructType, name string, size int64, optional bool) (int64, error) {
	f := field(st, name)
	if f == nil {
		if optional {
			return absent, nil
		}
		return 0, fmt.Errorf("%s has no field %s", st.StructName, name)
	}
	if f.BitSize != 0 {
		return 0, fmt.Errorf("%s.%s is a bit field", st.StructName, name)
	}
	if got := f.Type.Size(); got != size {
		return 0, fmt.Errorf("%s.%s has size %d, want %d (type %s)", st.StructName, name, got, size, f.Type)
	}
	return f.ByteOffset, nil
}

// waitReasonStrings reads the runtime's [N]string table from the file.
func waitReasonStrings(f *elf.File, d *dwarf.Data) ([]string, error) {
	r := d.Reader()
	var e *dwarf.Entry
	for {
		var err error
		e, err = r.Next()
		if err != nil {
			return nil, err
		}
		if e == nil {
			return nil, errors.New("no DWARF variable")
		}
		if e.Tag == dwarf.TagCompileUnit || e.Tag == dwarf.TagVariable {
			if e.Tag == dwarf.TagVariable {
				if n, _ := e.Val(dwarf.AttrName).(string); n == "runtime.waitReasonStrings" {
					break
				}
			}
			continue
		}
		r.SkipChildren()
	}
	loc, _ := e.Val(dwarf.AttrLocation).([]byte)
	if len(loc) != 9 || loc[0] != 0x03 { // DW_OP_addr <8 bytes>
		return nil, fmt.Errorf("location %x is not DW_OP_addr", loc)
	}
	addr := f.ByteOrder.Uint64(loc[1:])
	toff, ok := e.Val(dwarf.AttrType).(dwarf.Offset)
	if !ok {
		return nil, errors.New("no type")
	}
	t, err := d.Type(toff)
	if err != nil {
		return nil, err
	}
	at, ok := t.(*dwarf.ArrayType)
	if !ok || at.Count <= 0 {
		return nil, fmt.Errorf("type %s is not a non-empty array", t)
	}
	elem, ok := at.Type.(*dwarf.StructType)
	if !ok || elem.StructName != "string" || elem.ByteSize != 16 {
		return nil, fmt.Errorf("type %s is not an array of string", t)
	}
	strOff, e1 := offset(elem, "str", 8, false)
	lenOff, e2 := offset(elem, "len", 8, false)
	if err := errors.Join(e1, e2); err != nil {
		return nil, err
	}
	hdrs, err := readAt(f, addr, uint64(at.Count)*16)
	if err != nil {
		return nil, fmt.Errorf("string headers at %#x: %w", addr, err)
	}
	out := make([]string, at.Count)
	for i := range out {
		h := hdrs[i*16 : i*16+16]
		p := f.ByteOrder.Uint64(h[strOff:])
		n := f.ByteOrder.Uint64(h[lenOff:])
		if n == 0 {
			continue
		}
		if n > 1<<16 {
			return nil, fmt.Errorf("element %d: length %d", i, n)
		}
		b, err := readAt(f, p, n)
		if err != nil {
			return nil, fmt.Errorf("element %d at %#x: %w", i, p, err)
		}
		out[i] = string(b)
	}
	return out, nil
}

// readAt reads n bytes at virtual address addr from the file's PT_LOAD
// segment that holds them.
func readAt(f *elf.File, addr, n uint64) ([]byte, error) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || addr < p.Vaddr || addr+n > p.Vaddr+p.Filesz {
			continue
		}
		b := make([]byte, n)
		if _, err := p.ReadAt(b, int64(addr-p.Vaddr)); err != nil && !(err == io.EOF && len(b) == int(n)) {
			return nil, err
		}
		return b, nil
	}
	return nil, errors.New("not in the file data of any PT_LOAD segment")
}

// cString quotes s as a C++ string literal; non-printable bytes become
// three-digit octal escapes (which cannot run into a following character).
func cString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '?' && i+1 < len(s) && s[i+1] == '?': // no trigraphs
			b.WriteString(`\?`)
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "\\%03o", c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// render prints the table, formatted as clang-format (.clang-format) would
// format it inside the initializer of its vector: the comment naming the
// releases it comes from, then one "{ ... }," entry per release, one field
// and one wait reason a line (trailing commas keep clang-format from
// packing them).
func render(ts []*table) string {
	var b strings.Builder
	versions := make([]string, len(ts))
	for i, t := range ts {
		versions[i] = t.version
	}
	comment(&b, "Generated by scripts/gen-offsets.sh from the DWARF of "+strings.Join(versions, ", ")+
		" binaries; do not edit.")
	const indent = "      "
	for _, t := range ts {
		fmt.Fprintf(&b, "%s{\n", indent)
		fmt.Fprintf(&b, "%s    .go_minor = %d,\n", indent, t.minor)
		for _, e := range t.entries {
			fmt.Fprintf(&b, "%s    .%s = %d,\n", indent, e.name, e.value)
		}
		if t.waitStrs != nil {
			fmt.Fprintf(&b, "%s    .wait_reasons =\n", indent)
			fmt.Fprintf(&b, "%s        {\n", indent)
			for _, s := range t.waitStrs {
				fmt.Fprintf(&b, "%s            %s,\n", indent, cString(s))
			}
			fmt.Fprintf(&b, "%s        },\n", indent)
		}
		fmt.Fprintf(&b, "%s},\n", indent)
	}
	return b.String()
}

// comment writes text as // lines of at most 100 columns.
func comment(b *strings.Builder, text string) {
	line := "//"
	for _, w := range strings.Fields(text) {
		if len(line)+1+len(w) > 100 {
			b.WriteString(line + "\n")
			line = "//"
		}
		line += " " + w
	}
	b.WriteString(line + "\n")
}
