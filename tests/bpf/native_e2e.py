#!/usr/bin/env python3
"""Native (C) allocations end to end.

Go, every version, cgo: tests/targets/go/cgoleak leaks through C.CString in
main.leakCString while doing balanced malloc/free, realloc chains, and frees of
blocks allocated before attach. The leak must be flagged with that Go function
and line in its stack (the goroutine behind the cgo call), its outstanding
bytes what the target leaked between the probes going in and leakhound's
final read of its table, exactly: the target stamps its counter with the wall
clock at every change (-stamps), the report says when the probes went in and
when the read ran (native_stats.attached_unix_us, .read_unix_us), and the
counter's values at those instants bracket the bytes, however late the test
reads the lines (a loaded machine, an emulated guest). Nothing else flagged.

C, with and without frame pointers: tests/targets/c/cleak leaks inside
libleaky's leaky_parse_record: flagged with the C function names. Anonymous
mmap never unmapped (leaky_map_region) likewise, next to a balanced one.
Other C libraries: cleak linked statically with glibc (the allocator is the
executable itself), and built with musl, dynamic (musl's libc.so) and static.

The same with the churn slowed down so that its blocks outlive the window
(oldest and newest Go): its fill after attach is not a leak.

Drops: with a deliberately tiny table the report counts what it dropped.
Modes: --no-native, a pure Go program (auto: off, --native: clear error).

Usage: native_e2e.py [--versions 1.21,1.26] [--jobs N] [--only "c musl,mmap"]"""
import argparse
import json
import os
import re
import signal
import subprocess
import time

import lhtest

GO_SRC = "go/cgoleak/main.go"
LEAK_LINE = lhtest.source_line(GO_SRC, "CGO-LEAK-LINE")
C_LEAK_LINE = lhtest.source_line("c/libleaky.c", "C-LEAK-LINE")
WINDOW = "12s"


def stamped(target):
    """The target's clocked counter (-stamps): (from_us, to_us, fields) per
    change, in order: the calls that made the change ran between the two."""
    out = []
    for _, l in list(target.lines):
        if l.startswith("leaked "):
            d = dict(kv.split("=", 1) for kv in l.split()[1:])
            out.append((int(d["from_us"]), int(d["to_us"]), d))
    return out


def count_at(changes, t_us, field):
    """(least, most) the counter can have been at the instant t_us: the value
    of the last change finished by then, and of the last one begun by then."""
    least = most = 0
    for begun, done, d in changes:
        if done <= t_us:
            least = int(d[field])
        if begun <= t_us:
            most = int(d[field])
    return least, most


def bracketed_attach(target, extra=(), field="leaked_bytes"):
    """Runs leakhound attach --json on a target started with -stamps; returns
    (report, (least, most)): what the target's own counter says was allocated
    between the probes going in and leakhound's read of the outstanding table
    (native_stats.attached_unix_us and .read_unix_us), at those instants
    however late anyone looks. Native tracking is exact: a finding's bytes
    must lie in that range, no tolerance."""
    rep, _ = lhtest.attach_json(target.pid, WINDOW, extra)
    s = rep["native_stats"]
    att, read = s["attached_unix_us"], s["read_unix_us"]
    assert att["from"] <= att["to"] <= read["from"] <= read["to"], (att, read)
    # The lines are complete up to the read once one begun after it is in.
    lhtest.wait_until("a counter change after leakhound's read",
                      lambda: any(b > read["to"] for b, _, _ in stamped(target)), 120)
    changes = stamped(target)
    least = count_at(changes, read["from"], field)[0] - count_at(changes, att["to"], field)[1]
    most = count_at(changes, read["to"], field)[1] - count_at(changes, att["from"], field)[0]
    spans = f"attach {(att['to'] - att['from']) / 1e3:.1f} ms, read {(read['to'] - read['from']) / 1e3:.1f} ms"
    return rep, (least, most, spans)


def check_bracket(what, f, bracket):
    """A finding's bytes within the target's clocked count (printed: the figures)."""
    least, most, spans = bracket
    print(f"     {what}: leakhound {f['inuse_bytes']} B, the target's counter {least}..{most} B "
          f"({spans})", flush=True)
    assert least <= f["inuse_bytes"] <= most, \
        f"inuse {f['inuse_bytes']} outside {least}..{most}, the target's clocked count: {describe(f)}"


def describe(f):
    top = [fr["function"] for fr in f["stack"][:8]]
    return (f"{f['verdict']} inuse={f['inuse_bytes']} objs={f['inuse_objects']} "
            f"growth={f['growth_bytes_per_s']:.0f}/s reason={f['trend']['reason']!r} stack={top}")


def has_frame(f, function, line=None, file_suffix=None):
    for fr in f["stack"]:
        if fr["function"] == function and (line is None or fr["line"] == line) and \
                (file_suffix is None or fr["file"].endswith(file_suffix)):
            return True
    return False


def check_native_stats(rep):
    s = rep["native_stats"]
    assert s["tracked"], f"native not tracked: {s}"
    assert s["dropped"]["total"] == 0, f"dropped events: {s['dropped']}"
    assert s["allocs"] > 0 and s["frees"] > 0, s


def case_cgo(minor, churn_rate=None):
    """churn_rate: the churn's calls a second when slow (its default 2,000
    turns its 256-block ring over within a second): at 40, ~20 ring
    replacements a second, its blocks live ~13 s, and the ring refills with
    blocks the probes saw through the whole 12 s window, rising like a leak
    (what an emulated arm64 guest's slow calls did to the default rate)."""
    args = ["-churn-rate", str(churn_rate)] if churn_rate else []
    t = lhtest.Target([lhtest.target_path("cgoleak", minor, "cgo"), "-stamps", *args])
    try:
        t.wait_for(r"^ready ")
        rep, leaked = bracketed_attach(t)
    finally:
        t.stop()
    check_native_stats(rep)
    s = rep["native_stats"]
    assert s["go_attribution"], f"no Go attribution: {s.get('why_no_go')}"
    assert s["frees_unknown"] > 0, "the prealloc frees (before attach) were not seen"
    leaks = [f for f in rep["native"] if f["verdict"] == "leak"]
    ours = [f for f in rep["native"] if has_frame(f, "main.leakCString", LEAK_LINE, "cgoleak/main.go")]
    assert len(ours) == 1, f"{len(ours)} findings at main.leakCString:{LEAK_LINE}: " + \
        "; ".join(describe(f) for f in rep["native"][:6])
    f = ours[0]
    assert f["verdict"] == "leak", describe(f)
    assert f["go_attributed"], describe(f)
    check_bracket(f"cgo go{minor}", f, leaked)
    others = [g for g in leaks if g is not f]
    assert not others, "balanced paths flagged: " + "; ".join(describe(g) for g in others)
    # The churn keeps blocks for a while (a ring): seen, never a leak ("growing"
    # at p < 0.1 happens by chance to a bounded noisy series, as the verdicts
    # allow). The realloc chains free everything within a poll: a broken
    # realloc (old blocks kept) would be a leak, which the check above rules out.
    churn = [g for g in rep["native"] if has_frame(g, "cgoleak_churn")]
    assert churn, "no finding with cgoleak_churn: " + "; ".join(describe(g) for g in rep["native"][:8])
    if churn_rate:
        # It filled through the window (over 40% of the ring's ~260 KB
        # turned over), and was judged fitted for that warm-up.
        assert churn[0]["inuse_bytes"] > 100_000, describe(churn[0])
        print(f"     slow churn go{minor}: {describe(churn[0])}", flush=True)


# Where each cleak build's malloc lives: its own shared library's libc, the
# executable (static), or musl's libc.so.
ALLOCATOR = {"fp": "/libc.so.6", "nofp": "/libc.so.6", "static": "/cleak-static",
             "musl": "-linux-musl/libc.so", "musl-static": "/cleak-musl-static"}


def case_c(variant):
    exe = lhtest.target_path_c(f"cleak-{variant}")
    t = lhtest.Target([exe, "-stamps", "1"])
    try:
        t.wait_for(r"^ready ")
        rep, leaked = bracketed_attach(t)
        assert t.proc.poll() is None, "target died"
    finally:
        t.stop()
    check_native_stats(rep)
    allocator = rep["native_stats"]["allocator"]
    assert allocator.endswith(ALLOCATOR[variant]), f"allocator {allocator}"
    assert rep["target"]["go_version"] == "", rep["target"]
    assert rep["heap"] == [] and rep["goroutines"] == [], "Go findings for a C program"
    leaks = [f for f in rep["native"] if f["verdict"] == "leak"]
    ours = [f for f in leaks if has_frame(f, "leaky_parse_record")]
    assert len(ours) == 1, "leaky_parse_record not flagged once: " + \
        "; ".join(describe(f) for f in rep["native"][:6])
    f = ours[0]
    check_bracket(f"c {variant}", f, leaked)
    if variant != "nofp":
        # With frame pointers the whole chain is there, with lines from DWARF.
        assert has_frame(f, "leaky_parse_record", C_LEAK_LINE, "libleaky.c"), describe(f)
        assert has_frame(f, "main"), describe(f)
    others = [g for g in leaks if g is not f]
    assert not others, "balanced paths flagged: " + "; ".join(describe(g) for g in others)


def case_static_stripped():
    """A static C program stripped of its symbol table: nothing names its
    malloc any more. One clear line, exit 1, the target untouched."""
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="lh-stripped-")
    exe = os.path.join(d, "cleak-static-stripped")
    shutil.copy(lhtest.target_path_c("cleak-static"), exe)
    subprocess.run(["strip", exe], check=True)
    t = lhtest.Target([exe])
    try:
        t.wait_for(r"^ready ")
        code, _, err = lhtest.run_leakhound(["attach", str(t.pid), "--duration", "2s"])
        time.sleep(0.3)
        assert t.proc.poll() is None, "target died"
    finally:
        t.stop()
        shutil.rmtree(d, ignore_errors=True)
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert code == 1 and len(lines) == 1 and lines[0].startswith("leakhound: "), (code, err)
    assert "statically linked and stripped" in lines[0], lines[0]


def case_mmap():
    """Anonymous mmap never unmapped, next to a mapping that is unmapped."""
    t = lhtest.Target([lhtest.target_path_c("cleak-fp"), "-mmap-rate", "10", "-leak-rate", "0",
                       "-stamps", "1"])
    try:
        t.wait_for(r"^ready ")
        rep, mapped = bracketed_attach(t, field="mapped_bytes")
    finally:
        t.stop()
    check_native_stats(rep)
    leaks = [f for f in rep["native"] if f["verdict"] == "leak"]
    ours = [f for f in leaks if has_frame(f, "leaky_map_region")]
    assert len(ours) == 1, "leaky_map_region not flagged once: " + \
        "; ".join(describe(f) for f in rep["native"][:6])
    f = ours[0]
    check_bracket("mmap", f, mapped)
    others = [g for g in leaks if g is not f]
    assert not others, "balanced paths flagged: " + "; ".join(describe(g) for g in others)


def case_budget():
    """A program calling malloc as fast as it can: by default the probes come
    off mid-window (over the CPU budget) and the target keeps running; with
    --native they stay on."""
    def run(extra):
        p = subprocess.Popen([lhtest.target_path_c("mallocloop"), "-n", "4000000000", "-wait"],
                             stdout=subprocess.PIPE, text=True)
        try:
            assert p.stdout.readline().startswith("ready"), "mallocloop not ready"
            os.kill(p.pid, signal.SIGUSR1)  # start the loop
            rep, _ = lhtest.attach_json(p.pid, "4s", extra)
            assert p.poll() is None, "mallocloop died"
            return rep
        finally:
            p.kill()
            p.wait()
    rep = run([])
    stop = [n for n in rep["notes"] if n.startswith("native tracking stopped")]
    assert stop, f"probes not removed: {rep['notes']} {rep['native_stats']}"
    assert "budget" in stop[0], stop
    rep = run(["--native"])
    assert not any(n.startswith("native tracking stopped") for n in rep["notes"]), rep["notes"]
    assert rep["native_stats"]["calls_per_s"] > 10000, rep["native_stats"]


def case_outputs():
    """--pprof writes native.pb.gz (no Go profiles for a C program), which go
    tool pprof reads; --folded-native writes the same stacks folded."""
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="lh-native-")
    t = lhtest.Target([lhtest.target_path_c("cleak-fp")])
    try:
        t.wait_for(r"^ready ")
        rep, _ = lhtest.attach_json(t.pid, "6s", ["--pprof", os.path.join(d, "pp"),
                                                  "--folded-native", os.path.join(d, "n.folded")])
        files = sorted(os.listdir(os.path.join(d, "pp")))
        assert files == ["native.pb.gz"], files
        p = subprocess.run(["go", "tool", "pprof", "-top", "-sample_index=inuse_space",
                            os.path.join(d, "pp", "native.pb.gz")],
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        assert "leaky_parse_record" in p.stdout, p.stdout
        folded = open(os.path.join(d, "n.folded")).read()
        line = [l for l in folded.splitlines() if "leaky_parse_record" in l]
        assert len(line) == 1 and "main;" in line[0], folded  # root first: main above the leak
        leak = [f for f in rep["native"] if has_frame(f, "leaky_parse_record")][0]
        assert line[0].endswith(f" {leak['inuse_bytes']}"), (line, leak["inuse_bytes"])
    finally:
        t.stop()
        shutil.rmtree(d, ignore_errors=True)


def case_drops():
    t = lhtest.Target([lhtest.target_path_c("cleak-fp")])
    try:
        t.wait_for(r"^ready ")
        rep, _ = lhtest.attach_json(t.pid, "6s", ["--native-max-allocs", "64"])
        code, out, _ = lhtest.run_leakhound(["attach", str(t.pid), "--duration", "4s",
                                             "--native-max-allocs", "64", "--no-color"])
    finally:
        t.stop()
    d = rep["native_stats"]["dropped"]
    assert d["table_full"] > 0, f"no drops counted with a 64-entry table: {d}"
    assert rep["dropped_events"] >= d["total"], (rep["dropped_events"], d)
    assert rep["native_stats"]["outstanding_allocs"] <= 64, rep["native_stats"]
    assert code == 0 and re.search(r"dropped: [\d,]+ \([\d,]+ table full at 64 blocks", out), out


def case_many_stacks():
    """4096 distinct C stacks: every allocation keeps its stack. (A stack-trace
    map, hashed into buckets, lost new stacks to bucket collisions long before
    it was full: ~500 of these 4096 with 16384 buckets.)"""
    stacks = 4096
    # Rounds without end: the loop must outlive the attach (seen in CI: a
    # loop started under the first probe ended, and the process with it,
    # before the last probe was in).
    t = lhtest.Target([lhtest.target_path_c("mallocloop"), "-stacks", str(stacks),
                       "-n", str(stacks * 40), "-rounds", "1000000000", "-wait"])
    try:
        t.wait_for(r"^ready ")
        lh = subprocess.Popen([lhtest.LEAKHOUND, "attach", str(t.pid), "--duration", "6s",
                               "--json", "--native"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        # The loop starts once leakhound holds a probe; the rest follow.
        deadline = time.monotonic() + 30
        while not any(k == "bpf_link" for k in fd_kinds(lh.pid)):
            assert time.monotonic() < deadline and lh.poll() is None, "leakhound never attached"
            time.sleep(0.1)
        time.sleep(0.5)
        t.proc.send_signal(signal.SIGUSR1)
        out, err = lh.communicate(timeout=120)
        assert lh.returncode == 0, f"leakhound exited {lh.returncode}: {err.strip()}"
        t.wait_for(r"^round=1 ", timeout=120)
    finally:
        t.stop()
    rep = json.loads(out)
    errors = lhtest.validate_report(rep)
    assert not errors, errors[:5]
    s = rep["native_stats"]
    assert s["allocs"] >= stacks * 4, f"too few allocations seen: {s}"
    assert s["dropped"]["stack"] == 0, f"C stacks lost: {s['dropped']}"


def fd_kinds(pid):
    kinds = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        m = re.match(r"anon_inode:\[?(bpf-prog|bpf-map|bpf_link|perf_event)\]?", link)
        if m:
            kinds.append(m.group(1))
    return kinds


def case_no_native():
    t = lhtest.Target([lhtest.target_path("cgoleak", lhtest.MINORS[-1], "cgo")])
    try:
        t.wait_for(r"^ready ")
        rep, _ = lhtest.attach_json(t.pid, "3s", ["--no-native"])
    finally:
        t.stop()
    assert rep["native"] == [] and not rep["native_stats"]["tracked"], rep["native_stats"]
    assert "--no-native" in rep["native_stats"]["why_not"], rep["native_stats"]


def case_pure_go():
    t = lhtest.Target([lhtest.target_path("heapleak", lhtest.MINORS[-1], "default")])
    try:
        t.wait_for(r"tick=")
        rep, _ = lhtest.attach_json(t.pid, "3s")
        code, _, err = lhtest.run_leakhound(["attach", str(t.pid), "--duration", "2s", "--native"])
    finally:
        t.stop()
    assert not rep["native_stats"]["tracked"], rep["native_stats"]
    assert "no C allocator" in rep["native_stats"]["why_not"], rep["native_stats"]
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert code == 1 and len(lines) == 1 and "no C allocator" in lines[0], (code, err)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", default=",".join(lhtest.matrix("cgo")),
                    help="default: lhtest.matrix, all with LEAKHOUND_FULL=1")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", default="",
                    help="comma-separated parts of case names: run just those cases")
    a = ap.parse_args()
    lhtest.require_root()
    versions = a.versions.split(",")
    cases = [(f"cgo go{m}", case_cgo, m) for m in versions]
    # The churn's blocks living longer than the window (the warm-up fit).
    cases += [(f"cgo slow churn go{m}", case_cgo, m, 40) for m in sorted({versions[0], versions[-1]})]
    cases += [("c fp", case_c, "fp"), ("c nofp", case_c, "nofp"),
              ("c static glibc", case_c, "static"), ("c musl", case_c, "musl"),
              ("c musl static", case_c, "musl-static"),
              ("c static stripped", case_static_stripped), ("drops", case_drops),
              ("pprof and folded", case_outputs), ("mmap", case_mmap),
              ("cpu budget", case_budget), ("many stacks", case_many_stacks),
              ("no-native", case_no_native), ("pure go", case_pure_go)]
    if a.only:
        cases = [c for c in cases if any(part in c[0] for part in a.only.split(","))]
    raise SystemExit(lhtest.run_cases(cases, a.jobs))


if __name__ == "__main__":
    main()
