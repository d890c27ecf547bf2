#!/usr/bin/env python3
"""The cost to the target of one Go runtime goroutine leak check (Go 1.26+),
which leakhound asks for by writing the runtime's request flag: GC pause,
cycle time and the program's throughput over the cycle that runs the check,
against its neighbouring ordinary cycles, in one run.

The target (main.go, built with the Go toolchain on PATH, which must be
1.26 or newer) holds -heap-mb of pointer-rich live heap and -goroutines
goroutines (half leaked on private channels, half pool workers on a live
channel), and forces a GC cycle every --gc-every, printing each cycle's span
and stop-the-world time (debug.ReadGCStats); GODEBUG=gctrace=1 says, per
cycle, whether it ran the check ("(checking for goroutine leaks)") and its
concurrent mark time. One worker goroutine measures throughput.

Phases: --baseline cycles with no leakhound, then `leakhound daemon
--leak-check-every --leak-check` watching only the target, until --checks
cycles have run the check. Ratios compare, within the daemon phase, the
cycles that ran the check with those that did not (same attachment, same
heap); the detached cycles show what the attachment itself costs.

Usage (root): sudo bench/leak_check_cost/run.py [--heap-mb 1024] [--goroutines 10000]
              [--gc-every 5] [--leak-check 15] [--checks 5] [--baseline 3]"""
import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LEAKHOUND = os.environ.get("LEAKHOUND", os.path.join(ROOT, "build", "leakhound"))
BINARY = os.path.join(ROOT, "build", "bench-leak-check")

sys.path.insert(0, os.path.dirname(HERE))
from benchlib import LineTarget, throughput  # noqa: E402

GCTRACE = re.compile(r"^gc (\d+) @[\d.]+s \d+%( \(checking for goroutine leaks\))?: "
                     r"([\d.]+)\+([\d.]+)\+([\d.]+) ms clock")


class Target(LineTarget):
    def __init__(self, a):
        self.cycles = []  # dicts from "cycle" lines, in order
        self.trace = {}   # gc number -> (check ran, stw1 ms, mark ms, stw2 ms)
        super().__init__([BINARY, "-heap-mb", str(a.heap_mb), "-goroutines", str(a.goroutines),
                          "-gc-every", f"{a.gc_every:g}s"],
                         env={**os.environ, "GODEBUG": "gctrace=1", "GOMAXPROCS": str(a.procs)},
                         stderr=subprocess.PIPE)
        threading.Thread(target=self._stderr, daemon=True).start()

    def on_line(self, kind, kv):
        if kind == "cycle":
            self.cycles.append({k: int(v) for k, v in kv.items()})

    def _stderr(self):
        for line in self.p.stderr:
            m = GCTRACE.match(line)
            if m:
                with self.lock:
                    self.trace[int(m[1])] = (bool(m[2]), float(m[3]), float(m[4]), float(m[5]))

    def checks_seen(self):
        with self.lock:
            return sum(1 for c in self.cycles if self.trace.get(c["gc"], (False,))[0])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def summary(rows):
    if not rows:
        return None
    med = lambda k: statistics.median(r[k] for r in rows)
    return {"cycles": len(rows), "pause_ms": round(med("pause_ms"), 3),
            "stw_sweep_term_ms": round(med("stw1_ms"), 3), "mark_ms": round(med("mark_ms"), 1),
            "cycle_ms": round(med("cycle_ms"), 1), "ops_per_s": round(med("ops_per_s"), 1),
            "period_ops_per_s": round(med("period_ops_per_s"), 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heap-mb", type=int, default=1024)
    ap.add_argument("--goroutines", type=int, default=10000)
    ap.add_argument("--gc-every", type=float, default=5.0, help="seconds between forced cycles")
    ap.add_argument("--leak-check", type=float, default=15.0, help="daemon --leak-check-every, s")
    ap.add_argument("--checks", type=int, default=5, help="cycles with the check to measure")
    ap.add_argument("--baseline", type=int, default=3, help="cycles before the daemon starts")
    ap.add_argument("--procs", type=int, default=2, help="the target's GOMAXPROCS")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: leakhound's daemon attaches BPF probes")
    if a.gc_every <= 0 or a.leak_check < a.gc_every:
        sys.exit("--leak-check must be at least --gc-every (one check per forced cycle at most)")
    subprocess.run(["go", "build", "-o", BINARY, "."], cwd=HERE, check=True,
                   env={**os.environ, "CGO_ENABLED": "0"})

    t = Target(a)
    daemon = None
    try:
        if not t.ready.wait(timeout=600):
            sys.exit("the target did not build its heap")
        while len(t.cycles) < a.baseline and t.p.poll() is None:
            time.sleep(0.2)
        attached_from = len(t.cycles)
        port = free_port()
        daemon = subprocess.Popen(
            [LEAKHOUND, "daemon", "--include-exe", "^" + re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", BINARY) + "$", "--listen",
             f"127.0.0.1:{port}", "--leak-check-every", f"{a.leak_check:g}s", "--report-every",
             "5s"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        while t.checks_seen() < a.checks:
            if t.p.poll() is not None or daemon.poll() is not None:
                err = daemon.stderr.read() if daemon.poll() is not None else ""
                sys.exit(f"the target or the daemon exited early: {err.strip()[-500:]}")
            time.sleep(0.5)
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/v1/report?pid={t.p.pid}", timeout=30) as r:
                lc = json.load(r)["goroutine_stats"]["leak_check"]
        except (OSError, ValueError, KeyError) as e:
            lc = {"error": str(e)}
    finally:
        if daemon and daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait()
        t.stop()

    with t.lock:
        cycles, work, trace = list(t.cycles), list(t.work), dict(t.trace)
    classes = {"detached": [], "attached": [], "check": []}
    for i, c in enumerate(cycles):
        tr = trace.get(c["gc"])
        if tr is None:
            continue
        ran, stw1, mark, stw2 = tr
        row = {"pause_ms": c["pause_ns"] / 1e6, "stw1_ms": stw1, "mark_ms": mark,
               "cycle_ms": (c["end_us"] - c["start_us"]) / 1e3,
               "ops_per_s": throughput(work, c["start_us"], c["end_us"]),
               # The period this cycle opens, until the next forced one: the
               # work the program got done, however long the cycle took.
               "period_ops_per_s": throughput(work, c["start_us"],
                                              c["start_us"] + int(a.gc_every * 1e6) - 100_000)}
        if row["ops_per_s"] is None or row["period_ops_per_s"] is None:
            continue
        if i < attached_from:
            classes["detached"].append(row)
        else:
            classes["check" if ran else "attached"].append(row)
    # Throughput between cycles: what the worker does with no GC running.
    gaps = [(cycles[i]["end_us"], cycles[i + 1]["start_us"]) for i in range(len(cycles) - 1)]
    idle = [throughput(work, s + 100_000, e - 100_000) for s, e in gaps if e - s > 400_000]
    idle = [x for x in idle if x]

    out = {"bench": "leak_check_cost", "heap_mb": a.heap_mb, "goroutines": a.goroutines,
           "procs": a.procs, "load": os.getloadavg()[0], "leak_check": lc,
           **{k: summary(v) for k, v in classes.items()},
           "ops_per_s_between_cycles": round(statistics.median(idle), 1) if idle else None}
    print(f"target: {a.heap_mb} MiB live heap, {a.goroutines} goroutines, GOMAXPROCS={a.procs}, "
          f"a forced GC every {a.gc_every:g} s; load {out['load']:.1f}")
    print(f"leakhound's view: {json.dumps(lc)}")
    hdr = (f"{'cycles':<34}{'n':>3}{'pause ms':>10}{'STW1 ms':>9}{'mark ms':>9}{'cycle ms':>10}"
           f"{'ops/s in cycle':>16}{'ops/s in period':>17}")
    print(hdr)
    names = {"detached": "ordinary, no leakhound", "attached": "ordinary, daemon attached",
             "check": "running the leak check"}
    for k, label in names.items():
        s = out[k]
        if s:
            print(f"{label:<34}{s['cycles']:>3}{s['pause_ms']:>10.2f}{s['stw_sweep_term_ms']:>9.2f}"
                  f"{s['mark_ms']:>9.0f}{s['cycle_ms']:>10.0f}{s['ops_per_s']:>16,.0f}"
                  f"{s['period_ops_per_s']:>17,.0f}")
    if out["ops_per_s_between_cycles"]:
        print(f"{'between cycles (no GC running)':<34}{'':>3}{'':>10}{'':>9}{'':>9}{'':>10}"
              f"{out['ops_per_s_between_cycles']:>16,.0f}")
    a_, c_ = out["attached"], out["check"]
    if a_ and c_:
        out["ratios"] = {
            "throughput_over_cycle": round(c_["ops_per_s"] / a_["ops_per_s"], 3),
            "throughput_over_period": round(c_["period_ops_per_s"] / a_["period_ops_per_s"], 3),
            "pause": round(c_["pause_ms"] / a_["pause_ms"], 2) if a_["pause_ms"] else None,
            "cycle_time": round(c_["cycle_ms"] / a_["cycle_ms"], 3),
        }
        r = out["ratios"]
        print(f"check / ordinary cycle (daemon attached): throughput over the cycle "
              f"{r['throughput_over_cycle']:.3f}, over its period {r['throughput_over_period']:.3f}, "
              f"pause x{r['pause']}, cycle time x{r['cycle_time']:.3f}")
    print(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    main()
