#!/usr/bin/env python3
"""Proven goroutine leaks end to end (Go 1.26+): leakhound asks the runtime's
GC to run its goroutine leak check (one byte written into the target,
journaled, undone on exit) and reports every site with goroutines the GC
marked leaked as a LEAK with evidence gc_proof, however slowly it leaks.

Per Go release (1.26, 1.27) and build variant (default, strip, pie, cgo): a
target leaking one goroutine every 10 s on a private channel (trend cannot
see it in the window) is reported leak/gc_proof in a 15 s window, and on 1.27
the count equals the target's own pprof.Lookup("goroutineleak"). Controls in
the same process: goroutines parked on a channel held in a global (growing at
the same rate: never gc_proof), a worker pool blocked on a live channel
(never flagged), main blocked in `select {}` (never flagged). Plus: an idle
target (no GC cycle) gets the note and nothing proven; `--fail-on` exit codes
per level on a leaking target and a control; a request left by a SIGKILLed
leakhound is withdrawn by `leakhound restore`.

`stuck` evidence where the runtime proves nothing: on a Go 1.21-1.25 release
of the CI slice, and on 1.27 with --no-leak-check, the same target (leaking
every 2 s on a private channel, with GC cycles) gets `stuck` with
--stuck-after 2s, never `gc_proof`; its worker pool, goroutines sleeping for
an hour and main in `select {}` are never stuck.

Usage: proof_e2e.py [--versions 1.26,1.27] [--variants default,strip] [--jobs N]"""
import argparse
import json
import os
import re
import signal
import subprocess
import tempfile
import time

import lhtest

SRC = "go/goleak/main.go"
SITES = {m: lhtest.source_line(SRC, f"GO-SITE:{m}")
         for m in ("chan", "global", "pool", "sleep")}
VARIANTS = ["default", "strip", "pie", "cgo"]
MINORS = ["1.26", "1.27"]
EXIT_FINDINGS = 3  # report/gate.h kExitFindings


def site(rep, mode):
    hits = [g for g in rep["goroutines"]
            if g["created_at"]["file"].endswith("goleak/main.go")
            and g["created_at"]["line"] == SITES[mode]]
    assert len(hits) <= 1, f"{mode}: {len(hits)} sites at one line"
    return hits[0] if hits else None


def describe(g):
    if g is None:
        return "absent"
    return (f"{g['verdict']}/{g['evidence']} count={g['count']} leaked={g.get('gc_leaked')} "
            f"wait={g['wait_reason']} series={[p[1] for p in g['series']]}")


def leaking_target(minor, variant, extra=()):
    """chan and global leak one goroutine each every 10 s; pool and churn are
    controls (churn makes GC cycles: the check only runs when one starts)."""
    return lhtest.Target([lhtest.target_path("goleak", minor, variant), "-modes",
                          "chan,global,pool,churn", "-rate", "0.1", "-pre", "1", "-block-main",
                          "-interval", "1s", *extra])


def attach(pid, duration, extra=()):
    """attach --json in the background: (Popen, stdout file)."""
    out = tempfile.TemporaryFile(mode="w+")
    p = subprocess.Popen([lhtest.LEAKHOUND, "attach", str(pid), "-d", duration, "--json",
                          *extra], stdout=out, stderr=subprocess.PIPE, text=True)
    return p, out


def finish(p, out):
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, f"leakhound exited {p.returncode}: {err.strip()}"
    out.seek(0)
    rep = json.load(out)
    errors = lhtest.validate_report(rep)
    assert not errors, f"report does not match the schema: {errors[:10]}"
    return rep


def own_profile(t):
    """The target's own goroutineleak profile (SIGUSR2): (count, chan)."""
    n = len(t.lines)
    t.proc.send_signal(signal.SIGUSR2)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for _, l in t.lines[n:]:
            m = re.match(r"goroutineleak count=(\d+) chan=(\d+) parsed=(\d+)", l)
            if m:
                return int(m.group(1)), int(m.group(2))
        time.sleep(0.05)
    raise AssertionError(f"no goroutineleak line: {t.lines[-3:]}")


def case_proof(minor, variant):
    t = leaking_target(minor, variant)
    try:
        t.wait_for(r"^ready ")
        p, out = attach(t.pid, "15s")
        # The leaking stops after the first check (~0 s) and before the
        # second (10 s), so the target's own profile, taken after the window,
        # sees the very goroutines leakhound's last check saw.
        time.sleep(7)
        t.proc.send_signal(signal.SIGUSR1)
        t.wait_for(r"^census-end", timeout=60)
        rep = finish(p, out)
        lc = rep["goroutine_stats"]["leak_check"]
        assert lc["available"] and lc["requests"] == 2 and lc["ran"], (lc, rep["notes"])
        chan = site(rep, "chan")
        assert chan and chan["verdict"] == "leak" and chan["evidence"] == "gc_proof", \
            f"chan: {describe(chan)}"
        assert chan["gc_leaked"] == chan["count"] >= 2, f"chan: {describe(chan)}"
        assert "blocked forever on chan receive" in chan["evidence_text"], chan["evidence_text"]
        assert rep["goroutines"][0] is not None and rep["goroutines"][0]["evidence"] == "gc_proof", \
            "proven sites are not first"
        glob = site(rep, "global")
        assert glob and glob["evidence"] == "trend" and glob["count"] >= 2, \
            f"global: {describe(glob)}"
        pool = site(rep, "pool")
        assert pool and pool["evidence"] == "trend" and pool["verdict"] == "stable", \
            f"pool: {describe(pool)}"
        main = [g for g in rep["goroutines"] if g["entry"]["function"] == "runtime.main"]
        assert len(main) == 1 and main[0]["evidence"] == "trend" and \
            main[0]["verdict"] == "stable", f"main: {[describe(g) for g in main]}"
        proven = [g for g in rep["goroutines"] if g["evidence"] == "gc_proof"]
        assert proven == [chan], f"proven elsewhere: {[describe(g) for g in proven]}"
        if minor != "1.26":  # 1.26 registers the profile only under GOEXPERIMENT
            count, in_chan = own_profile(t)
            assert in_chan == chan["gc_leaked"], \
                f"target's profile: {in_chan} leaked at main.leakChan, leakhound {describe(chan)}"
            assert lc["runtime_count"] == count, (lc, count)
        assert t.proc.poll() is None, f"target exited with {t.proc.returncode}"
    finally:
        t.stop()


def case_no_gc(minor):
    """No allocation, so no GC cycle: nothing proven, and the report says why."""
    t = lhtest.Target([lhtest.target_path("goleak", minor, "default"), "-modes", "chan",
                       "-rate", "0", "-pre", "3", "-interval", "1s"])
    try:
        t.wait_for(r"^ready ")
        rep, _ = lhtest.attach_json(t.pid, "3s")
    finally:
        t.stop()
    lc = rep["goroutine_stats"]["leak_check"]
    assert lc["requests"] >= 1 and not lc["ran"], lc
    assert any("no GC cycle in the window" in n for n in rep["notes"]), rep["notes"]
    assert all(g["evidence"] == "trend" for g in rep["goroutines"])


def case_read_only(minor):
    """--read-only asks for nothing (the strace proof is in cli_errors.py)."""
    t = leaking_target(minor, "default")
    try:
        t.wait_for(r"^ready ")
        rep, _ = lhtest.attach_json(t.pid, "3s", ["--read-only"])
    finally:
        t.stop()
    lc = rep["goroutine_stats"]["leak_check"]
    assert lc["requests"] == 0 and "--read-only" in lc["why_not"], lc


def case_fail_on(minor):
    """Exit codes: a leaking target reaches every level; the control (a pool
    and churn: nothing leaks) none."""
    for modes, want in (("chan,pool,churn", {"proven": EXIT_FINDINGS, "leak": EXIT_FINDINGS,
                                             "growing": EXIT_FINDINGS}),
                        ("pool,churn", {"proven": 0, "leak": 0, "growing": 0})):
        t = lhtest.Target([lhtest.target_path("goleak", minor, "default"), "-modes", modes,
                           "-rate", "0.1", "-pre", "1", "-interval", "1s"])
        try:
            t.wait_for(r"^ready ")
            for level, code in want.items():
                got, out, err = lhtest.run_leakhound(["attach", str(t.pid), "-d", "4s",
                                                      "--json", "--fail-on", level])
                assert got == code, f"{modes} --fail-on {level}: exit {got}, want {code}: {err}"
                rep = json.loads(out)  # the report is out either way
                assert rep["goroutines"], rep["notes"]
                if code:
                    assert f"--fail-on {level}" in err, err
        finally:
            t.stop()
    got, _, err = lhtest.run_leakhound(["attach", "1", "--fail-on", "leaks"])
    assert got == 2 and "leaks" in err, (got, err)


def case_sigkill_restore(minor):
    """A request left by a SIGKILLed leakhound on an idle target (no GC takes
    it up) is in the journal; `leakhound restore` withdraws it."""
    import shutil
    state = tempfile.mkdtemp(prefix="lh-state-")
    env = dict(os.environ, LEAKHOUND_STATE_DIR=state)
    t = lhtest.Target([lhtest.target_path("goleak", minor, "strip"), "-modes", "chan",
                       "-rate", "0", "-pre", "3", "-interval", "1s"])
    try:
        t.wait_for(r"^ready ")
        lh = subprocess.Popen([lhtest.LEAKHOUND, "attach", str(t.pid), "-d", "60s"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        journal = os.path.join(state, f"writes-{t.pid}")
        addr = None
        deadline = time.monotonic() + 60
        while addr is None:
            assert time.monotonic() < deadline, "no goroutine_leak_pending journal entry"
            if os.path.exists(journal):
                for l in open(journal).read().splitlines():
                    if l.startswith("goroutine_leak_pending "):
                        addr = int(l.split()[1])
            time.sleep(0.1)

        def flag():
            with open(f"/proc/{t.pid}/mem", "rb") as m:
                m.seek(addr)
                return m.read(1)[0]

        deadline = time.monotonic() + 10
        while flag() != 1:  # the journal entry goes in before the byte
            assert time.monotonic() < deadline, "flag never set"
            time.sleep(0.05)
        lh.kill()
        lh.wait()
        assert flag() == 1, "request not left in place by SIGKILL (a GC in an idle target?)"
        p = subprocess.run([lhtest.LEAKHOUND, "restore", str(t.pid)], env=env,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0 and "goroutine leak check request withdrawn" in p.stdout, \
            (p.returncode, p.stdout, p.stderr)
        assert flag() == 0, "restore left the request in place"
        assert not os.path.exists(journal), open(journal).read()
        p = subprocess.run([lhtest.LEAKHOUND, "restore", str(t.pid)], env=env,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0 and "withdrawn" not in p.stdout, (p.stdout, p.stderr)
        assert t.proc.poll() is None, "target died"
    finally:
        t.stop()
        shutil.rmtree(state, ignore_errors=True)


def stuck_minor():
    """The CI slice's Go 1.21-1.25 release for a stripped build (lhtest.matrix)."""
    old = [m for m in lhtest.matrix("strip") if (1, 21) <= tuple(map(int, m.split("."))) < (1, 26)]
    return old[0] if old else "1.24"


def case_stuck(minor, variant, extra=()):
    """Goroutines blocked on a private channel for longer than --stuck-after,
    the count never falling: `stuck` (a leak, never a proof). The pool (busy),
    the sleepers and main (`select {}`) are not."""
    t = lhtest.Target([lhtest.target_path("goleak", minor, variant), "-modes",
                       "chan,pool,sleep,churn", "-rate", "0.5", "-pre", "3", "-block-main",
                       "-interval", "1s"])
    try:
        t.wait_for(r"^ready ")
        rep, _ = lhtest.attach_json(t.pid, "6s", ["--stuck-after", "2s", *extra])
    finally:
        t.stop()
    chan = site(rep, "chan")
    assert chan and chan["evidence"] == "stuck" and chan["verdict"] == "leak", \
        f"chan: {describe(chan)} {chan and chan['longest_wait_s']}"
    st = chan["stuck"]
    assert st["threshold_s"] == 2 and st["blocked"] == chan["count"] and st["older"] >= 3, st
    assert st["age_s"]["max"] > 2 and st["age_s"]["min"] <= st["age_s"]["p50"], st
    assert "Not a proof" in chan["evidence_text"], chan["evidence_text"]
    for mode in ("pool", "sleep"):
        g = site(rep, mode)
        assert g and g["evidence"] == "trend", f"{mode}: {describe(g)}"
    sleep = site(rep, "sleep")
    assert sleep["wait_reason"] == "sleep" and sleep["count"] >= 3, describe(sleep)
    main = [g for g in rep["goroutines"] if g["entry"]["function"] == "runtime.main"]
    assert len(main) == 1 and main[0]["evidence"] == "trend", [describe(g) for g in main]
    others = [g for g in rep["goroutines"] if g["evidence"] != "trend" and g is not chan]
    assert not others, f"not trend: {[describe(g) for g in others]}"
    assert rep["summary"]["goroutine_stuck"] == 1, rep["summary"]
    assert not rep["goroutine_stats"]["leak_check"]["ran"], rep["goroutine_stats"]["leak_check"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", default=",".join(MINORS))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    lhtest.require_root()
    versions = a.versions.split(",")
    cases = []
    for minor in versions:
        for variant in a.variants.split(","):
            cases.append((f"proof go{minor} {variant}", case_proof, minor, variant))
    newest = versions[-1]
    cases.append((f"no gc go{newest}", case_no_gc, newest))
    cases.append((f"read-only go{newest}", case_read_only, newest))
    cases.append((f"fail-on go{newest}", case_fail_on, newest))
    cases.append((f"sigkill restore go{newest}", case_sigkill_restore, newest))
    old = stuck_minor()
    cases.append((f"stuck go{old} strip", case_stuck, old, "strip"))
    cases.append((f"stuck go{newest} --no-leak-check", case_stuck, newest, "default",
                  ["--no-leak-check"]))
    return lhtest.run_cases(cases, a.jobs)


if __name__ == "__main__":
    raise SystemExit(main())
