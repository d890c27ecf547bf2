#!/usr/bin/env python3
"""Attach/detach stress: 100 leakhound sessions, one after the other, against
one busy cgo target per Go version (tests/targets/go/busy: Go heap churn,
goroutine churn, cgo calls, each checking its own results).

The sessions rotate through the options (native probes on and off, heap and
goroutine events, read-only, JSON) and through the ways a session ends (its
window, SIGINT, SIGTERM, and once SIGKILL followed by `leakhound restore`).
Afterwards the target must still run, its checks must all have passed
(errors=0), its heap sampler must be back to its own value, and no probe of
leakhound may be left on it.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lhtest  # noqa: E402

# (extra arguments, how the session ends)
ROTATION = [
    ([], "window"),  # native probes on (the target has libc): the slowest detach
    (["--no-native"], "window"),
    (["--no-native", "--goroutine-events"], "window"),
    (["--no-native", "--heap-events"], "window"),
    (["--no-native", "--read-only"], "window"),
    (["--no-native"], "sigint"),
    (["--no-native", "--json"], "window"),
    (["--no-native", "--goroutine-events", "--heap-events"], "window"),
    (["--no-native", "--goroutine-events"], "sigterm"),
    (["--no-native", "--no-goroutines"], "window"),
]


def session(pid, extra, end):
    args = [lhtest.LEAKHOUND, "attach", str(pid), "--interval", "50ms", *extra]
    if end == "window":
        p = subprocess.run(args + ["--duration", "300ms"], capture_output=True, text=True,
                           timeout=120)
        return p.returncode, p.stderr
    p = subprocess.Popen(args + ["--duration", "30s"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(0.4)  # inside the window: the collectors are running
    p.send_signal({"sigint": signal.SIGINT, "sigterm": signal.SIGTERM,
                   "sigkill": signal.SIGKILL}[end])
    out, err = p.communicate(timeout=120)
    if end != "sigkill":
        assert "collection interrupted" in out, f"{end}: no partial report: {out[:300]!r}"
    return p.returncode, err


def probes_on(pid, exe):
    out = subprocess.run(["bpftool", "-j", "perf", "list"], capture_output=True, text=True,
                         check=True).stdout
    return [p for p in json.loads(out or "[]")
            if p.get("filename") in (f"/proc/{pid}/exe", exe)]


def stress(minor, cycles):
    exe = lhtest.target_path("busy", minor, "cgo")
    t = lhtest.Target([exe, "-interval", "200ms"])
    try:
        ready = t.wait_for("^ready")
        own_rate = ready.split("memprofilerate=")[1].split()[0]
        kill_at = cycles // 2
        for i in range(cycles):
            extra, end = ROTATION[i % len(ROTATION)]
            if i == kill_at:
                extra, end = ["--no-native"], "sigkill"
            code, err = session(t.pid, extra, end)
            if end == "sigkill":
                assert code == -signal.SIGKILL, f"cycle {i}: SIGKILL gave {code}"
                rc, _, rerr = lhtest.run_leakhound(["restore", str(t.pid)])
                assert rc == 0, f"restore after SIGKILL: {rerr.strip()}"
            else:
                assert code == 0, f"cycle {i} {extra} {end}: exit {code}: {err.strip()[-300:]}"
            assert t.proc.poll() is None, f"target died at cycle {i} ({extra}, {end})"
        # Two status lines after the last session: the target's own view.
        n = len(t.ticks())
        deadline = time.monotonic() + 30
        while len(t.ticks()) < n + 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        last = t.ticks()[-1][1]
        assert last["errors"] == "0", f"the target's checks failed: {last}"
        assert int(last["done"]) > 0 and int(last["cgo_calls"]) > 0, last
        assert last["memprofilerate"] == own_rate, \
            f"heap sampler {last['memprofilerate']}, the program's own is {own_rate}"
        rc, out, err = lhtest.run_leakhound(["inspect", str(t.pid)])
        assert rc == 0, err
        left = probes_on(t.pid, exe)
        assert not left, f"probes left on the target: {left}"
        print(f"  go{minor}: {cycles} sessions; target did {last['done']} goroutines, "
              f"{last['cgo_calls']} cgo calls, {last['heap_checks']} heap checks, 0 errors",
              flush=True)
    finally:
        t.stop()
    assert any(l == "exit signal" for _, l in t.lines), "the target did not exit cleanly"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", default=",".join(lhtest.matrix("cgo")),
                    help="default: lhtest.matrix, all with LEAKHOUND_FULL=1")
    ap.add_argument("--cycles", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=7)
    a = ap.parse_args()
    lhtest.require_root()
    cases = [(f"stress go{m}", stress, m, a.cycles) for m in a.versions.split(",")]
    return lhtest.run_cases(cases, a.jobs)


if __name__ == "__main__":
    raise SystemExit(main())
