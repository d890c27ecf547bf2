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

// layout is one entry of the table; fields follow GLayout (g_layout.h).
type layout struct {
	version   string // "go1.21.13"
	minor     int
	gSize     int64
	stackLo   int64
	stackHi   int64
	schedSP   int64
	schedPC   int64
	schedBP   int64
	sysSP     int64
	sysPC     int64
	sysBP     int64 // -1: absent
	status    int64
	goid      int64
	since     int64
	reason    int64
	parent    int64 // -1: absent
	gopc      int64
	ancestors int64
	startpc   int64
	gM        int64 // g.m
	mG0       int64 // m.g0
	mCurg     int64 // m.curg
	// runtime.work's goroutine leak detector (1.26+): offsets in
	// runtime.workType of goroutineLeak.pending and .count; -1: absent.
	leakPending int64
	leakCount   int64
	waitStrs    []string
}

const absent = -1

func main() {
	args := os.Args[1:]
	memstats := len(args) > 0 && args[0] == "-memstats"
	heap := len(args) > 0 && args[0] == "-heap"
	if memstats || heap {
		args = args[1:]
	}
	if heap {
		mainHeap(args)
		return
	}
	if len(args) < 1 {
		fmt.Fprintln(os.Stderr, "usage: gen-offsets [-memstats|-heap] BINARY...")
		os.Exit(2)
	}
	var layouts []*layout
	var msLayouts []*msLayout
	seen := map[int]string{}
	for _, path := range args {
		l, ms, err := analyze(path, memstats)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gen-offsets: %s: %v\n", path, err)
			os.Exit(1)
		}
		if prev, ok := seen[l.minor]; ok {
			fmt.Fprintf(os.Stderr, "gen-offsets: %s and %s are both Go 1.%d: give one binary per minor release\n", prev, path, l.minor)
			os.Exit(1)
		}
		seen[l.minor] = path
		layouts = append(layouts, l)
		if ms != nil {
			msLayouts = append(msLayouts, ms)
		}
	}
	if memstats {
		sort.Slice(msLayouts, func(i, j int) bool { return msLayouts[i].minor < msLayouts[j].minor })
		os.Stdout.WriteString(renderMemStats(msLayouts))
		return
	}
	sort.Slice(layouts, func(i, j int) bool { return layouts[i].minor < layouts[j].minor })
	os.Stdout.WriteString(render(layouts))
}

var versionRE = regexp.MustCompile(`^go1\.(\d+)(\.\d+)?$`)

func analyze(path string, memstats bool) (*layout, *msLayout, error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading Go build info: %w", err)
	}
	m := versionRE.FindStringSubmatch(bi.GoVersion)
	if m == nil {
		return nil, nil, fmt.Errorf("Go version %q is not a release (go1.N or go1.N.P)", bi.GoVersion)
	}
	minor, _ := strconv.Atoi(m[1])

	f, err := elf.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.ByteOrder != binary.LittleEndian {
		return nil, nil, errors.New("not a 64-bit little-endian ELF file")
	}
	if f.Section(".debug_info") == nil && f.Section(".zdebug_info") == nil {
		return nil, nil, errors.New("no DWARF (.debug_info): stripped binary? build it without -ldflags=-s -w")
	}
	d, err := f.DWARF()
	if err != nil {
		return nil, nil, fmt.Errorf("reading DWARF: %w", err)
	}

	l := &layout{version: bi.GoVersion, minor: minor}
	g, err := findStruct(d, "runtime.g")
	if err != nil {
		return nil, nil, err
	}
	if err := fillG(l, g); err != nil {
		return nil, nil, fmt.Errorf("runtime.g: %w", err)
	}
	mt, err := findStruct(d, "runtime.m")
	if err != nil {
		return nil, nil, err
	}
	g0, e1 := offset(mt, "g0", 8, false)
	curg, e2 := offset(mt, "curg", 8, false)
	if err := errors.Join(e1, e2); err != nil {
		return nil, nil, fmt.Errorf("runtime.m: %w", err)
	}
	l.mG0, l.mCurg = g0, curg
	// Before 1.20 runtime.work has an anonymous struct type: no named
	// workType, and no leak detector either (1.26+).
	l.leakPending, l.leakCount = -1, -1
	if work, err := findStruct(d, "runtime.workType"); err == nil {
		if l.leakPending, l.leakCount, err = leakOffsets(work); err != nil {
			return nil, nil, fmt.Errorf("runtime.workType: %w", err)
		}
	} else if !strings.HasPrefix(err.Error(), "no DWARF struct type") {
		return nil, nil, err
	}
	l.waitStrs, err = waitReasonStrings(f, d)
	if err != nil {
		return nil, nil, fmt.Errorf("runtime.waitReasonStrings: %w", err)
	}
	if !memstats {
		return l, nil, nil
	}
	ms, err := analyzeMemStats(d, bi.GoVersion, minor)
	if err != nil {
		return nil, nil, err
	}
	return l, ms, nil
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

// sub returns the offset of struct field name and its struct type.
func sub(st *dwarf.StructType, name, typeName string) (int64, *dwarf.StructType, error) {
	f := field(st, name)
	if f == nil {
		return 0, nil, fmt.Errorf("%s has no field %s", st.StructName, name)
	}
	t := f.Type
	for {
		td, ok := t.(*dwarf.TypedefType)
		if !ok {
			break
		}
		t = td.Type
	}
	s, ok := t.(*dwarf.StructType)
	if !ok || s.StructName != typeName {
		return 0, nil, fmt.Errorf("%s.%s has type %s, want struct %s", st.StructName, name, f.Type, typeName)
	}
	return f.ByteOffset, s, nil
}

func fillG(l *layout, g *dwarf.StructType) error {
	l.gSize = g.ByteSize
	var err error
	must := func(dst *int64, v int64, e error) {
		if err == nil {
			*dst, err = v, e
		}
	}

	stackOff, stack, e := sub(g, "stack", "runtime.stack")
	if e != nil {
		return e
	}
	lo, e1 := offset(stack, "lo", 8, false)
	hi, e2 := offset(stack, "hi", 8, false)
	if err := errors.Join(e1, e2); err != nil {
		return err
	}
	l.stackLo, l.stackHi = stackOff+lo, stackOff+hi

	schedOff, sched, e := sub(g, "sched", "runtime.gobuf")
	if e != nil {
		return e
	}
	sp, e1 := offset(sched, "sp", 8, false)
	pc, e2 := offset(sched, "pc", 8, false)
	bp, e3 := offset(sched, "bp", 8, false)
	if err := errors.Join(e1, e2, e3); err != nil {
		return err
	}
	l.schedSP, l.schedPC, l.schedBP = schedOff+sp, schedOff+pc, schedOff+bp

	v, e := offset(g, "syscallsp", 8, false)
	must(&l.sysSP, v, e)
	v, e = offset(g, "syscallpc", 8, false)
	must(&l.sysPC, v, e)
	v, e = offset(g, "syscallbp", 8, true)
	must(&l.sysBP, v, e)
	v, e = offset(g, "atomicstatus", 4, false) // atomic.Uint32: its value is at +0
	must(&l.status, v, e)
	v, e = offset(g, "goid", 8, false)
	must(&l.goid, v, e)
	v, e = offset(g, "waitsince", 8, false)
	must(&l.since, v, e)
	v, e = offset(g, "waitreason", 1, false)
	must(&l.reason, v, e)
	v, e = offset(g, "parentGoid", 8, true)
	must(&l.parent, v, e)
	v, e = offset(g, "gopc", 8, false)
	must(&l.gopc, v, e)
	v, e = offset(g, "ancestors", 8, false)
	must(&l.ancestors, v, e)
	v, e = offset(g, "startpc", 8, false)
	must(&l.startpc, v, e)
	v, e = offset(g, "m", 8, false)
	must(&l.gM, v, e)
	if err != nil {
		return err
	}
	if l.startpc+8 > l.gSize {
		return fmt.Errorf("startpc at %d is beyond sizeof(g) %d", l.startpc, l.gSize)
	}
	return nil
}

// leakOffsets returns the offsets of goroutineLeak.pending (an atomic.Bool:
// one byte) and goroutineLeak.count (an int) in runtime.workType, or -1, -1
// for releases without the detector (before 1.26).
func leakOffsets(work *dwarf.StructType) (int64, int64, error) {
	f := field(work, "goroutineLeak")
	if f == nil {
		return absent, absent, nil
	}
	s, ok := f.Type.(*dwarf.StructType)
	if !ok {
		return 0, 0, fmt.Errorf("goroutineLeak has type %s, want a struct", f.Type)
	}
	pending, e1 := offset(s, "pending", 1, false)
	count, e2 := offset(s, "count", 8, false)
	if err := errors.Join(e1, e2); err != nil {
		return 0, 0, fmt.Errorf("goroutineLeak: %w", err)
	}
	return f.ByteOffset + pending, f.ByteOffset + count, nil
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
// format it inside the initializer in g_layout.cpp: one field and one wait
// reason a line (trailing commas keep clang-format from packing them).
func render(ls []*layout) string {
	return renderTable(ls, func(l *layout) string { return l.version }, func(l *layout, f entryField, b *strings.Builder) {
		f("go_minor", int64(l.minor))
		f("g_size", l.gSize)
		f("stack_lo", l.stackLo)
		f("stack_hi", l.stackHi)
		f("sched_sp", l.schedSP)
		f("sched_pc", l.schedPC)
		f("sched_bp", l.schedBP)
		f("syscallsp", l.sysSP)
		f("syscallpc", l.sysPC)
		f("syscallbp", l.sysBP)
		f("atomicstatus", l.status)
		f("goid", l.goid)
		f("waitsince", l.since)
		f("waitreason", l.reason)
		f("parent_goid", l.parent)
		f("gopc", l.gopc)
		f("ancestors", l.ancestors)
		f("startpc", l.startpc)
		f("g_m", l.gM)
		f("m_g0", l.mG0)
		f("m_curg", l.mCurg)
		f("leak_pending", l.leakPending)
		f("leak_count", l.leakCount)
		fmt.Fprintf(b, "%s    .wait_reasons =\n", tableIndent)
		fmt.Fprintf(b, "%s        {\n", tableIndent)
		for _, s := range l.waitStrs {
			fmt.Fprintf(b, "%s            %s,\n", tableIndent, cString(s))
		}
		fmt.Fprintf(b, "%s        },\n", tableIndent)
	})
}

// A table entry's "    .name = value," line.
type entryField func(name string, v int64)

const tableIndent = "      "

// renderTable prints a generated table: the comment naming the releases it
// comes from, then one "{ ... }," entry per release, whose lines body writes.
func renderTable[T any](ls []T, version func(T) string, body func(T, entryField, *strings.Builder)) string {
	var b strings.Builder
	versions := make([]string, len(ls))
	for i, l := range ls {
		versions[i] = version(l)
	}
	comment(&b, "Generated by scripts/gen-offsets.sh from the DWARF of "+strings.Join(versions, ", ")+
		" binaries; do not edit.")
	for _, l := range ls {
		fmt.Fprintf(&b, "%s{\n", tableIndent)
		body(l, func(name string, v int64) { fmt.Fprintf(&b, "%s    .%s = %d,\n", tableIndent, name, v) }, &b)
		fmt.Fprintf(&b, "%s},\n", tableIndent)
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

func mainHeap(args []string) {
	if len(args) < 1 {
		fmt.Fprintln(os.Stderr, "usage: gen-offsets -heap BINARY...")
		os.Exit(2)
	}
	var ls []*heapLayout
	seen := map[int]string{}
	for _, path := range args {
		d, version, minor, err := openDWARF(path)
		if err == nil {
			var l *heapLayout
			if l, err = analyzeHeap(d, version, minor); err == nil {
				if prev, ok := seen[minor]; ok {
					err = fmt.Errorf("%s is Go 1.%d too: give one binary per minor release", prev, minor)
				}
				seen[minor] = path
				ls = append(ls, l)
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "gen-offsets: %s: %v\n", path, err)
			os.Exit(1)
		}
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].minor < ls[j].minor })
	os.Stdout.WriteString(renderHeap(ls))
}

func openDWARF(path string) (*dwarf.Data, string, int, error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, "", 0, fmt.Errorf("reading Go build info: %w", err)
	}
	m := versionRE.FindStringSubmatch(bi.GoVersion)
	if m == nil {
		return nil, "", 0, fmt.Errorf("Go version %q is not a release (go1.N or go1.N.P)", bi.GoVersion)
	}
	minor, _ := strconv.Atoi(m[1])
	f, err := elf.Open(path)
	if err != nil {
		return nil, "", 0, err
	}
	d, err := f.DWARF()
	if err != nil {
		return nil, "", 0, fmt.Errorf("reading DWARF: %w", err)
	}
	return d, bi.GoVersion, minor, nil
}
