#!/usr/bin/env python3
"""Shrinks a real Go executable into a small ELF seed for fuzz_elf.

A whole Go binary (2-8 MB) fuzzes at ~60 executions/s; the parsers only need a
few kilobytes of it. This keeps what they read, at the same addresses:

- the ELF, program and section headers (dropped section contents become
  SHT_NOBITS; each PT_LOAD keeps its address range, backed by small chunks);
- a .gopclntab re-encoded with a subset of the functions (the runtime ones
  leakhound resolves, every main.* function, and each one's successor so
  that their ends are right): names, CUs and files, pc-value tables and
  inline trees copied, offsets renumbered;
- the machine code of the kept functions, the notes, .go.buildinfo, and the
  non-zero words of the runtime globals leakhound reads (every other word
  of the writable data reads as the zero-filled tail);
- moduledata, with its table slices pointing at the new tables;
- with --symtab, the kept functions' and runtime globals' symbols;
- with --dwarf, DWARF for runtime.g/m/gobuf/stack and waitReasonStrings,
  compiled from C generated with this release's offsets (from
  agent/goruntime/g_layout_table.inc; Go's own DWARF is a megabyte),
  zlib-compressed as Go does, or plain.

  shrink_go_elf.py IN OUT [--symtab] [--dwarf zlib|plain] [--no-section-headers]
"""
import argparse
import os
import re
import struct
import subprocess
import sys
import tempfile
import zlib

PT_LOAD, PT_PHDR = 1, 6
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_NOBITS, SHT_NOTE = 1, 2, 3, 8, 7
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR, SHF_COMPRESSED = 1, 2, 4, 0x800
PF_X, PF_W, PF_R = 1, 2, 4
MAGIC120 = 0xFFFFFFF1
# moduledata field offsets (agent/binary/moduledata.h): table slices, text, gofunc.
MD_FUNCNAMETAB, MD_FTAB, MD_TEXT = 8, 128, 176
MD_GOFUNC120, MD_GOFUNC127 = 320, 344
FUNC_SIZE = 44  # runtime._func, Go 1.20+
PCDATA_INLTREE, FUNCDATA_INLTREE = 2, 3
NOFUNCDATA = 0xFFFFFFFF

# The runtime functions leakhound looks up by name (agent/goruntime, agent/probes).
RUNTIME_FUNCS = {
    "runtime.mProf_Malloc", "runtime.mProf_Free", "runtime.mProf_Flush",
    "runtime.mProf_FlushLocked", "runtime.stkbucket", "runtime.mallocgc",
    "runtime.mallocgcSmallNoscan", "runtime.profilealloc", "runtime.allocmcache",
    "runtime.schedinit", "runtime.allgadd", "runtime.forEachG", "runtime.forEachGRace",
    "runtime.setprofilebucket", "runtime.asmcgocall", "runtime.mcall", "runtime.systemstack",
    "runtime.newproc1", "runtime.goexit0", "runtime.gdestroy", "runtime.freeSpecial",
    "runtime.main", "runtime.corostart", "runtime.gopark", "runtime.casgstatus",
}
RUNTIME_DATA = {
    "runtime.text", "runtime.etext", "runtime.firstmoduledata", "runtime.tlsg", "go:func.*",
    "go.func.*", "runtime.MemProfileRate", "runtime.disableMemoryProfiling",
    "runtime.mProfCycle", "runtime.mbuckets", "runtime.allgs", "runtime.allglen",
    "runtime.waitReasonStrings",
}


def die(msg):
    sys.exit(f"shrink_go_elf: {msg}")


def u32(b, o):
    return struct.unpack_from("<I", b, o)[0]


def i32(b, o):
    return struct.unpack_from("<i", b, o)[0]


def u64(b, o):
    return struct.unpack_from("<Q", b, o)[0]


def cstr(b, o):
    e = b.index(b"\0", o)
    return b[o:e]


def uvarint(b, p):
    v = s = 0
    while True:
        c = b[p]
        p += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, p


class Elf:
    def __init__(self, path):
        self.b = open(path, "rb").read()
        b = self.b
        if b[:4] != b"\x7fELF" or b[4] != 2 or b[5] != 1:
            die(f"{path}: not a 64-bit little-endian ELF")
        (self.type, self.machine, _, self.entry, phoff, shoff, self.eflags, _, phes, phnum, shes,
         shnum, shstrndx) = struct.unpack_from("<HHIQQQIHHHHHH", b, 16)
        self.phdrs = [list(struct.unpack_from("<IIQQQQQQ", b, phoff + i * phes))
                      for i in range(phnum)]
        self.shdrs = []
        for i in range(shnum):
            self.shdrs.append(list(struct.unpack_from("<IIQQQQIIQQ", b, shoff + i * shes)))
        strtab = self.shdrs[shstrndx]
        self.names = [cstr(b, strtab[4] + s[0]).decode() for s in self.shdrs]

    def section(self, name):
        for n, s in zip(self.names, self.shdrs):
            if n == name:
                return s
        return None

    def data(self, s):
        return self.b[s[4]:s[4] + s[5]]

    def read(self, vaddr, n):
        for p in self.phdrs:
            if p[0] == PT_LOAD and p[3] <= vaddr and vaddr + n <= p[3] + p[5]:
                return self.b[p[2] + vaddr - p[3]:p[2] + vaddr - p[3] + n]
        die(f"address {vaddr:#x}+{n} not in the file")

    def symbols(self):
        s = self.section(".symtab")
        if s is None:
            return {}
        strs = self.data(self.shdrs[s[6]])
        d = self.data(s)
        out = {}
        for o in range(24, len(d) - 23, 24):
            name, info, other, shndx, value, size = struct.unpack_from("<IBBHQQ", d, o)
            out.setdefault(cstr(strs, name).decode(errors="replace"), (info, value, size))
        return out


class Pclntab:
    """Reads the Go 1.20+ pclntab and writes a subset of it."""

    def __init__(self, elf):
        s = elf.section(".gopclntab") or elf.section(".data.rel.ro.gopclntab")  # PIE, < 1.26
        if s is None:
            die("no .gopclntab")
        self.addr = s[3]
        d = self.d = elf.data(s)
        if u32(d, 0) != MAGIC120 or d[7] != 8:
            die("only the Go 1.20+ 64-bit pclntab is supported")
        self.min_lc = d[6]
        w = [u64(d, 8 + 8 * i) for i in range(8)]
        self.nfunc, self.text_start = w[0], w[2]
        self.funcname, self.cutab, self.filetab, self.pctab, self.pcln = w[3:8]
        self.ftab = [(u32(d, self.pcln + 8 * i), u32(d, self.pcln + 8 * i + 4))
                     for i in range(self.nfunc + 1)]

    def func(self, i):
        off = self.pcln + self.ftab[i][1]
        d = self.d
        fixed = bytearray(d[off:off + FUNC_SIZE])
        npcdata, nfuncdata = u32(d, off + 28), d[off + 43]
        pcdata = [u32(d, off + FUNC_SIZE + 4 * k) for k in range(npcdata)]
        fd0 = off + FUNC_SIZE + 4 * npcdata
        funcdata = [u32(d, fd0 + 4 * k) for k in range(nfuncdata)]
        return fixed, pcdata, funcdata

    def name(self, i):
        fixed, _, _ = self.func(i)
        return cstr(self.d, self.funcname + i32(fixed, 4)).decode(errors="replace")

    def table(self, off):
        """Bytes and values of the pc-value table at pctab offset off."""
        if off == 0:
            return b"", []
        p = start = self.pctab + off
        first, val, vals = True, -1, []
        while True:
            uv, p = uvarint(self.d, p)
            if uv == 0 and not first:
                break
            first = False
            val += -(uv >> 1) - 1 if uv & 1 else uv >> 1
            vals.append(val)
            _, p = uvarint(self.d, p)
        return self.d[start:p], vals


class Table:
    """Bytes stored once each; add() returns the offset of the copy."""

    def __init__(self, prefix=b"", terminator=b""):
        self.data = bytearray(prefix)
        self.at = {}
        self.terminator = terminator

    def add(self, b):
        if b not in self.at:
            self.at[b] = len(self.data)
            self.data += b + self.terminator
        return self.at[b]


class PclnWriter:
    def __init__(self, src, gofunc, gofunc_bytes):
        self.src = src
        self.names = Table(terminator=b"\0")
        self.files = Table(terminator=b"\0")
        self.cutab = []
        self.pctab = Table(prefix=b"\0")  # offset 0 means "no table"
        self.gofunc, self.gofunc_bytes = gofunc, gofunc_bytes
        self.inl = bytearray(8)  # new go:func.* region; offset 0 is never a tree
        self.funcs = []

    def name(self, off):
        return self.names.add(cstr(self.src.d, self.src.funcname + off))

    def pcvalue(self, off):
        data, vals = self.src.table(off)
        return (self.pctab.add(data) if data else 0), vals

    def file(self, cu, fileno):
        off = u32(self.src.d, self.src.cutab + 4 * (cu + fileno))
        if off == 0xFFFFFFFF:
            return off
        return self.files.add(cstr(self.src.d, self.src.filetab + off))

    def add(self, i):
        src = self.src
        fixed, pcdata, funcdata = src.func(i)
        struct.pack_into("<i", fixed, 4, self.name(i32(fixed, 4)))
        pcsp, _ = self.pcvalue(u32(fixed, 16))
        pcfile, files = self.pcvalue(u32(fixed, 20))
        pcln, _ = self.pcvalue(u32(fixed, 24))
        struct.pack_into("<III", fixed, 16, pcsp, pcfile, pcln)
        cu = u32(fixed, 32)
        if cu != 0xFFFFFFFF:  # assembly without files has no CU
            struct.pack_into("<I", fixed, 32, len(self.cutab))
            nfiles = max([v for v in files if v >= 0], default=0) + 1
            self.cutab += [self.file(cu, k) for k in range(nfiles)]
        ninl = 0
        for k, off in enumerate(pcdata):
            pcdata[k], vals = self.pcvalue(off)
            if k == PCDATA_INLTREE:
                ninl = max(vals, default=-1) + 1
        for k, off in enumerate(funcdata):
            if k == FUNCDATA_INLTREE and off != NOFUNCDATA and ninl > 0:
                funcdata[k] = self.inline_tree(off, ninl)
            else:
                funcdata[k] = NOFUNCDATA  # stack maps and the like: not read
        self.funcs.append((src.ftab[i][0], fixed, pcdata, funcdata))

    def inline_tree(self, off, n):
        tree = bytearray(self.gofunc_bytes(self.gofunc + off, 16 * n))
        for k in range(n):
            struct.pack_into("<i", tree, 16 * k + 4, self.name(i32(tree, 16 * k + 4)))
        while len(self.inl) % 4:
            self.inl.append(0)
        at = len(self.inl)
        self.inl += tree
        return at

    def encode(self, end_off):
        """The new pclntab; end_off is the text offset where the last function ends."""
        n = len(self.funcs)
        hdr = 72
        off = {}
        out = bytearray(hdr)
        cutab = b"".join(struct.pack("<I", v) for v in self.cutab)
        for key, blob in (("funcname", self.names.data), ("cutab", cutab),
                          ("filetab", self.files.data), ("pctab", self.pctab.data)):
            off[key] = len(out)
            out += blob
            while len(out) % 8:
                out.append(0)
        off["pcln"] = len(out)
        ftab = bytearray(8 * (n + 1))
        records = bytearray()
        base = len(ftab)
        for k, (entry, fixed, pcdata, funcdata) in enumerate(self.funcs):
            struct.pack_into("<II", ftab, 8 * k, entry, base + len(records))
            records += fixed + b"".join(struct.pack("<I", v) for v in pcdata + funcdata)
        struct.pack_into("<II", ftab, 8 * n, end_off, 0)
        out += ftab + records
        struct.pack_into("<IBBBB", out, 0, MAGIC120, 0, 0, self.src.min_lc, 8)
        struct.pack_into("<8Q", out, 8, n, len(self.files.at), self.src.text_start,
                         off["funcname"], off["cutab"], off["filetab"], off["pctab"], off["pcln"])
        self.layout = off
        self.size = {"funcname": len(self.names.data), "cutab": len(self.cutab),
                     "filetab": len(self.files.data), "pctab": len(self.pctab.data),
                     "pcln": len(out) - off["pcln"], "nftab": n + 1}
        return bytes(out)


def nonzero_runs(data, base, gap=64):
    """(vaddr, bytes) for the runs of non-zero 8-byte words, merged across small gaps."""
    runs, start, last = [], None, None
    for o in range(0, len(data), 8):
        if any(data[o:o + 8]):
            if start is None:
                start = o
            elif o - last > gap:
                runs.append((start, last))
                start = o
            last = o + 8
    if start is not None:
        runs.append((start, last))
    return [(base + a, data[a:min(b, len(data))]) for a, b in runs]


def compress(data):
    return struct.pack("<IIQQ", 1, 0, len(data), 1) + zlib.compress(data, 9)


def build_dwarf(layout, wait_addr, mode, workdir):
    """DWARF sections for runtime.g and friends, from C with the Go offsets."""
    g = layout
    fields = [(g["stack_lo"], "struct runtime_stack stack;", 16),
              (g["sched_sp"], "struct runtime_gobuf sched;", g["sched_bp"] - g["sched_sp"] + 8),
              (g["g_m"], "struct runtime_m *m;", 8),
              (g["syscallsp"], "unsigned long syscallsp;", 8),
              (g["syscallpc"], "unsigned long syscallpc;", 8),
              (g["atomicstatus"], "unsigned int atomicstatus;", 4),
              (g["goid"], "unsigned long goid;", 8),
              (g["waitsince"], "long waitsince;", 8),
              (g["waitreason"], "unsigned char waitreason;", 1),
              (g["gopc"], "unsigned long gopc;", 8),
              (g["ancestors"], "void *ancestors;", 8),
              (g["startpc"], "unsigned long startpc;", 8)]
    if g["syscallbp"] >= 0:
        fields.append((g["syscallbp"], "unsigned long syscallbp;", 8))
    if g["parent_goid"] >= 0:
        fields.append((g["parent_goid"], "unsigned long parentGoid;", 8))

    def struct_src(name, members, size):
        lines, at = [], 0
        for k, (off, decl, n) in enumerate(sorted(members)):
            if off < at:
                die(f"overlapping fields in {name} at {off}")
            if off > at:
                lines.append(f"  char _pad{k}[{off - at}];")
            lines.append("  " + decl)
            at = off + n
        if size > at:
            lines.append(f"  char _tail[{size - at}];")
        return f"struct {name} {{\n" + "\n".join(lines) + "\n};\n"

    bp = g["sched_bp"] - g["sched_sp"]
    src = "struct runtime_m;\nstruct runtime_stack { unsigned long lo, hi; };\n"
    src += struct_src("runtime_gobuf", [(0, "unsigned long sp;", 8), (8, "unsigned long pc;", 8),
                                        (bp, "unsigned long bp;", 8)], bp + 8)
    src += struct_src("runtime_g", fields, g["g_size"])
    src += struct_src("runtime_m", [(g["m_g0"], "void *g0;", 8),
                                    (g["m_curg"], "struct runtime_g *curg;", 8)],
                      max(g["m_g0"], g["m_curg"]) + 64)
    n = len(g["wait_reasons"])
    src += ("struct runtime_string { const char *str; long len; };\n"
            f"struct runtime_string runtime_waitReasonStrings[{n}] = {{{{0, 0}}}};\n"
            "struct runtime_g runtime_g_v; struct runtime_m runtime_m_v;\n")
    c = os.path.join(workdir, "g.c")
    so = os.path.join(workdir, "g.so")
    open(c, "w").write(src)
    # Run in workdir with its path mapped away: the same seed on every run.
    subprocess.run(["gcc", "-g", "-gdwarf-4", "-fno-eliminate-unused-debug-types", "-shared",
                    "-nostdlib", f"-fdebug-prefix-map={workdir}=/seed", "-o", "g.so", "g.c"],
                   check=True, cwd=workdir)
    d = Elf(so)
    addr = d.symbols()["runtime_waitReasonStrings"][1]
    out = []
    for name in (".debug_abbrev", ".debug_info", ".debug_str"):
        s = d.section(name)
        if s is None:
            continue
        data = d.data(s).replace(b"runtime_", b"runtime.")
        if name == ".debug_info":
            at = b"\x03" + struct.pack("<Q", addr)
            if data.count(at) != 1:
                die("cannot find waitReasonStrings' location in the C DWARF")
            data = data.replace(at, b"\x03" + struct.pack("<Q", wait_addr))
        flags = 0
        if mode == "zlib":
            data, flags = compress(data), SHF_COMPRESSED
        out.append((name, SHT_PROGBITS, flags, data))
    return out


def read_layout(version_minor):
    """Offsets of runtime.g for a release from agent/goruntime/g_layout_table.inc."""
    inc = os.path.join(os.path.dirname(__file__), "..", "..", "agent", "goruntime",
                       "g_layout_table.inc")
    text = open(inc).read()
    for block in re.split(r"\n      \{\n", text)[1:]:
        kv = dict((k, int(v)) for k, v in re.findall(r"\.(\w+) = (-?\d+),", block))
        if kv.get("go_minor") == version_minor:
            kv["wait_reasons"] = re.findall(r'^\s+"([^"]*)",', block, re.M)
            return kv
    die(f"no g layout for go1.{version_minor}")


def go_minor(elf):
    s = elf.section(".go.buildinfo")
    m = re.search(rb"go1\.(\d+)", elf.data(s)) if s else None
    if not m:
        die("no Go version in .go.buildinfo")
    return int(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--symtab", action="store_true")
    ap.add_argument("--dwarf", choices=["zlib", "plain"])
    ap.add_argument("--no-section-headers", action="store_true")
    a = ap.parse_args()

    elf = Elf(a.input)
    syms = elf.symbols()
    if not syms:
        die(f"{a.input} is stripped: shrinking needs its .symtab (shrink the unstripped build)")
    pt = Pclntab(elf)
    text_start = pt.text_start
    mdsec = elf.section(".go.module")
    if mdsec is not None:
        md_addr, md_size = mdsec[3], mdsec[5]
    elif "runtime.firstmoduledata" in syms:
        md_addr, md_size = syms["runtime.firstmoduledata"][1:]
    else:
        die("moduledata not found (no .go.module and no symbol table)")
    md = bytearray(elf.read(md_addr, md_size))
    if u64(md, 0) != pt.addr:
        die("moduledata does not point at .gopclntab")
    if text_start == 0:
        text_start = u64(md, MD_TEXT)
    minor = go_minor(elf)
    gofunc = u64(md, MD_GOFUNC127 if minor >= 27 else MD_GOFUNC120)

    names = [pt.name(i) for i in range(pt.nfunc)]
    wanted = [i for i, n in enumerate(names) if n in RUNTIME_FUNCS or n.startswith("main.")]
    keep = sorted(set(wanted) | {min(i + 1, pt.nfunc - 1) for i in wanted})
    w = PclnWriter(pt, gofunc, elf.read)
    for i in keep:
        w.add(i)
    last = keep[-1]
    pcln = w.encode(pt.ftab[last + 1][0])

    # Patch moduledata's table slices to the new tables (same pcHeader address).
    for k, key in enumerate(("funcname", "cutab", "filetab", "pctab", "pcln")):
        struct.pack_into("<QQQ", md, MD_FUNCNAMETAB + 24 * k, pt.addr + w.layout[key],
                         w.size[key], w.size[key])
    struct.pack_into("<QQQ", md, MD_FTAB, pt.addr + w.layout["pcln"], w.size["nftab"],
                     w.size["nftab"])

    chunks = []  # (vaddr, bytes, flags)
    for i in wanted:
        a0, a1 = text_start + pt.ftab[i][0], text_start + pt.ftab[i + 1][0]
        chunks.append((a0, elf.read(a0, a1 - a0), PF_R | PF_X))
    chunks.append((pt.addr, pcln, PF_R))
    chunks.append((gofunc, bytes(w.inl), PF_R))
    top = max(p[3] + p[6] for p in elf.phdrs if p[0] == PT_LOAD)
    wait_addr = (top + 0xFFFF) & ~0xFFF
    if a.dwarf:
        layout = read_layout(minor)
        blob = bytearray(16 * len(layout["wait_reasons"]))
        strings = bytearray()
        base = wait_addr + len(blob)
        for k, s in enumerate(layout["wait_reasons"]):
            struct.pack_into("<QQ", blob, 16 * k, base + len(strings) if s else 0, len(s))
            strings += s.encode()
        chunks.append((wait_addr, bytes(blob + strings), PF_R))
    # Writable data: moduledata (patched) and the runtime globals leakhound
    # reads, their non-zero words only (the rest reads as zero-filled).
    windows = [(md_addr, md_size)]
    windows += [(v, max(n, 8)) for k, (_, v, n) in syms.items() if k in RUNTIME_DATA]
    for p in elf.phdrs:
        if p[0] == PT_LOAD and p[1] & PF_W:
            data = bytearray(elf.b[p[2]:p[2] + p[5]])
            if p[3] <= md_addr < p[3] + p[5]:
                data[md_addr - p[3]:md_addr - p[3] + md_size] = md
            wanted = bytearray(len(data))
            for va, n in windows:
                if p[3] <= va and va + n <= p[3] + len(data):
                    o = va - p[3]
                    wanted[o:o + n] = data[o:o + n]
            chunks += [(va, bytes(b), p[1]) for va, b in nonzero_runs(wanted, p[3])]
    for p in elf.phdrs:  # small non-LOAD contents: notes, interpreter, TLS image
        if p[0] not in (PT_LOAD, PT_PHDR) and 0 < p[5] <= 4096:
            chunks.append((p[3], elf.b[p[2]:p[2] + p[5]], PF_R))

    # Sections: kept as they were where their bytes are in a chunk, else NOBITS.
    sections = []  # (name, type, flags, addr, data_or_size, link, info, align, entsize)
    kept_data = {".gopclntab": pcln, ".data.rel.ro.gopclntab": pcln, ".go.buildinfo": None,
                 ".note.go.buildid": None,
                 ".note.gnu.build-id": None, ".go.module": bytes(md)}
    for n, s in zip(elf.names, elf.shdrs):
        if s[1] == 0 or not s[2] & SHF_ALLOC:
            continue
        if n in kept_data:
            data = kept_data[n] if kept_data[n] is not None else elf.data(s)
            if n == ".go.buildinfo":
                chunks.append((s[3], data, PF_R | PF_W))
            sections.append([n, s[1], s[2], s[3], data, 0, 0, s[8], s[9]])
        else:
            sections.append([n, SHT_NOBITS, s[2], s[3], s[5], 0, 0, s[8], s[9]])
    if a.symtab:
        keep_names = {names[i] for i in keep} | RUNTIME_DATA
        strtab, symtab = bytearray(b"\0"), bytearray(24)
        for n, (info, value, size) in syms.items():
            if n not in keep_names:
                continue
            if n == "runtime.waitReasonStrings" and a.dwarf:
                value = wait_addr
            symtab += struct.pack("<IBBHQQ", len(strtab), info, 0, 0xFFF1, value, size)
            strtab += n.encode() + b"\0"
        sections.append([".symtab", SHT_SYMTAB, 0, 0, bytes(symtab), None, 1, 8, 24])
        sections.append([".strtab", SHT_STRTAB, 0, 0, bytes(strtab), 0, 0, 1, 0])
    if a.dwarf:
        with tempfile.TemporaryDirectory() as tmp:
            for name, typ, flags, data in build_dwarf(layout, wait_addr, a.dwarf, tmp):
                sections.append([name, typ, flags, 0, data, 0, 0, 1, 0])

    # Program headers: each original PT_LOAD without file bytes (its range),
    # the chunks, in the order the readers need: an executable segment's range
    # first (moduledata's text check), data chunks before their range (initial
    # values of globals come from the first segment holding them).
    loads = [p for p in elf.phdrs if p[0] == PT_LOAD]
    others = [p for p in elf.phdrs if p[0] not in (PT_LOAD, PT_PHDR)]
    ranges_x = [p for p in loads if p[1] & PF_X]
    ranges_d = [p for p in loads if not p[1] & PF_X]
    chunks.sort(key=lambda c: (not c[2] & PF_X, c[0]))
    nph = len(loads) + len(others) + len(chunks)

    out = bytearray(64 + 56 * nph)
    chunk_off = []
    for va, data, flags in chunks:
        while len(out) % 8 != va % 8:
            out.append(0)
        chunk_off.append(len(out))
        out += data

    def file_offset(addr, size):
        for (va, data, _), off in zip(chunks, chunk_off):
            if va <= addr and addr + size <= va + len(data):
                return off + addr - va
        return None

    phdrs = [(p[0], p[1], 0, p[3], p[4], 0, p[6], p[7]) for p in ranges_x]
    phdrs += [(PT_LOAD, f, off, va, va, len(d), len(d), 8)
              for (va, d, f), off in zip(chunks, chunk_off)]
    phdrs += [(p[0], p[1], 0, p[3], p[4], 0, p[6], p[7]) for p in ranges_d]
    for p in others:
        off = file_offset(p[3], p[5]) if p[5] else 0
        phdrs.append((p[0], p[1], off or 0, p[3], p[4], p[5] if off else 0, p[6], p[7]))
    for k, ph in enumerate(phdrs):
        struct.pack_into("<IIQQQQQQ", out, 64 + 56 * k, *ph)

    shstr = bytearray(b"\0")
    shdrs = [struct.pack("<IIQQQQIIQQ", *([0] * 10))]
    index = {}
    for sec in sections:
        index[sec[0]] = len(shdrs)
        shdrs.append(None)
    for sec in sections:
        name, typ, flags, addr, data, link, info, align, entsize = sec
        if typ == SHT_NOBITS:
            off, size = 0, data
        else:
            off = file_offset(addr, len(data)) if flags & SHF_ALLOC else None
            if off is None:
                while len(out) % max(align, 1):
                    out.append(0)
                off = len(out)
                out += data
            size = len(data)
        if name == ".symtab":
            link = index[".strtab"]
        nameoff = len(shstr)
        shstr += name.encode() + b"\0"
        shdrs[index[name]] = [nameoff, typ, flags, addr, off, size, link, info, align, entsize]
    shstrndx = len(shdrs)
    shdrs.append([len(shstr), SHT_STRTAB, 0, 0, len(out), 0, 0, 0, 1, 0])
    shstr += b".shstrtab\0"
    shdrs[-1][5] = len(shstr)
    out += shstr
    while len(out) % 8:
        out.append(0)
    shoff = len(out)
    for s in shdrs:
        out += s if isinstance(s, bytes) else struct.pack("<IIQQQQIIQQ", *s)
    if a.no_section_headers:
        del out[shoff:]
        shoff, nsh, shstrndx = 0, 0, 0
    else:
        nsh = len(shdrs)
    out[0:64] = elf.b[0:16] + struct.pack("<HHIQQQIHHHHHH", elf.type, elf.machine, 1, elf.entry,
                                          64, shoff, elf.eflags, 64, 56, nph, 64, nsh, shstrndx)
    open(a.output, "wb").write(out)


if __name__ == "__main__":
    main()
