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

"Passes 50%": the runtime publishes its CPU classes at the end of each GC
cycle, so the fraction is known per span between two cycle ends (a line whose
totals moved), from a few hundred ms to several seconds on a loaded machine.
The crossing is the first span above 0.5 from which the spans stay above it
for at least 1 s and 3 cycles (a single span can be pushed over by a cycle
the scheduler stretched long before the spiral; in the spiral the fraction
stays above),
and its instant is interpolated between the midpoints of that span and the
one before, at their fractions: a span's fraction is its average, so taking
its start or end would err by up to a whole span, seconds when the machine
is loaded and cycles are long.

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
ABOVE_S = 1.0  # the fraction stays above 50% for at least this long
ABOVE_N = 3  # ... and over at least this many GC cycles
TOLERANCE = 0.2


def spans(t):
    """(start, end, fraction, live heap at the end) between the cycle ends the
    target's gcfrac lines show, in unix seconds (live: -1 before Go 1.21)."""
    snaps = []
    for _, l in list(t.lines):
        if l.startswith("gcfrac unix_us="):
            d = dict(kv.split("=", 1) for kv in l.split()[1:])
            g, c = float(d["gc_cpu_s"]), float(d["total_cpu_s"])
            if not snaps or c > snaps[-1][2]:
                snaps.append((int(d["unix_us"]) / 1e6, g, c, int(d["heap_live"])))
    return [(a[0], b[0], (b[1] - a[1]) / (b[2] - a[2]), b[3]) for a, b in zip(snaps, snaps[1:])]


def crossing(sp):
    """(instant, live heap, span length) where the GC CPU fraction passes 50%
    for good (see above), or None while it has not."""
    for i, (t0, _, f, live) in enumerate(sp):
        if f <= 0.5 or i == 0:
            continue
        above = next((j for j in range(i + ABOVE_N - 1, len(sp)) if sp[j][1] - t0 >= ABOVE_S),
                     None)
        if above is None:
            return None  # not known yet
        if all(sp[j][2] > 0.5 for j in range(i, above + 1)):
            p0, p1 = sp[i - 1], sp[i]
            m0, m1 = (p0[0] + p0[1]) / 2, (p1[0] + p1[1]) / 2
            at = m0 + (0.5 - p0[2]) / (p1[2] - p0[2]) * (m1 - m0)
            return at, live, p1[1] - p1[0]
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
        while not (hit := crossing(spans(t))):
            n = sum(1 for _, l in list(t.lines) if l.startswith("gcfrac "))
            if n > printed:
                printed, stalled_since = n, time.monotonic()
            assert time.monotonic() - stalled_since < 30, f"target stopped: {t.lines[-3:]}"
            ticks = t.ticks()
            leaked = int(ticks[-1][1]["leaked_bytes"]) if ticks else 0
            assert leaked < 2 * LIMIT, \
                f"leaked {leaked / MIB:.0f} MiB, GC CPU never above 50% for {ABOVE_S} s: " \
                f"{[round(f, 2) for _, _, f, _ in spans(t)[-20:]]}"
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
              f"{measured:.1f} s{live}, span {hit[2]:.2f} s: {err_rel:+.1%} (saturation alone: "
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
