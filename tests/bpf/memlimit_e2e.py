#!/usr/bin/env python3
"""The GOMEMLIMIT forecast checked against the truth (issue 19, acceptance 3).

heapleak runs with GOMEMLIMIT=96MiB, leaking ~2.25 MiB/s of live heap the GC
must scan (-leak-ptrs: 64-byte nodes held from slices, as a cache holds its
entries) under 20 MB/s of churn, and prints its own GC CPU fraction from
runtime/metrics every 250 ms (-gcfrac). leakhound attaches for 12 s early in
the leak; its `gomemlimit.seconds_to_spiral` says when the room the live heap
leaves under the limit's goal is down to the GC pacer's runway, so that each
cycle is due as the last one ends. The target then runs on until its GC
CPU fraction passes 50%, and the forecast instant must be within 20% of that
instant, both counted from the start of leakhound's window (its "attached;
the window begins" line).

"Passes 50%": the first of 4 consecutive measured intervals (~1 s) above 0.5.
One interval alone is not enough: a GC cycle stretched by the scheduler on a
shared machine can put a single interval over 50% long before the spiral,
while in the spiral the fraction stays above it (it only rises as the live
heap grows past the goal). Intervals in which no GC cycle ended carry no
measurement (the runtime publishes its CPU classes at the end of each cycle)
and are skipped.

Go 1.20+ (the runtime's CPU classes); CI runs the oldest such release and
the newest, default build. The wait for the crossing is bounded by the
target's own progress (its live heap keeps growing toward the limit), not by
a clock.

Usage: memlimit_e2e.py [--versions 1.20,1.27] [--jobs N] [filter]"""
import argparse
import json
import os
import time

import lhtest

MIB = 1 << 20
LIMIT = 96 * MIB
ABOVE = 4  # consecutive intervals above 50%
TOLERANCE = 0.2


def gcfrac_lines(t):
    """(unix seconds, live heap, fraction) of each measured interval."""
    out = []
    for _, l in list(t.lines):
        if l.startswith("gcfrac unix_us="):
            d = dict(kv.split("=", 1) for kv in l.split()[1:])
            frac = float(d["frac"])
            if frac >= 0:
                out.append((int(d["unix_us"]) / 1e6, int(d["heap_live"]), frac))
    return out


def crossing(lines):
    """The first interval of ABOVE consecutive ones above 50%, or None."""
    run = 0
    for i, (_, _, f) in enumerate(lines):
        run = run + 1 if f > 0.5 else 0
        if run == ABOVE:
            return lines[i - ABOVE + 1]
    return None


def case_forecast(minor, variant):
    env = dict(os.environ, GOMEMLIMIT=f"{LIMIT // MIB}MiB")
    t = lhtest.Target([lhtest.target_path("heapleak", minor, variant), "-leak-ptrs",
                       "-leak-rate", str(2 * MIB), "-churn", "20", "-interval", "250ms",
                       "-gcfrac"], env=env)
    try:
        t.wait_for(r"^ready ")
        t.wait_for(r"^gcfrac ")
        time.sleep(2)
        lh = lhtest.Leakhound(["attach", str(t.pid), "--duration", "12s", "--json"])
        lh.wait_window()
        base = time.time()
        code, out, err = lh.finish()
        assert code == 0, f"leakhound exited {code}: {err[-500:]}"
        rep = json.loads(out)
        errors = lhtest.validate_report(rep)
        assert not errors, errors[:5]
        lim, rss = rep["gomemlimit"], rep["rss"]
        assert lim["limited"] and lim["limit_bytes"] == LIMIT, lim
        assert rss["read"], rss
        assert lim["runway_bytes"] > 0 and 0 < lim["runway_share"] < 1, lim
        last_t = rss["series"]["heap_live"][-1][0]
        eta = lim["seconds_to_spiral"]
        assert eta is not None and eta > 0, f"attached too late: {lim}"
        forecast = last_t + eta
        at_saturation = last_t + lim["seconds_to_saturation"]
        # The truth: the target runs on until its GC CPU fraction passes 50%.
        # The wait is bounded by the target's own progress: it fails when the
        # target stops printing, or when its live heap is past twice the
        # limit without the GC having passed 50% (the spiral never came).
        printed, stalled_since = 0, time.monotonic()
        while not (hit := crossing(gcfrac_lines(t))):
            n = sum(1 for _, l in list(t.lines) if l.startswith("gcfrac "))
            if n > printed:
                printed, stalled_since = n, time.monotonic()
            assert time.monotonic() - stalled_since < 30, f"target stopped: {t.lines[-3:]}"
            ticks = t.ticks()
            leaked = int(ticks[-1][1]["leaked_bytes"]) if ticks else 0
            assert leaked < 2 * LIMIT, \
                f"leaked {leaked / MIB:.0f} MiB, GC CPU never above 50% for {ABOVE} " \
                f"intervals: {[round(f, 2) for _, _, f in gcfrac_lines(t)[-20:]]}"
            assert t.proc.poll() is None, f"target exited: {t.lines[-3:]}"
            time.sleep(0.25)
        measured = hit[0] - base
        err_rel = (forecast - measured) / measured
        live = f" (live {hit[1] / MIB:.1f} MiB)" if hit[1] >= 0 else ""  # Go 1.21+
        print(f"     go{minor}-{variant}: forecast continuous GC at {forecast:.1f} s "
              f"({last_t:.1f} s window + {eta:.1f} s; live {lim['spiral_live_bytes'] / MIB:.1f} "
              f"MiB = saturation {lim['saturation_live_bytes'] / MIB:.1f} MiB / (1 + runway "
              f"{lim['runway_share']:.3f}); non-heap {lim['non_heap_bytes'] / MIB:.1f} MiB, live "
              f"{lim['live_growth_bytes_per_s'] / MIB:+.2f} MiB/s); GC CPU > 50% at "
              f"{measured:.1f} s{live}: {err_rel:+.1%} (saturation alone: "
              f"{at_saturation:.1f} s, {(at_saturation - measured) / measured:+.1%})", flush=True)
        assert abs(err_rel) <= TOLERANCE, \
            f"forecast {forecast:.1f} s, measured {measured:.1f} s ({err_rel:+.1%})"
    finally:
        t.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", default="")
    ap.add_argument("--variants", default="default")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("filter", nargs="?", default="")
    a = ap.parse_args()
    lhtest.require_root()
    # runtime/metrics' CPU classes: Go 1.20+.
    minors = a.versions.split(",") if a.versions else ["1.20", lhtest.MINORS[-1]]
    cases = []
    for variant in a.variants.split(","):
        for minor in minors:
            name = f"forecast-go{minor}-{variant}"
            if a.filter in name:
                cases.append((name, case_forecast, minor, variant))
    return lhtest.run_cases(cases, a.jobs)


if __name__ == "__main__":
    raise SystemExit(main())
