#!/usr/bin/env python3
"""The retention walk's cost (`leakhound attach --retainers`): its time and the
bytes it reads from the target, and the target's throughput while it runs
against the windows just before it, in one run.

The target (main.go, built with the Go toolchain on PATH) holds --heap-mb of
pointer-rich live heap (128 B nodes with two pointers, 1 KiB blobs with 16)
and leaks --leak-kb KiB/s of 1 KiB objects into a growing list of chunks that
the walk reaches only after the live heap (it goes breadth first). One worker
goroutine that never allocates prints its throughput every 20 ms.

Phases, one target:
  detached  --quiet s with no leakhound and no forced GC;
  attached  `leakhound -v attach PID --duration D --json --retainers` with
            the target forcing a GC every --gc-every (the heap profile's
            clock: the leak's verdict needs points), until --quiet s before
            the window's end (timed from the log's "the window begins");
            then no GC, leakhound polling;
  walk      at the window's end: the span read, the walk, the re-reads
            (report.retention_walk.walked_unix_us);
  after     --quiet s once leakhound has exited.
The ratio is the worker's throughput during the walk over the attached,
GC-free window just before it (and over the detached window). The target and
leakhound each run in a session of their own, as two services would: with
the kernel's autogroup scheduling, processes of one session share one CPU
share, and the walk's CPU time would come out of the target's.

Each --cpu share is one attach of its own against the same target, one
after the other (--retainers-cpu: the walk pauses between batches to keep
its CPU time within that share of one core). --hogs N runs N CPU-bound
processes throughout, each in a session of its own: a busy node, where the
walk's CPU competes with the target's.

Usage (root): sudo bench/retention_walk/run.py [--heap-mb 100] [--duration 20]
              [--gc-every 1] [--quiet 4] [--sample-rate 65536] [--procs 2]
              [--cpu 1,0.5] [--hogs 0]"""
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
LEAKHOUND = os.environ.get("LEAKHOUND", os.path.join(ROOT, "build", "leakhound"))
BINARY = os.path.join(ROOT, "build", "bench-retention-walk")

sys.path.insert(0, os.path.dirname(HERE))
from benchlib import LineTarget, throughput  # noqa: E402


class Target(LineTarget):
    def __init__(self, a):
        self.cycles = []  # (start_us, end_us) of forced GC cycles
        self.sched = []  # (unix_us, CPU ns run, ns waited for a CPU), all threads
        super().__init__([BINARY, "-heap-mb", str(a.heap_mb), "-leak-kb", str(a.leak_kb),
                          "-gc-every", f"{a.gc_every:g}s"],
                         env={**os.environ, "GOMAXPROCS": str(a.procs)}, new_session=True)
        threading.Thread(target=self._schedstat, daemon=True).start()

    def _schedstat(self):
        """Every 20 ms, the target's threads' time on a CPU and time runnable
        but waiting for one (/proc/PID/task/*/schedstat): the throughput's two
        factors, its work per CPU second (what the walk's reads could disturb:
        caches, the page-table lock) and the CPU it got (what the walk's own
        CPU takes on a busy host)."""
        task = f"/proc/{self.p.pid}/task"
        while self.p.poll() is None:
            run = wait = 0
            try:
                for tid in os.listdir(task):
                    with open(f"{task}/{tid}/schedstat") as f:
                        r, w, _ = f.read().split()
                    run += int(r)
                    wait += int(w)
            except OSError:
                pass  # a thread gone mid-scan: next time
            else:
                with self.lock:
                    self.sched.append((int(time.time() * 1e6), run, wait))
            time.sleep(0.02)

    def on_line(self, kind, kv):
        if kind == "cycle":
            self.cycles.append((int(kv["start_us"]), int(kv["end_us"])))


def sched_between(sched, start, end):
    """(CPU s run, s waited) by the target's threads between two instants,
    from the first sample at or after start to the last at or before end,
    and that span in s."""
    inside = [s for s in sched if start <= s[0] <= end]
    if len(inside) < 2:
        return None
    (t0, r0, w0), (t1, r1, w1) = inside[0], inside[-1]
    return (r1 - r0) / 1e9, (w1 - w0) / 1e9, (t1 - t0) / 1e6


def tick_rates(work, start, end):
    """The worker's rate in each 20 ms tick that lies wholly inside [start, end]."""
    out, prev = [], None
    for t, n in work:
        if prev is not None and prev >= start and t <= end and t > prev:
            out.append(n / ((t - prev) / 1e6))
        prev = t
    return out


def one_walk(t, a, share):
    """One attach with --retainers at --retainers-cpu `share`: the walk's
    figures and the worker's throughput around it."""
    t.p.send_signal(signal.SIGUSR1)  # forced GCs on
    attach_us = int(time.time() * 1e6)
    lh = subprocess.Popen(
        [LEAKHOUND, "-v", "attach", str(t.p.pid), "--duration", f"{a.duration:g}s", "--json",
         "--retainers", "--sample-rate", str(a.sample_rate), "--retainers-max-bytes", "64GiB",
         "--retainers-max-time", f"{a.max_seconds:g}s", "--retainers-cpu", f"{share:g}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        # Threads read the report and the log (-v: "the window begins", after
        # the setup, which takes seconds on a busy machine).
        result = {"err": []}
        begins = threading.Event()

        def log():
            for line in lh.stderr:
                result["err"].append(line)
                if "the window begins" in line:
                    begins.set()

        readers = [threading.Thread(target=lambda: result.update(out=lh.stdout.read())),
                   threading.Thread(target=log)]
        for r in readers:
            r.start()
        while not begins.wait(0.2):
            if lh.poll() is not None:
                break
        time.sleep(a.duration - a.quiet)
        t.p.send_signal(signal.SIGUSR2)  # forced GCs off
        for r in readers:
            r.join()
        lh.wait()
        exit_us = int(time.time() * 1e6)
        if lh.returncode != 0:
            sys.exit(f"leakhound attach exited {lh.returncode}: {''.join(result['err'])[-800:]}")
        time.sleep(a.quiet)
    finally:
        if lh.poll() is None:
            lh.kill()
            lh.wait()

    rep = json.loads(result["out"])
    with open(f"{BINARY}-report-{share:g}.json", "w") as f:
        f.write(result["out"])  # for a look at what leakhound saw
    w = rep.get("retention_walk") or {}
    with t.lock:
        n_gc = sum(1 for s, _ in t.cycles if s > attach_us)
    if not w.get("ran"):
        sys.exit(f"the retention walk did not run: {json.dumps(w)}; {n_gc} forced GCs while "
                 f"attached; findings: "
                 f"{[(f['verdict'], f['stack'][0]['function']) for f in rep.get('heap', [])][:5]}")
    with t.lock:
        work, cycles, sched = list(t.work), list(t.cycles), list(t.sched)
    w_from, w_to = w["walked_unix_us"]["from"], w["walked_unix_us"]["to"]
    last_gc = max((e for s, e in cycles if s < w_from), default=attach_us)
    q = int(a.quiet * 1e6)
    windows = {
        "detached": (t.ready_us + 500_000, t.ready_us + q),
        "before": (max(last_gc + 100_000, w_from - q), w_from),
        "walk": (w_from, w_to),
        "after": (exit_us + 100_000, exit_us + q),
    }
    gc_in_walk = sum(1 for s, e in cycles if s < w_to and e > w_from)
    rates = {k: throughput(work, s, e) for k, (s, e) in windows.items()}
    cpu = {k: sched_between(sched, s, e) for k, (s, e) in windows.items()}
    ticks = tick_rates(work, w_from, w_to)
    reached = [(f["retention"]["reached"], f["retention"]["sampled_objects"],
                f["retention"]["paths"][0]["root"] if f["retention"]["paths"] else None)
               for f in rep.get("heap", []) if f.get("retention")]

    out = {"cpu_share": share, "load": round(os.getloadavg()[0], 1),
           "walk": {k: w.get(k) for k in ("seconds", "cpu_seconds", "paused_seconds",
                                          "heap_bytes", "scanned_bytes", "bytes_read", "objects",
                                          "no_layout", "complete", "stopped", "second_pass")},
           "walk_wall_s": round((w_to - w_from) / 1e6, 3), "gc_cycles_in_walk": gc_in_walk,
           "retention": reached,
           "windows_s": {k: round((e - s) / 1e6, 2) for k, (s, e) in windows.items()},
           "ops_per_s": {k: round(v, 1) if v else None for k, v in rates.items()},
           # The target's CPU per wall second and its wait for a CPU per wall second.
           "target_cpu_per_s": {k: round(c[0] / c[2], 3) if c else None for k, c in cpu.items()},
           "target_wait_per_s": {k: round(c[1] / c[2], 3) if c else None
                                 for k, c in cpu.items()}}
    # Work per CPU second: ops/s over CPU/s (the worker is nearly all of the
    # target's CPU).
    per_cpu = {k: rates[k] / out["target_cpu_per_s"][k]
               for k in windows if rates[k] and out["target_cpu_per_s"][k]}
    if "walk" in per_cpu and "before" in per_cpu:
        out["work_per_cpu_walk_over_before"] = round(per_cpu["walk"] / per_cpu["before"], 3)
    if rates["walk"] and rates["before"]:
        out["ratio_walk_over_before"] = round(rates["walk"] / rates["before"], 3)
    if rates["walk"] and rates["detached"]:
        out["ratio_walk_over_detached"] = round(rates["walk"] / rates["detached"], 3)
    if ticks and rates["before"]:
        out["walk_ticks"] = len(ticks)
        out["worst_tick_over_before"] = round(min(ticks) / rates["before"], 3)
        out["median_tick_over_before"] = round(statistics.median(ticks) / rates["before"], 3)

    mib = lambda b: f"{b / 2**20:,.0f} MiB"
    print(f"--retainers-cpu {share:g}; load {out['load']}")
    print(f"walk: {w['seconds']:.2f} s ({out['walk_wall_s']:.2f} s with the span read and the "
          f"re-reads; {w.get('cpu_seconds', 0):.2f} s of CPU, {w.get('paused_seconds', 0):.2f} s "
          f"paused), {mib(w['heap_bytes'])} heap, {mib(w['scanned_bytes'])} scanned, "
          f"{mib(w['bytes_read'])} read, {w['objects']:,} objects, complete={w['complete']}"
          f"{', stopped: ' + w['stopped'] if w.get('stopped') else ''}; GC cycles during it: "
          f"{gc_in_walk}")
    for r, n, root in reached:
        print(f"leak: {r} of {n} sampled objects reached, through {root}")
    for k in windows:
        v, c, wt = rates[k], out["target_cpu_per_s"][k], out["target_wait_per_s"][k]
        print(f"  {k:<9}{out['windows_s'][k]:>7.2f} s  "
              f"{(f'{v:,.0f} ops/s' if v else 'no data'):>18}"
              f"{f'   target on a CPU {c:.2f} s/s, waiting for one {wt:.2f} s/s' if c else ''}")
    if "ratio_walk_over_before" in out:
        print(f"throughput during the walk / before it: {out['ratio_walk_over_before']:.3f} "
              f"(/ detached: {out.get('ratio_walk_over_detached', float('nan')):.3f}; "
              f"20 ms ticks in the walk: median {out.get('median_tick_over_before', 0):.3f}, "
              f"worst {out.get('worst_tick_over_before', 0):.3f})", flush=True)
    if "work_per_cpu_walk_over_before" in out:
        print(f"work per CPU second during the walk / before it: "
              f"{out['work_per_cpu_walk_over_before']:.3f}", flush=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heap-mb", type=int, default=100)
    ap.add_argument("--leak-kb", type=int, default=512, help="leak rate, KiB/s")
    ap.add_argument("--duration", type=float, default=20.0, help="attach window, s")
    ap.add_argument("--gc-every", type=float, default=1.0, help="forced GC period, s")
    ap.add_argument("--quiet", type=float, default=4.0,
                    help="GC-free seconds: detached, before the walk, after leakhound exits")
    ap.add_argument("--sample-rate", type=int, default=65536)
    ap.add_argument("--procs", type=int, default=2, help="the target's GOMAXPROCS")
    ap.add_argument("--max-seconds", type=float, default=3600, help="--retainers-max-time, s")
    ap.add_argument("--cpu", default="1,0.5",
                    help="--retainers-cpu of each attach, one after the other, same target")
    ap.add_argument("--hogs", type=int, default=0,
                    help="CPU-bound processes running throughout, each in a session of its own "
                         "(a busy node: the walk's CPU then competes with the target's)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: leakhound attaches BPF probes")
    if a.duration <= a.quiet + 5 * a.gc_every:
        sys.exit("--duration must leave at least 5 forced GC cycles before the quiet window")
    subprocess.run(["go", "build", "-o", BINARY, "."], cwd=HERE, check=True,
                   env={**os.environ, "CGO_ENABLED": "0"})

    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
            for _ in range(a.hogs)]
    t = Target(a)
    runs = []
    try:
        if not t.ready.wait(timeout=1200):
            sys.exit("the target did not build its heap")
        time.sleep(a.quiet)
        print(f"target: {a.heap_mb} MiB live heap (+ a {a.leak_kb} KiB/s leak), "
              f"GOMAXPROCS={a.procs}; {a.hogs} CPU hogs; {os.cpu_count()} CPUs", flush=True)
        for share in (float(x) for x in a.cpu.split(",")):
            runs.append(one_walk(t, a, share))
    finally:
        t.stop()
        for h in hogs:
            h.kill()
            h.wait()
    print("by --retainers-cpu: throughput during the walk / before it; work per CPU second; "
          "the target's wait for a CPU, s/s, before → during")
    for r in runs:
        wt = r["target_wait_per_s"]
        print(f"  {r['cpu_share']:g}: {r.get('ratio_walk_over_before', float('nan')):.3f}; "
              f"{r.get('work_per_cpu_walk_over_before', float('nan')):.3f}; "
              f"{wt['before'] or 0:.2f} → {wt['walk'] or 0:.2f}")
    print(json.dumps({"bench": "retention_walk", "heap_mb": a.heap_mb, "procs": a.procs,
                      "hogs": a.hogs, "runs": runs}, separators=(",", ":")))


if __name__ == "__main__":
    main()
