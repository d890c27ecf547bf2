#!/usr/bin/env python3
"""Where the RSS goes, end to end, on the oldest and newest Go release, default
and stripped (runtime.memstats and runtime.gcController from DWARF and
.symtab, or from the generated table and the code):

- match: heapleak leaks 12 MiB, then stops and prints its own
  runtime.ReadMemStats every 200 ms; leakhound's heap parts (heap in use,
  free heap pages kept, stacks, runtime metadata, the heap goal) equal the
  target's last line within 5%; the GC CPU fraction at every reading is one
  the target's ReadMemStats printed, the last its last.
- explain: heapleak leaking 1 MiB/s through main.leakOne under 20 MB/s of
  churn: the breakdown explains >= 90% of the RSS growth and names
  main.leakOne as the stack that explains most of it. On Go 1.19+ the target
  runs with GOMEMLIMIT=1GiB and the forecast must agree with the target's own
  leak rate: the time to the live heap where the GC runs continuously within
  30% of (that heap - live now) / the leak rate.

Usage: rss_e2e.py [--versions 1.18,1.27] [--variants default,strip] [--jobs N]"""
import argparse
import os
import time

import lhtest

MIB = 1 << 20
LIMIT = 1 << 30


def memstats_lines(t):
    out = []
    for ts, l in list(t.lines):
        if l.startswith("memstats "):
            out.append((ts, {k: float(v) for k, v in (kv.split("=", 1) for kv in l.split()[1:])}))
    return out


def close(name, got, want, rel=0.05, floor=0):
    """got within rel of want (or within floor bytes, for parts of a few pages)."""
    if abs(got - want) > max(rel * want, floor):
        raise AssertionError(f"{name}: leakhound {got:.0f}, the target's ReadMemStats {want:.0f} "
                             f"({(got - want) / max(want, 1):+.1%})")


def case_match(minor, variant):
    t = lhtest.Target([lhtest.target_path("heapleak", minor, variant),
                       "-leak-rate", str(4 * MIB), "-leak-for", "3s", "-churn", "0",
                       "-memstats", "-interval", "200ms"])
    try:
        t.wait_for(r"^leak stopped", timeout=30)
        time.sleep(1)
        rep, _ = lhtest.attach_json(t.pid, "3s")
        rss = rep["rss"]
        assert rss["read"], rss
        mine = rss["bytes"]
        _, want = memstats_lines(t)[-1]
        close("heap in use", mine["heap_inuse"], want["heap_inuse"])
        close("heap free, not released", mine["heap_free"],
              want["heap_idle"] - want["heap_released"], floor=256 << 10)
        close("stacks in use", mine["stacks"], want["stack_inuse"])
        close("heap goal", mine["heap_goal"], want["next_gc"])
        close("runtime metadata", mine["runtime_metadata"],
              sum(want[k] for k in ("gc_sys", "mspan_sys", "mcache_sys", "buckhash_sys",
                                    "other_sys")))
        assert rss["gogc"] == 100, rss["gogc"]
        # GCCPUFraction at each reading is one the runtime itself reported
        # (%g: 6 digits), the last the target's last.
        theirs = [m["gc_cpu_fraction"] for _, m in memstats_lines(t)]
        series = rss["series"]["gc_cpu_fraction"]
        assert series, "no GC CPU fraction series"
        for ts, v in series:
            assert any(abs(v - w) <= 1e-5 * max(w, 1e-9) for w in theirs), \
                f"GC CPU fraction {v} at {ts} s is none of the target's {sorted(set(theirs))}"
        assert abs(rss["gc_cpu_fraction"] - want["gc_cpu_fraction"]) <= \
            1e-5 * want["gc_cpu_fraction"], (rss["gc_cpu_fraction"], want["gc_cpu_fraction"])
        print(f"     {minor}-{variant} match: heap in use {mine['heap_inuse']} vs "
              f"{want['heap_inuse']:.0f}, goal {mine['heap_goal']} vs {want['next_gc']:.0f}, "
              f"layout {rss['layout']}", flush=True)
    finally:
        t.stop()


def case_explain(minor, variant):
    env = dict(os.environ)
    limited = minor != "1.18"  # GOMEMLIMIT: Go 1.19+
    if limited:
        env["GOMEMLIMIT"] = "1GiB"
    t = lhtest.Target([lhtest.target_path("heapleak", minor, variant), "-churn", "20",
                       "-interval", "250ms"], env=env)
    try:
        t.wait_for(r"^ready ")
        time.sleep(2)
        rep, _ = lhtest.attach_json(t.pid, "12s")
        rss = rep["rss"]
        assert rss["read"], rss
        g = rss["growth_bytes_per_s"]
        print(f"     {minor}-{variant} explain: RSS {g['rss'] / MIB:+.2f} MiB/s = live "
              f"{g['heap_live'] / MIB:+.2f} + headroom {g['gc_headroom'] / MIB:+.2f} + stacks "
              f"{g['stacks'] / MIB:+.2f} + metadata {g['runtime_metadata'] / MIB:+.2f} + "
              f"unexplained {g['unexplained'] / MIB:+.2f}; explained {rss['explained']:.1%}",
              flush=True)
        assert rss["explained"] >= 0.9, f"explains {rss['explained']:.1%} of the RSS growth"
        assert g["rss"] > 0.5 * MIB, g
        top = rss["top_stack"]
        assert top, "no heap stack named"
        fn = lhtest.first_user_frame(top)["function"]
        assert fn == "main.leakOne", fn
        assert top["share_of_rss_growth"] > 0.25, top
        lim = rep["gomemlimit"]
        if not limited:
            assert rss["gomemlimit_bytes"] is None and not lim["limited"], lim
            return
        assert rss["gomemlimit_bytes"] == LIMIT and lim["limited"], lim
        assert lim["limit_bytes"] == LIMIT, lim
        # The oracle: the target's own leak rate and leakhound's live heap now.
        ticks = t.ticks()
        rate = float(ticks[-1][1]["leak_rate_bps"])
        want = (lim["saturation_live_bytes"] - rss["bytes"]["heap_live"]) / rate
        got = lim["seconds_to_saturation"]
        print(f"     {minor}-{variant} GOMEMLIMIT: continuous GC in {got:.0f} s, the target's "
              f"rate says {want:.0f} s", flush=True)
        assert got is not None and abs(got - want) <= 0.3 * want, (got, want)
    finally:
        t.stop()


def slope(points):
    """Least-squares slope of [(t, v)] (as leakhound's parts)."""
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    den = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (v - mv) for t, v in points) / den


def explained_line(name, rss):
    g = rss["growth_bytes_per_s"]
    parts = " + ".join(f"{k} {v / 1024:+.1f}" for k, v in g.items()
                       if k != "rss" and v is not None)
    return (f"     {name}: RSS {g['rss'] / 1024:+.1f} KiB/s = {parts}; "
            f"explained {rss['explained']:.1%}")


def case_cgo(minor, variant):
    """cgoleak leaking 200 C.CString a second (1001 B each) under its C churn,
    realloc chains and frees of blocks from before attach, with --native: the
    breakdown explains >= 90% of the RSS growth; native outstanding grows as
    the target's own leak counter does, and what the allocator keeps resident
    grows as glibc's own mallinfo2 (arena + hblkhd) says."""
    t = lhtest.Target([lhtest.target_path("cgoleak", minor, variant), "-leak-rate", "200",
                       "-mallinfo", "-interval", "250ms"])
    try:
        t.wait_for(r"^ready ")
        time.sleep(1)
        t0 = time.monotonic()
        rep, _ = lhtest.attach_json(t.pid, "12s", ["--native"])
        t1 = time.monotonic()
        rss = rep["rss"]
        assert rss["read"], rss
        g = rss["growth_bytes_per_s"]
        print(explained_line(f"{minor}-{variant} cgo", rss), flush=True)
        mi, leaked = [], []
        for ts, l in list(t.lines):
            if not t0 <= ts <= t1:
                continue
            d = dict(kv.split("=", 1) for kv in l.split()[1:] if "=" in kv)
            if l.startswith("mallinfo "):
                mi.append((ts, float(d["arena"]) + float(d["hblkhd"])))
            elif l.startswith("tick="):
                leaked.append((ts, float(l.split("leaked_bytes=")[1].split()[0])))
        want_leak, want_held = slope(leaked), slope(mi)
        held = g["native"] + g["native_allocator"]
        print(f"     {minor}-{variant} cgo: native {g['native'] / 1024:+.1f} KiB/s, the target "
              f"leaks {want_leak / 1024:+.1f}; allocator resident {held / 1024:+.1f} KiB/s, "
              f"mallinfo2 arena+hblkhd {want_held / 1024:+.1f}", flush=True)
        assert rss["explained"] >= 0.9, f"explains {rss['explained']:.1%} of the RSS growth"
        assert abs(g["native"] - want_leak) <= 0.1 * want_leak, (g["native"], want_leak)
        assert abs(held - want_held) <= 0.25 * want_held, (held, want_held)
        # The native parts are what grows: the Go heap does not.
        assert held >= 0.75 * g["rss"], g
        top = rep["native"][0]
        assert any(f["function"] == "main.leakCString" for f in top["stack"]), top["stack"]
    finally:
        t.stop()


def case_goroutines(minor, variant):
    """goleak leaking goroutines on channels, tickers and contexts (no HTTP:
    its buffers would be heap): the breakdown explains >= 90% of the RSS
    growth, stacks are its largest part, and their growth is the growth of
    the target's own ReadMemStats StackInuse over the window within 10%."""
    t = lhtest.Target([lhtest.target_path("goleak", minor, variant), "-modes", "chan,ticker,ctx",
                       "-rate", "150", "-memstats", "-interval", "250ms"])
    try:
        t.wait_for(r"^ready ")
        time.sleep(1)
        t0 = time.monotonic()
        rep, _ = lhtest.attach_json(t.pid, "12s")
        t1 = time.monotonic()
        rss = rep["rss"]
        assert rss["read"], rss
        g = rss["growth_bytes_per_s"]
        print(explained_line(f"{minor}-{variant} goroutines", rss), flush=True)
        assert rss["explained"] >= 0.9, f"explains {rss['explained']:.1%} of the RSS growth"
        parts = {k: v for k, v in g.items() if k not in ("rss", "unexplained") and v is not None}
        assert max(parts, key=parts.get) == "stacks", g
        # The stacks' growth against the target's own StackInuse over the
        # window (its level at leakhound's last reading is a moving target:
        # 450 goroutines a second).
        want = slope([(ts, m["stack_inuse"]) for ts, m in memstats_lines(t) if t0 <= ts <= t1])
        print(f"     {minor}-{variant} goroutines: stacks {g['stacks'] / 1024:+.1f} KiB/s, the "
              f"target's StackInuse {want / 1024:+.1f} KiB/s", flush=True)
        close("stacks growth", g["stacks"], want, rel=0.1)
    finally:
        t.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", default="")
    ap.add_argument("--variants", default="default,strip")
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("filter", nargs="?", default="")
    a = ap.parse_args()
    lhtest.require_root()
    minors = a.versions.split(",") if a.versions else [lhtest.MINORS[0], lhtest.MINORS[-1]]
    cases = []
    for variant in a.variants.split(","):
        for minor in minors:
            for kind, fn in (("match", case_match), ("explain", case_explain)):
                name = f"{kind}-go{minor}-{variant}"
                if a.filter in name:
                    cases.append((name, fn, minor, variant))
    # The native and goroutine targets: default builds only (cgoleak is built cgo).
    for minor in minors:
        for kind, fn, variant in (("cgo", case_cgo, "cgo"),
                                  ("goroutines", case_goroutines, "default")):
            name = f"{kind}-go{minor}-{variant}"
            if a.filter in name:
                cases.append((name, fn, minor, variant))
    return lhtest.run_cases(cases, a.jobs)


if __name__ == "__main__":
    raise SystemExit(main())
