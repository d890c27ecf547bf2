#!/usr/bin/env python3
"""Cost of native (C allocator) tracking per event: leakhound's probes against
a bpftrace script with the same probes, side by side in one run.

Workload: tests/targets/c/mallocloop (scripts/build-targets.sh), a tight
malloc(64)+free loop in one thread; it prints nanoseconds per iteration.
Phases rotate over several rounds:

  none       no probes
  leakhound  `leakhound attach PID` (native tracking: malloc entry + return,
             free entry, with stacks and the outstanding table)
  bpftrace   the same three probes in bpftrace: the size per thread at entry;
             at return the block into a map with its user stack; free deletes it

Per-event cost = (ns per iteration with probes - without) / 3 probe hits per
iteration. Prints the medians, the ratio leakhound / bpftrace (goal <= 1.0),
the event rate leakhound sustained with the number of events it lost, then
one JSON summary line.

Usage (root): sudo bench/native_overhead/run.py [--rounds 3] [--iterations 1000000]"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LEAKHOUND = os.path.join(ROOT, "build", "leakhound")
LOOP = os.path.join(ROOT, "build", "targets", "mallocloop")
HITS = 3  # malloc entry, malloc return, free entry

BPFTRACE = """
uprobe:{libc}:malloc {{ @size[tid] = arg0; }}
uretprobe:{libc}:malloc /@size[tid]/ {{ @mem[retval] = (@size[tid], ustack); delete(@size[tid]); }}
uprobe:{libc}:free {{ delete(@mem[arg0]); }}
"""


class Lines:
    """Collects a stream's lines with arrival times."""

    def __init__(self, stream):
        self.lines = []
        self.t = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.t.start()

    def _read(self, stream):
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern, timeout=60):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for l in list(self.lines):
                if rx.search(l):
                    return l
            time.sleep(0.02)
        raise RuntimeError(f"never saw /{pattern}/: {self.lines[-5:]}")


def libc_of(pid):
    for line in open(f"/proc/{pid}/maps"):
        path = line.split()[-1]
        if re.search(r"/libc[.-][^/]*so", path):
            return path
    raise RuntimeError("mallocloop maps no libc")


def loop(n, wait):
    argv = [LOOP, "-n", str(n)] + (["-wait"] if wait else [])
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    return p, Lines(p.stdout)


def ns_per_iter(lines):
    l = lines.wait_for(r"ns_per_iter=", timeout=600)
    return float(re.search(r"ns_per_iter=([\d.]+)", l).group(1))


def phase_none(n):
    p, out = loop(n, False)
    v = ns_per_iter(out)
    p.wait()
    return v, {}


def phase_leakhound(n):
    p, out = loop(n, True)
    out.wait_for(r"^ready")
    lh = subprocess.Popen([LEAKHOUND, "-v", "attach", str(p.pid), "--duration", "10m", "--json",
                           "--no-goroutines", "--native"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    err = Lines(lh.stderr)
    rep_text = []
    threading.Thread(target=lambda: rep_text.append(lh.stdout.read()), daemon=True).start()
    err.wait_for(r"native: tracking")
    os.kill(p.pid, signal.SIGUSR1)
    v = ns_per_iter(out)
    lh.send_signal(signal.SIGINT)
    lh.wait(timeout=60)
    p.wait()
    time.sleep(0.2)
    rep = json.loads(rep_text[0]) if rep_text and rep_text[0] else {}
    s = rep.get("native_stats", {})
    return v, {"calls": s.get("calls", 0), "dropped": rep.get("dropped_events", -1),
               "cost_ns_per_call": s.get("cost_ns_per_call")}


def phase_bpftrace(n):
    p, out = loop(n, True)
    out.wait_for(r"^ready")
    with tempfile.NamedTemporaryFile("w", suffix=".bt", delete=False) as f:
        f.write(BPFTRACE.format(libc=libc_of(p.pid)))
        script = f.name
    bt = subprocess.Popen(["bpftrace", "-p", str(p.pid), script], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, "BPFTRACE_MAX_MAP_KEYS": "1000000"})
    btout = Lines(bt.stdout)
    btout.wait_for(r"Attaching \d+ probes")
    time.sleep(0.5)  # bpftrace attaches after printing the line
    os.kill(p.pid, signal.SIGUSR1)
    v = ns_per_iter(out)
    bt.send_signal(signal.SIGINT)
    try:
        bt.wait(timeout=60)
    except subprocess.TimeoutExpired:
        bt.kill()
    p.wait()
    os.unlink(script)
    return v, {}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=1000000)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (uprobes)")
    for path in (LEAKHOUND, LOOP):
        if not os.access(path, os.X_OK):
            sys.exit(f"missing {path}: build leakhound and scripts/build-targets.sh first")
    results = {"none": [], "leakhound": [], "bpftrace": []}
    extra = []
    phases = [("none", phase_none), ("leakhound", phase_leakhound), ("bpftrace", phase_bpftrace)]
    for r in range(a.rounds):
        for name, fn in phases:
            v, info = fn(a.iterations)
            results[name].append(v)
            if info:
                extra.append(info)
            print(f"round {r + 1} {name:<9} {v:8.1f} ns/iteration {info if info else ''}",
                  flush=True)
    med = {k: statistics.median(v) for k, v in results.items()}
    cost = {k: (med[k] - med["none"]) / HITS for k in ("leakhound", "bpftrace")}
    ratio = cost["leakhound"] / cost["bpftrace"] if cost["bpftrace"] > 0 else float("nan")
    rate = 1e9 * HITS / med["leakhound"]
    dropped = max(e["dropped"] for e in extra) if extra else -1
    print(f"\nmalloc+free without probes: {med['none']:.1f} ns")
    print(f"per probe hit: leakhound {cost['leakhound']:.0f} ns, bpftrace {cost['bpftrace']:.0f} ns"
          f" -> ratio {ratio:.2f} (goal <= 1.0)")
    print(f"leakhound sustained {rate:,.0f} events/s in one thread, dropped {dropped}")
    print(json.dumps({"bench": "native_overhead", "ns_per_iter": med,
                      "cost_ns_per_hit": cost, "ratio": ratio, "events_per_s": rate,
                      "dropped": dropped, "rounds": a.rounds, "iterations": a.iterations,
                      "leakhound_phases": extra}))


if __name__ == "__main__":
    main()
