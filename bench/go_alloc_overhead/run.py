#!/usr/bin/env python3
"""Go allocation overhead of leakhound attach, measured side by side in one run.

One allocation-heavy Go process (GOMAXPROCS=1, heap sampler linker-disabled, so
attach also switches the sampler on) runs throughout. Phases rotate: without
leakhound, with `leakhound attach` (default mode), with `--sample-rate=524288`
(the runtime's own default rate throughout, instead of the sample budget's
rate chosen from the measured allocation rate), and with
`--heap-events` (a uprobe hit per heap sample), several times. Each ratio is the
median throughput of its attached phases over the median of the detached ones;
interleaving cancels drift of the machine over the run.

Usage (root): bench/go_alloc_overhead/run.py [--rounds 5] [--phase 6] [--work N]"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LEAKHOUND = os.path.join(ROOT, "build", "leakhound")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--phase", type=float, default=6.0, help="seconds per phase")
    ap.add_argument("--work", type=int, default=0,
                    help="hashing rounds per allocation (0: allocation only, ~4 GB/s)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the bench attaches BPF probes")
    binary = os.path.join(ROOT, "build", "bench-alloc")
    subprocess.run(["go", "build", "-o", binary, "."], cwd=HERE, check=True,
                   env={**os.environ, "CGO_ENABLED": "0"})
    env = {**os.environ, "GOMAXPROCS": "1"}
    proc = subprocess.Popen([binary, "-interval", "250ms", "-work", str(a.work)],
                            stdout=subprocess.PIPE, text=True, env=env)
    samples = []  # (monotonic time, allocs per second)
    last = [time.monotonic()]

    def reader():
        for line in proc.stdout:
            now = time.monotonic()
            n = int(line.split("allocs=")[1].split()[0])
            samples.append((now, n / (now - last[0])))
            last[0] = now

    threading.Thread(target=reader, daemon=True).start()
    time.sleep(2)  # warm up
    modes = {"default": [], "--sample-rate=524288": [], "--heap-events": []}
    phases = {"off": [], **modes}
    events = {m: [] for m in modes}  # uprobe hits per second, per attach
    chosen = []  # the sample budget's rates and measured allocation rate, per attach
    try:
        for _ in range(a.rounds):
            for mode in modes:
                t0 = time.monotonic()
                time.sleep(a.phase)
                phases["off"].append((t0 + 0.5, time.monotonic() - 0.25))
                t0 = time.monotonic()
                extra = [] if mode == "default" else [mode]
                lh = subprocess.Popen([LEAKHOUND, "attach", str(proc.pid), "--duration",
                                       f"{a.phase + 1}s", "--json", *extra],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      text=True)
                # Measure only while the probes are attached: from 1 s after
                # start until shortly before the window ends.
                time.sleep(a.phase)
                phases[mode].append((t0 + 1.0, time.monotonic() - 0.25))
                out, _ = lh.communicate()
                if lh.returncode != 0:
                    sys.exit("leakhound attach failed")
                rep = json.loads(out)
                hits = rep["sampled_allocs"] + rep["sampled_frees"] if rep["heap_events"] else 0
                events[mode].append((hits + rep["gc_cycles"]) / rep["window"]["duration_s"])
                if "budget" in rep["sampler"]:
                    b = rep["sampler"]["budget"]
                    chosen.append(([r["rate"] for r in b["rates"]], b["alloc_bytes_per_s"],
                                   b["cost_cpu_fraction"]))
    finally:
        proc.kill()

    def rates(spans):
        return [r for t, r in samples if any(s <= t <= e for s, e in spans)]

    off = rates(phases["off"])
    m_off = statistics.median(off)
    print(f"allocations/s without leakhound:            {m_off:,.0f} (median of {len(off)}; "
          f"~{m_off * 1825 / 1e6:,.0f} MB/s)")
    for mode in modes:
        on = rates(phases[mode])
        m_on = statistics.median(on)
        label = f"with leakhound attach {mode}:"
        print(f"allocations/s {label:<30} {m_on:,.0f} (median of {len(on)})")
        ratio = m_on / m_off
        hits = statistics.median(events[mode])
        # One thread allocates (GOMAXPROCS=1): the share of a second it lost,
        # over the probe hits in that second, bounds the cost of one hit.
        if hits and ratio < 1:
            cost = f"<= {(1 - ratio) / hits * 1e6:.1f} us of target time per hit"
        else:
            cost = "no cost above noise"
        print(f"ratio attached/detached ({mode}): {ratio:.3f}  [{hits:,.0f} uprobe hits/s; {cost}]")
        if mode == "default" and chosen:
            set_rates, alloc, est = chosen[len(chosen) // 2]
            print(f"  sample budget: rates {' -> '.join(str(r) for r in set_rates)} at "
                  f"{alloc / 1e6:,.0f} MB/s measured; estimated sampling cost {est:.2%} of a core")


if __name__ == "__main__":
    main()
