#!/usr/bin/env python3
"""Go allocation overhead of leakhound attach, measured side by side in one run.

Allocation-heavy Go processes (GOMAXPROCS=1, heap sampler linker-disabled, so
attach also switches the sampler on), one per workload, run throughout; the
ones not being measured are paused (SIGSTOP), so one runs at a time. For each
workload in turn, phases rotate: without leakhound, with `leakhound attach`
(default mode: the sample budget's rate, chosen from the measured allocation
rate), with `--sample-rate=524288` (the runtime's own default rate
throughout), and with `--heap-events` (a uprobe hit per heap sample), several
rounds. Each ratio is the median throughput of its attached phases over the
median of the same workload's detached ones; interleaving the phases and the
workloads cancels drift of the machine over the run.

A workload is `WORK` (hashing rounds per allocation: 0 is allocation only, 5
~4 GB/s on the CI machine, 100 ~300 MB/s, 3000 ~10 MB/s) or `WORK+leak` (also
keeps 512 B of every 50th allocation for good in main.leakOne: a leak inside
the churn, under the budget's fine rate; after the rounds, one 30 s attach
judges it, and the bench prints its verdict and growth as leakhound estimates
it against what the program kept).

Usage (root): bench/go_alloc_overhead/run.py [--rounds 4] [--phase 8]
                  [--work 5,100,3000+leak] [--leak-window 30]"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LEAKHOUND = os.path.join(ROOT, "build", "leakhound")
MODES = ("default", "--sample-rate=524288", "--heap-events")
AVG_SIZE = 1825  # main.go's mean allocation, for MB/s
LEAK_EVERY = 50


class Workload:
    def __init__(self, binary, spec):
        self.spec = spec
        work, _, leak = spec.partition("+")
        if leak not in ("", "leak"):
            sys.exit(f"bad workload {spec!r}: WORK or WORK+leak")
        args = [binary, "-interval", "250ms", "-work", work]
        if leak:
            args += ["-leak", str(LEAK_EVERY)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "GOMAXPROCS": "1"})
        self.samples = []  # (monotonic time, allocs per second)
        self.phases = {"off": [], **{m: [] for m in MODES}}
        self.events = {m: [] for m in MODES}  # uprobe hits per second, per attach
        self.chosen = []  # the budget's rates, measured rate and cost estimate
        self.leak = None  # +leak: (verdict, growth, kept B/s, leak floor, window s)
        self.last = time.monotonic()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in self.proc.stdout:
            now = time.monotonic()
            n = int(line.split("allocs=")[1].split()[0])
            self.samples.append((now, n / (now - self.last)))
            self.last = now

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.last = time.monotonic()
        self.proc.send_signal(signal.SIGCONT)

    def rates(self, spans):
        return [r for t, r in self.samples if any(s <= t <= e for s, e in spans)]


def measure(w, mode, phase):
    t0 = time.monotonic()
    time.sleep(phase)
    w.phases["off"].append((t0 + 0.5, time.monotonic() - 0.25))
    t0 = time.monotonic()
    extra = [] if mode == "default" else [mode]
    lh = subprocess.Popen([LEAKHOUND, "attach", str(w.proc.pid), "--duration", f"{phase + 1}s",
                           "--json", *extra],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    # Measure only while the probes are attached: from 1 s after start until
    # shortly before the window ends.
    time.sleep(phase)
    w.phases[mode].append((t0 + 1.0, time.monotonic() - 0.25))
    out, _ = lh.communicate()
    if lh.returncode != 0:
        sys.exit("leakhound attach failed")
    rep = json.loads(out)
    hits = rep["sampled_allocs"] + rep["sampled_frees"] if rep["heap_events"] else 0
    w.events[mode].append((hits + rep["gc_cycles"]) / rep["window"]["duration_s"])
    if mode == "default" and "budget" in rep["sampler"]:
        b = rep["sampler"]["budget"]
        w.chosen.append(([r["rate"] for r in b["rates"]], b["alloc_bytes_per_s"],
                         b["cost_cpu_fraction"]))


def judge_leak(w, window):
    """One default-mode attach of `window` s: the leak's verdict and growth,
    against what the program kept over the same seconds."""
    t0 = time.monotonic()
    out = subprocess.run([LEAKHOUND, "attach", str(w.proc.pid), "--duration", f"{window}s",
                          "--json"], check=True, capture_output=True, text=True).stdout
    kept = statistics.mean(w.rates([(t0 + 0.5, time.monotonic())])) / LEAK_EVERY * 512
    rep = json.loads(out)
    leak = [h for h in rep["heap"] if any(f["function"] == "main.leakOne" for f in h["stack"])]
    w.leak = (leak[0]["verdict"] if leak else "not found",
              leak[0]["growth_bytes_per_s"] if leak else 0, kept,
              rep["heap_verdicts"].get("leak_floor_bytes_per_s", 0), window)


def report(w):
    off = w.rates(w.phases["off"])
    m_off = statistics.median(off)
    print(f"\nworkload --work {w.spec}: allocations/s without leakhound {m_off:,.0f} "
          f"(median of {len(off)}; ~{m_off * AVG_SIZE / 1e6:,.0f} MB/s)")
    for mode in MODES:
        on = w.rates(w.phases[mode])
        m_on = statistics.median(on)
        ratio = m_on / m_off
        hits = statistics.median(w.events[mode])
        # One thread allocates (GOMAXPROCS=1): the share of a second it lost,
        # over the probe hits in that second, bounds the cost of one hit.
        if hits and ratio < 1:
            cost = f"<= {(1 - ratio) / hits * 1e6:.1f} us of target time per hit"
        else:
            cost = "no cost above noise"
        print(f"  ratio attached/detached ({mode}): {ratio:.3f}  (median of {len(on)}; "
              f"{hits:,.0f} uprobe hits/s; {cost})")
        if mode == "default" and w.chosen:
            set_rates, alloc, est = w.chosen[len(w.chosen) // 2]
            print(f"    sample budget: rates {' -> '.join(str(r) for r in set_rates)} at "
                  f"{alloc / 1e6:,.0f} MB/s measured; estimated sampling cost {est:.2%} of a core")
    if w.leak:
        verdict, growth, kept, floor, window = w.leak
        print(f"  the leak (main.leakOne) in one {window:.0f} s default window: {verdict}, "
              f"{growth / 1024:,.1f} KiB/s against {kept / 1024:,.1f} KiB/s kept by the program; "
              f"the window's leak floor {floor / 1024:,.1f} KiB/s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--phase", type=float, default=8.0,
                    help="seconds per phase (each attach calibrates at 512 KiB for its first second or more)")
    ap.add_argument("--work", default="5,100,3000+leak",
                    help="workloads, comma-separated: WORK or WORK+leak (see above)")
    ap.add_argument("--leak-window", type=float, default=30,
                    help="+leak workloads: one default attach this long, after the rounds")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the bench attaches BPF probes")
    binary = os.path.join(ROOT, "build", "bench-alloc")
    subprocess.run(["go", "build", "-o", binary, "."], cwd=HERE, check=True,
                   env={**os.environ, "CGO_ENABLED": "0"})
    loads = [Workload(binary, spec) for spec in a.work.split(",")]
    try:
        for w in loads:
            w.pause()
        for _ in range(a.rounds):
            for w in loads:
                w.resume()
                time.sleep(1)  # back up to speed (and out of a GC backlog)
                for mode in MODES:
                    measure(w, mode, a.phase)
                w.pause()
        for w in loads:
            if w.spec.endswith("+leak"):
                w.resume()
                judge_leak(w, a.leak_window)
                w.pause()
    finally:
        for w in loads:
            w.proc.kill()
    for w in loads:
        report(w)


if __name__ == "__main__":
    main()
