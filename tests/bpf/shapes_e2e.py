#!/usr/bin/env python3
"""Verdicts on real targets over a 60 s window, for every Go version: heap
growth that is not a leak must come out stable (a cache that fills to ~20 MB
and is flushed every 4 s; a warm-up that keeps 40 MB and then stops), and so
must goroutine bursts that return to baseline; a slow steady leak, the
positive control, must be a leak. And the 30 s acceptance case of the
heap verdicts (`-mode mixed`, sampler off, the default sample budget): leaks
of 16, 64 and 256 KiB/s of 64 B to 4 KiB objects, and one of 64 KiB/s split
over four stacks under one caller, are each a leak at the right function
(the split one at its caller), while sessions kept 10 s each, a live set
still filling after attach, are not.

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


MIXED = {fn: lhtest.source_line(SRC, marker) for fn, marker in
         (("main.leak16", "LEAK16-LINE"), ("main.leak64", "LEAK64-LINE"),
          ("main.leak256", "LEAK256-LINE"), ("main.session", "SESSION-LINE"))}
SPLIT = [lhtest.source_line(SRC, f"SPLIT{i}-LINE") for i in range(1, 5)]
LEAK16_BPS = 16 << 10  # main.leak16's rate (shapes -mode mixed)


def mixed(minor, variant):
    t = lhtest.Target([lhtest.target_path("shapes", minor, variant), "-mode", "mixed",
                       "-churn", "10"])
    try:
        t.wait_for("^ready")
        rep, _ = lhtest.attach_json(t.pid, "30s")
        assert t.proc.poll() is None, "target died"
    finally:
        t.stop()
    rates = [p["rate"] for p in rep["sampler"]["budget"]["rates"]]

    def show(h):
        return (f"{lhtest.first_user_frame(h)['function']} {h['verdict']} "
                f"{h.get('kind', 'stack')} reason={h['trend']['reason']!r} "
                f"series={[(round(p[0], 1), round(p[1] / 1024)) for p in h['series']]} KiB")

    # 16 KiB/s of 64 B objects is one sample a second at the budget's 16 KiB:
    # a leak in most 30 s windows on a loaded machine, not all (see
    # docs/report-format.md); it must at least be seen growing.
    for fn, want in (("main.leak16", ("leak", "growing")), ("main.leak64", ("leak",)),
                     ("main.leak256", ("leak",))):
        # On its own, or as a child of a caller finding at the function that
        # calls it (its goroutine's func literal, whose other stack is the
        # mutex's sudog in keep).
        mine = [h for h in rep["heap"] if at_line(h, MIXED[fn])] or \
            [h for h in rep["heap"] if h.get("kind") == "caller"
             and any(at_line(c, MIXED[fn]) for c in h.get("children", []))]
        assert mine, f"{fn}: not found (rates {rates})"
        if fn == "main.leak16" and mine[0]["verdict"] not in want:
            # The verdict at one sample a second can miss in 30 s (a CI run
            # saw 7 s without a sample: `stable`, "flat in the second half");
            # the samples must still show at least half the leak's rise.
            ser = mine[0]["series"]
            rise, span = ser[-1][1] - ser[0][1], ser[-1][0] - ser[0][0]
            assert rise >= 0.5 * LEAK16_BPS * span, f"{fn}: {show(mine[0])} (rates {rates})"
        else:
            assert mine[0]["verdict"] in want, f"{fn}: {[show(h) for h in mine]} (rates {rates})"
        top = lhtest.first_user_frame(mine[0])["function"]
        # (or main.every, the loop that calls the func literal: a caller
        # finding can form there too, seen once on go1.27 strip.)
        assert top == fn or (mine[0].get("kind") == "caller" and
                             top.startswith(("main.mixed.", "main.every"))), show(mine[0])
    # The split leak: one finding at main.splitLeak with its four stacks, or
    # its stacks leaks on their own (three of four at least: a stack whose
    # only calibration sample weighs 512 KiB can be too noisy in 30 s).
    split = [h for h in rep["heap"] if any(at_line(h, line) for line in SPLIT)
             and lhtest.first_user_frame(h)["function"] == "main.splitLeak"]
    callers = [h for h in split if h.get("kind") == "caller"]
    if callers:
        c = callers[0]
        assert c["verdict"] == "leak" and \
            lhtest.first_user_frame(c)["function"] == "main.splitLeak", show(c)
        assert len(c["children"]) >= 4, show(c)
    else:
        assert sum(h["verdict"] == "leak" for h in split) >= 3, [show(h) for h in split]
    sessions = [h for h in rep["heap"] if at_line(h, MIXED["main.session"])]
    assert sessions, "no finding for the sessions"
    assert all(h["verdict"] != "leak" for h in sessions), [show(h) for h in sessions]
    expected = {"main.leak16", "main.leak64", "main.leak256", "main.splitLeak"}
    others = [show(h) for h in rep["heap"] if h["verdict"] == "leak"
              and lhtest.first_user_frame(h)["function"] not in expected]
    assert not others, f"false leaks: {others}"
    print(f"mixed go{minor} {variant}: rates {rates}, "
          + ", ".join(f"{lhtest.first_user_frame(h)['function']} "
                      f"{h['growth_bytes_per_s'] / 1024:.0f} KiB/s"
                      for h in rep["heap"] if h["verdict"] == "leak"))


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
        for variant in ("default", "strip"):
            cases.append((f"mixed go{minor} {variant}", mixed, minor, variant))
    return lhtest.run_cases(cases, a.jobs)


if __name__ == "__main__":
    raise SystemExit(main())
