#!/usr/bin/env python3
"""End to end: leakhound's own memory does not grow with process churn.

- churn: the daemon watches --count 3-second Go processes (of the oldest and
  the newest Go release) come and go, --parallel at a time. After the first 50
  and after all of them, once every process is detached and every probe set
  gone, the daemon's heap in use (leakhound_agent_heap_bytes: malloc's own
  count, exact to the byte) and its anonymous resident memory are read. The
  heap may grow by at most HEAP_MARGIN over the remaining 450 lifetimes: a
  leak of 75 bytes a process fails it, far less than what a session holds
  for a process (its report, maps, probes: kilobytes). The daemon runs with
  malloc's per-thread caches off, which made the count drift by 40-60 KiB;
  without them it moved by 7 KiB over 450 lifetimes on a machine running six
  builds (the daemon remembers each live process it filtered out). Anonymous
  memory, which moves by pages and with malloc's arenas, gets ANON_MARGIN.
- attach: one `leakhound attach` to a large Go program (a copy of this
  machine's Prometheus, Debian's, 50 MB) peaks at <= ATTACH_PEAK_MIB resident
  (wait4's ru_maxrss): the executable is mapped, not copied (it was 120 MB).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lhtest  # noqa: E402
from daemon_e2e import Daemon, copy_target, wait_until  # noqa: E402

HEAP_MARGIN = 32 << 10
ANON_MARGIN = 2 << 20
ATTACH_PEAK_MIB = 60


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for l in f:
            if l.startswith(key + ":"):
                return int(l.split()[1])
    raise AssertionError(f"no {key} in /proc/{pid}/status")


def metric(d, name):
    m = re.search(rf"^{name} (\S+)$", d.metrics(), re.M)
    assert m, f"/metrics has no {name}"
    return float(m.group(1))


def case_churn(minors, count, parallel):
    tmp = tempfile.mkdtemp(prefix="lh-footprint-")
    d = None
    try:
        paths = [copy_target(tmp, "heapleak", m) for m in minors]
        # Without per-thread caches, malloc's count of bytes in use is exact:
        # the free blocks a thread keeps for reuse (tens of KiB, moving as the
        # HTTP threads take turns) would otherwise count as in use.
        saved = os.environ.get("GLIBC_TUNABLES")
        os.environ["GLIBC_TUNABLES"] = "glibc.malloc.tcache_count=0"
        try:
            d = Daemon(tmp)
        finally:
            if saved is None:
                del os.environ["GLIBC_TUNABLES"]
            else:
                os.environ["GLIBC_TUNABLES"] = saved
        done = 0
        marks = {}  # lifetimes -> (heap bytes, RssAnon KiB)

        def settled():
            m = d.metrics()
            return (re.search(r"^leakhound_processes_attached 0$", m, re.M) and
                    re.search(r"^leakhound_probe_sets 0$", m, re.M))

        while done < count:
            n = min(parallel, count - done)
            procs = [subprocess.Popen([paths[(done + i) % len(paths)], "-duration", "3s",
                                       "-churn", "2", "-leak-rate", "0", "-interval", "1h"],
                                      stdout=subprocess.DEVNULL) for i in range(n)]
            for p in procs:
                assert p.wait(timeout=60) == 0, f"target {p.pid} exited {p.returncode}"
            done += n
            if (done >= 50 and not marks) or done == count:
                wait_until(f"every process detached after {done}", settled, 60)
                time.sleep(1)  # the reaper thread and the HTTP server settle
                marks[done] = (metric(d, "leakhound_agent_heap_bytes"),
                               status_kib(d.proc.pid, "RssAnon"))
        attached = metric(d, "leakhound_attach_total")
        first, last = min(marks), max(marks)
        heap_grew = marks[last][0] - marks[first][0]
        anon_grew = (marks[last][1] - marks[first][1]) << 10
        print(f"  churn: {count} lifetimes ({attached:.0f} attached): heap in use "
              f"{marks[first][0] / 1024:.0f} KiB after {first}, {marks[last][0] / 1024:.0f} KiB "
              f"after {last}; RssAnon {marks[first][1]} -> {marks[last][1]} KiB", flush=True)
        # Most lifetimes must have been watched, or the check proves little
        # (a loaded machine lets some 3-second processes exit before attach).
        assert attached >= 0.75 * count, f"only {attached:.0f} of {count} processes attached"
        assert heap_grew <= HEAP_MARGIN, (
            f"the daemon's heap grew {heap_grew / 1024:.0f} KiB from {first} to {last} process "
            f"lifetimes (margin {HEAP_MARGIN >> 10} KiB): memory kept per process")
        assert anon_grew <= ANON_MARGIN, (
            f"the daemon's anonymous memory grew {anon_grew >> 10} KiB from {first} to {last} "
            f"process lifetimes (margin {ANON_MARGIN >> 20} MiB)")
        d.stop()
        d = None
    finally:
        if d:
            d.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def case_attach_large():
    tmp = tempfile.mkdtemp(prefix="lh-footprint-attach-")
    prom = None
    try:
        exe = os.path.join(tmp, "prometheus")
        shutil.copy2(shutil.which("prometheus"), exe)
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 15s\n")
        prom = subprocess.Popen([exe, f"--config.file={cfg}", f"--storage.tsdb.path={tmp}/tsdb",
                                 "--web.listen-address=127.0.0.1:0"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2)
        assert prom.poll() is None, f"prometheus exited {prom.returncode}"
        lh = subprocess.Popen([lhtest.LEAKHOUND, "inspect", str(prom.pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        err = lh.stderr.read()
        _, st, ru = os.wait4(lh.pid, 0)
        lh.returncode = os.waitstatus_to_exitcode(st)
        # Debian 12's Prometheus is Go 1.19: refused until 1.18-1.20 are
        # supported, after the whole function table has been read.
        assert lh.returncode == 0 or "Go 1." in err, f"inspect exited {lh.returncode}: {err}"
        peak = ru.ru_maxrss / 1024
        size = os.path.getsize(exe) / 2**20
        print(f"  attach: inspect of a {size:.0f} MB Prometheus peaked at {peak:.1f} MiB", flush=True)
        assert peak <= ATTACH_PEAK_MIB, \
            f"inspect of a {size:.0f} MB executable peaked at {peak:.1f} MiB (> {ATTACH_PEAK_MIB})"
    finally:
        if prom:
            prom.terminate()
            prom.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", default=f"{lhtest.MINORS[0]},{lhtest.MINORS[-1]}")
    ap.add_argument("--count", type=int, default=500, help="short-lived processes")
    ap.add_argument("--parallel", type=int, default=25)
    ap.add_argument("--only", default="", help="comma-separated case names")
    a = ap.parse_args()
    lhtest.require_root()
    if not shutil.which("prometheus"):
        print("FAIL: prometheus not found (scripts/setup.sh installs it)")
        return 1
    cases = [("churn", case_churn, a.versions.split(","), a.count, a.parallel),
             ("attach", case_attach_large)]
    if a.only:
        cases = [c for c in cases if c[0] in a.only.split(",")]
    # One after the other: both measure leakhound's memory.
    return lhtest.run_cases(cases, 1)


if __name__ == "__main__":
    raise SystemExit(main())
