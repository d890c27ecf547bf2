#!/usr/bin/env python3
"""Verdicts on real targets over a 60 s window, for every Go version: heap
growth that is not a leak must come out stable (a cache that fills to ~20 MB
and is flushed every 4 s; a warm-up that keeps 40 MB and then stops), and so
must goroutine bursts that return to baseline; a slow steady leak, the
positive control, must be a leak.

Usage: shapes_e2e.py [--versions 1.21,1.26] [--jobs N] [--window 60s]"""
import argparse

import lhtest

SRC = "go/shapes/main.go"
LINES = {m: lhtest.source_line(SRC, marker) for m, marker in
         (("sawtooth", "CACHE-LINE"), ("plateau", "WARMUP-LINE"), ("leak", "LEAK-LINE"))}
BURST = lhtest.source_line("go/goleak/main.go", "GO-SITE:burst")


def at_line(finding, line):
    return any(f["file"].endswith(SRC.split("/", 1)[1]) and f["line"] == line
               for f in finding["stack"])


def heap_shape(minor, mode, window):
    t = lhtest.Target([lhtest.target_path("shapes", minor, "default"), "-mode", mode])
    try:
        t.wait_for("^ready")
        rep, _ = lhtest.attach_json(t.pid, window)
        assert t.proc.poll() is None, "target died"
    finally:
        t.stop()
    mine = [h for h in rep["heap"] if at_line(h, LINES[mode])]
    assert mine, f"{mode}: no finding at line {LINES[mode]}; {len(rep['heap'])} findings"
    want = "leak" if mode == "leak" else "stable"
    for h in mine:
        assert h["verdict"] == want, (
            f"{mode}: {h['verdict']} (want {want}) reason={h['trend']['reason']!r} "
            f"series={[round(p[1] / 2**20, 1) for p in h['series']]} MiB")
    if mode != "leak":
        leaks = [lhtest.first_user_frame(h) for h in rep["heap"] if h["verdict"] == "leak"]
        assert not leaks, f"{mode}: false leaks {leaks}"


def bursts(minor, window):
    t = lhtest.Target([lhtest.target_path("goleak", minor, "default"), "-modes", "burst,pool"])
    try:
        t.wait_for("^ready")
        # The probes count every burst, even ones that come and go between reads.
        rep, _ = lhtest.attach_json(t.pid, window, ["--goroutine-events"])
    finally:
        t.stop()
    for g in rep["goroutines"]:
        assert g["verdict"] == "stable", (
            f"{g['created_at']['function']}:{g['created_at']['line']} {g['verdict']} "
            f"series={[p[1] for p in g['series']]}")
    burst = [g for g in rep["goroutines"] if g["created_at"]["line"] == BURST]
    assert burst and burst[0]["created_window"] >= 1000, \
        f"bursts (100 every 2 s) not counted: {burst}"
    # Every burst ends: at most the one under way is still alive.
    assert burst[0]["created_window"] - burst[0]["exited_window"] <= 100, burst[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", default=",".join(lhtest.matrix("default")),
                    help="default: lhtest.matrix, all with LEAKHOUND_FULL=1")
    ap.add_argument("--jobs", type=int, default=10)
    ap.add_argument("--window", default="60s")
    a = ap.parse_args()
    lhtest.require_root()
    versions = a.versions.split(",")
    cases = []
    for minor in versions:
        for mode in ("sawtooth", "plateau"):
            cases.append((f"{mode} go{minor}", heap_shape, minor, mode, a.window))
        cases.append((f"goroutine bursts go{minor}", bursts, minor, a.window))
    for minor in (versions[0], versions[-1]):
        cases.append((f"slow leak go{minor}", heap_shape, minor, "leak", a.window))
    return lhtest.run_cases(cases, a.jobs)


if __name__ == "__main__":
    raise SystemExit(main())
