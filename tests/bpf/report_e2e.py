#!/usr/bin/env python3
"""Report outputs end to end: the memory-limit forecast of a target run in a
cgroup with a memory limit that the test creates (and of one with none), the
folded-stack files, and the pprof profiles as `go tool pprof` reads them.

Usage: report_e2e.py"""
import json
import os
import re
import shutil
import subprocess
import tempfile

import lhtest

LIMIT = 1 << 30
LEAK = 4 << 20  # bytes/s


def case_forecast_with_limit():
    cg = lhtest.LimitedCgroup(LIMIT)
    t = None
    try:
        t = lhtest.Target([lhtest.target_path("heapleak", lhtest.MINORS[-1], "default"),
                           "-leak-rate", str(LEAK), "-leak-size", str(64 << 10),
                           "-interval", "500ms"])
        cg.add(t.pid)
        t.wait_for("^ready")
        rep, _ = lhtest.attach_json(t.pid, "10s", ["--sample-rate", "65536"])
        code, out, _ = lhtest.run_leakhound(["attach", str(t.pid), "-d", "6s", "--no-color"])
    finally:
        if t:
            t.stop()
        cg.remove()
    m = rep["memory"]
    assert m["read"] and m["cgroup"] == cg.name and m["cgroup_version"] == cg.version, m
    assert m["limited"] and m["limit_bytes"] == LIMIT and m["limit_cgroup"] == cg.name, m
    assert m["verdict"] in ("leak", "growing"), (m["verdict"], m["series"])
    g = m["growth_bytes_per_s"]
    assert 0.5 * LEAK <= g <= 3 * LEAK, f"cgroup usage grew {g:.0f} B/s for a {LEAK} B/s leak"
    want = (LIMIT - m["usage_bytes"]) / g
    assert abs(m["seconds_to_limit"] - want) <= 1e-6 * want, (m["seconds_to_limit"], want)
    assert m["usage_bytes"] == m["series"][-1][1]
    assert code == 0, out
    line = [l for l in out.splitlines() if l.startswith("memory limit:")]
    assert line and "1.0 GiB" in line[0] and "the limit is reached in ~" in line[0], out


def case_forecast_without_limit():
    t = lhtest.Target([lhtest.target_path("heapleak", lhtest.MINORS[-1], "default"),
                       "-interval", "500ms"])
    try:
        t.wait_for("^ready")
        rep, _ = lhtest.attach_json(t.pid, "2s")
    finally:
        t.stop()
    m = rep["memory"]
    assert m["read"] and m["limited"] is False and m["limit_bytes"] is None, m
    assert m["seconds_to_limit"] is None, m


def folded_run(argv, flag, extra=()):
    """Attaches with a folded-stacks flag; returns (report, lines of the file)."""
    path = f"/tmp/lh-{os.getpid()}{flag}.folded"
    t = lhtest.Target(argv)
    try:
        t.wait_for("^ready")
        rep, _ = lhtest.attach_json(t.pid, "4s", [flag, path, *extra])
        with open(path) as f:
            return rep, f.read().splitlines()
    finally:
        t.stop()
        if os.path.exists(path):
            os.unlink(path)


FOLDED = re.compile(r"^[^ ;]+(;[^ ;]+)* \d+$")


def case_folded_goroutines():
    rep, lines = folded_run([lhtest.target_path("goleak", lhtest.MINORS[-1], "default"),
                             "-modes", "chan,pool", "-rate", "20"], "--folded-goroutines")
    assert lines and all(FOLDED.match(l) for l in lines), lines[:5]
    chan = [l for l in lines if l.startswith("created_by_main.leakChan;")]
    live = {g["created_at"]["function"]: g["count"] for g in rep["goroutines"]}
    assert chan and int(chan[0].rsplit(" ", 1)[1]) == live["main.leakChan"], (chan, live)
    assert chan[0].split(" ")[0].split(";")[-1] == "runtime.gopark", chan[0]
    assert len(lines) == sum(1 for g in rep["goroutines"] if g["count"] > 0)


def case_folded_heap():
    rep, lines = folded_run([lhtest.target_path("heapleak", lhtest.MINORS[-1], "default"),
                             "-leak-rate", str(1 << 20), "-interval", "500ms"], "--folded",
                            ["--sample-rate", "65536"])
    assert lines and all(FOLDED.match(l) for l in lines), lines[:5]
    total = sum(int(l.rsplit(" ", 1)[1]) for l in lines)
    assert total == sum(h["inuse_bytes"] for h in rep["heap"] if h["stack"]), total
    top = max(lines, key=lambda l: int(l.rsplit(" ", 1)[1]))
    assert ";main.leakOne;" in top, top


def pprof(*args):
    """go tool pprof's output (it builds itself into the Go cache on first use)."""
    p = subprocess.run(["go", "tool", "pprof", *args], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, f"go tool pprof {' '.join(args)}: {p.stderr}"
    return p.stdout


def top_rows(out):
    """Function names of `-top` data rows, in order."""
    rows, on = [], False
    for l in out.splitlines():
        if l.strip().startswith("flat"):
            on = True
        elif on and l.strip():
            rows.append((l.split()[-1], l.split()[0]))
    return rows


def case_pprof():
    d = tempfile.mkdtemp(prefix="lh-pprof-")
    t = lhtest.Target([lhtest.target_path("heapleak", lhtest.MINORS[-1], "default"),
                       "-leak-rate", str(1 << 20), "-interval", "500ms"])
    try:
        t.wait_for("^ready")
        rep, _ = lhtest.attach_json(t.pid, "10s", ["--sample-rate", "65536", "--pprof", d])
    finally:
        t.stop()
    try:
        files = sorted(os.listdir(d))
        assert files == ["goroutine.pb.gz", "heap-end.pb.gz", "heap-start.pb.gz"], files
        end, start = os.path.join(d, "heap-end.pb.gz"), os.path.join(d, "heap-start.pb.gz")
        rows = top_rows(pprof("-top", "-sample_index=inuse_space", end))
        assert rows and rows[0][0] == "main.leakOne", rows[:5]
        grew = top_rows(pprof("-top", "-sample_index=inuse_space", "-base", start, end))
        assert grew and grew[0][0] == "main.leakOne" and not grew[0][1].startswith("-"), grew[:5]
        gp = os.path.join(d, "goroutine.pb.gz")
        assert top_rows(pprof("-top", gp)), "empty goroutine profile"
        tags = pprof("-tags", gp)
        assert "created_by" in tags and "wait_reason" in tags, tags
        assert rep["heap"][0]["verdict"] == "leak"
    finally:
        shutil.rmtree(d)


def case_pprof_disk_full():
    """An unwritable --pprof directory: the report still printed, one clear line, exit 1."""
    t = lhtest.Target([lhtest.target_path("heapleak", lhtest.MINORS[-1], "default"),
                       "-interval", "500ms"])
    try:
        t.wait_for("^ready")
        code, out, err = lhtest.run_leakhound(["attach", str(t.pid), "-d", "1s", "--json",
                                               "--pprof", "/dev/full/x"])
    finally:
        t.stop()
    assert code == 1, (code, err)
    assert json.loads(out)["schema"] == "leakhound.report/v1"
    lines = [l for l in err.splitlines() if "/dev/full/x" in l]
    assert len(lines) == 1 and lines[0].startswith("leakhound: "), err


def main():
    lhtest.require_root()
    cases = [("forecast with a cgroup limit", case_forecast_with_limit),
             ("forecast without a limit", case_forecast_without_limit),
             ("folded goroutine stacks", case_folded_goroutines),
             ("folded heap stacks", case_folded_heap),
             ("pprof profiles", case_pprof),
             ("pprof into an unwritable directory", case_pprof_disk_full)]
    return lhtest.run_cases(cases, 4)


if __name__ == "__main__":
    raise SystemExit(main())
