#!/usr/bin/env python3
"""Goroutine-churn overhead of leakhound attach, measured side by side in one run.

Two workloads (bench/goroutine_overhead/main.go, every process GOMAXPROCS=1):

  http   a Go HTTP server whose handler encodes a small JSON document, loaded
         by a separate Go client process over 16 keep-alive connections;
         leakhound attaches to the server. net/http starts and ends a
         background-read goroutine per request, so goroutines churn at the
         request rate (~20,000/s here). Throughput: requests/s.
  spawn  one process starting goroutines that do nothing and exit, in
         WaitGroup batches (millions per second). Throughput: goroutines/s.

Each workload runs throughout its part of the bench. Phases rotate: without
leakhound, with `leakhound attach` (default mode), and with
`--goroutine-events` (uprobes on goroutine creation and exit), each attached
phase preceded by a detached one, over several rounds. Each ratio is the median
throughput of its attached phases over the median of the detached ones;
interleaving cancels drift of the machine over the run. An attach that exits
non-zero (e.g. a flag this leakhound build lacks) is recorded as a failure and
its phase left out; the bench carries on.

Prints, per workload, the medians and ratios, then one JSON summary line.

Usage (root): sudo bench/goroutine_overhead/run.py [--rounds 5] [--phase 6] [--workload http|spawn|both]"""
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
BINARY = os.path.join(ROOT, "build", "bench-goroutine")
MODES = ["default", "--read-only", "--goroutine-events"]
# workload -> (unit, what one unit of throughput is, field in the status lines)
UNITS = {"http": ("requests/s", "request", "reqs"),
         "spawn": ("goroutines/s", "goroutine", "spawned")}


class Workload:
    """The processes of one workload; samples are (monotonic time, rate)."""

    def __init__(self, name, conns):
        self.name = name
        self.procs = []
        self.samples = []
        env = {**os.environ, "GOMAXPROCS": "1"}
        if name == "http":
            srv = self._start([BINARY, "-server"], env)
            line = srv.stdout.readline()
            if not line.startswith("listening "):
                self.stop()
                sys.exit(f"bench server did not start: {line!r}")
            url = line.split()[1]
            self.target = srv.pid
            meter = self._start([BINARY, "-client", url, "-conns", str(conns),
                                 "-interval", "250ms"], env)
        else:
            meter = self._start([BINARY, "-spawn", "-interval", "250ms"], env)
            self.target = meter.pid
        field = UNITS[name][2] + "="
        threading.Thread(target=self._read, args=(meter, field), daemon=True).start()

    def _start(self, argv, env):
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
        self.procs.append(p)
        return p

    def _read(self, proc, field):
        last_t = None
        for line in proc.stdout:
            now = time.monotonic()
            try:
                t = float(line.split("t=")[1].split()[0])
                n = int(line.split(field)[1].split()[0])
            except (IndexError, ValueError):
                continue
            if last_t is not None and t > last_t:
                # The process's own clock for the rate, ours for the phase.
                self.samples.append((now, n / (t - last_t)))
            last_t = t

    def rates(self, spans):
        return [r for t, r in self.samples if any(s <= t <= e for s, e in spans)]

    def stop(self):
        for p in reversed(self.procs):  # the client before its server
            p.kill()
            p.wait()


def attach(pid, phase, mode):
    """Starts leakhound attach; returns the Popen."""
    extra = [] if mode == "default" else [mode]
    return subprocess.Popen([LEAKHOUND, "attach", "--duration", f"{phase:g}s", "--json",
                             str(pid), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def why(stderr):
    """The line of leakhound's stderr that says why it failed."""
    lines = [l.strip() for l in stderr.splitlines() if l.strip()]
    for l in lines:
        if not l.startswith(("leakhound: warning", "leakhound: info", "leakhound: debug")):
            return l
    return lines[-1] if lines else "(no message)"


def run_workload(name, a):
    global MODES
    MODES = a.modes.split(",")
    unit, op, _ = UNITS[name]
    w = Workload(name, a.conns)
    phases = {"off": [], **{m: [] for m in MODES}}
    failures = {m: [] for m in MODES}
    try:
        time.sleep(2)  # warm up
        for _ in range(a.rounds):
            for mode in MODES:
                t0 = time.monotonic()
                time.sleep(a.phase)
                phases["off"].append((t0 + 0.5, time.monotonic() - 0.25))
                t0 = time.monotonic()
                lh = attach(w.target, a.phase, mode)
                # Measure only while the probes are attached: from 1 s after
                # start (attach takes ~0.2 s) until shortly before the window ends.
                time.sleep(a.phase)
                span = (t0 + 1.0, time.monotonic() - 0.25)
                _, err = lh.communicate()
                if lh.returncode != 0:
                    failures[mode].append(f"exit {lh.returncode}: {why(err)}")
                else:
                    phases[mode].append(span)
    finally:
        w.stop()

    off = w.rates(phases["off"])
    result = {"unit": unit, "rounds": a.rounds, "phase_s": a.phase}
    print(f"== workload {name} (leakhound attached to pid {w.target})")
    if not off:
        print("no samples without leakhound: phases too short?")
        result["off"] = None
        return result
    m_off = statistics.median(off)
    result["off"] = {"median": round(m_off, 1), "samples": len(off)}
    width = len(f"{unit} with leakhound attach {max(MODES, key=len)}:")
    print(f"{unit + ' without leakhound:':<{width}} {m_off:,.0f} (median of {len(off)})")
    for mode in MODES:
        on = w.rates(phases[mode])
        label = f"{unit} with leakhound attach {mode}:"
        nfail = len(failures[mode])
        entry = {"median": None, "samples": len(on), "ratio": None, "added_us_per_op": None,
                 "attaches": a.rounds, "failures": nfail,
                 "errors": sorted(set(failures[mode]))}
        result[mode] = entry
        if nfail:
            print(f"{label:<{width}} FAILED {nfail}/{a.rounds} attaches: "
                  + "; ".join(sorted(set(failures[mode]))))
        if not on:
            if not nfail:
                print(f"{label:<{width}} no samples: phases too short?")
            continue
        m_on = statistics.median(on)
        ratio = m_on / m_off
        # One P does the work (GOMAXPROCS=1): the time added per unit of work.
        added = (1 / m_on - 1 / m_off) * 1e6
        entry.update(median=round(m_on, 1), ratio=round(ratio, 4), added_us_per_op=round(added, 3))
        print(f"{label:<{width}} {m_on:,.0f} (median of {len(on)})")
        print(f"ratio attached/detached ({mode}): {ratio:.3f}  [{added:+.2f} us per {op}]")
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--phase", type=float, default=6.0, help="seconds per phase (>= 2)")
    ap.add_argument("--workload", choices=["http", "spawn", "both"], default="both")
    ap.add_argument("--modes", default=",".join(MODES),
                    help="attach modes, comma-separated: default or extra leakhound flags "
                         "(e.g. --modes=default,--no-goroutines)")
    ap.add_argument("--conns", type=int, default=16, help="http: keep-alive connections")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the bench attaches BPF probes")
    if a.phase < 2:
        sys.exit("--phase must be at least 2 (the first second of an attach is not measured)")
    subprocess.run(["go", "build", "-o", BINARY, "."], cwd=HERE, check=True,
                   env={**os.environ, "CGO_ENABLED": "0"})
    names = ["http", "spawn"] if a.workload == "both" else [a.workload]
    summary = {"bench": "goroutine_overhead", "workloads": {}}
    for i, name in enumerate(names):
        if i:
            print()
        summary["workloads"][name] = run_workload(name, a)
    print(json.dumps(summary, separators=(",", ":")))


if __name__ == "__main__":
    main()
