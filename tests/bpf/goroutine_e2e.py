#!/usr/bin/env python3
"""Goroutines end to end: for every Go version and build variant, a target
leaking goroutines four ways at once (blocked on a channel nobody closes, HTTP
responses never closed, tickers never stopped, contexts never cancelled) next
to a fixed worker pool and bursts that return to baseline. Each leak must be
flagged at its creation site with the right wait reason, the controls not;
then, once the target stops spawning, the live count of every creation site
must equal the target's own census (runtime.Stack), goroutines created before
attach included. With --goroutine-events, the probes' creations and exits must
agree with the counts. Plus the /proc fd series: files opened in a loop with
defer grow, files closed do not.

Usage: goroutine_e2e.py [--versions 1.21,1.26] [--variants default,pie] [--jobs N]"""
import argparse
import signal
import time

import lhtest

SRC = "go/goleak/main.go"
SITES = {m: lhtest.source_line(SRC, f"GO-SITE:{m}") for m in ("chan", "ticker", "ctx", "pool", "burst")}
# main.leakHTTPBody's client.Get: the user's line behind net/http's goroutines.
ANCESTRY_LINE = lhtest.source_line(SRC, "ANCESTRY-LINE")
WAIT = {"chan": "chan receive", "ticker": "chan receive", "ctx": "select"}
RATE = 20        # leaked goroutines (HTTP requests) per second per mode
PRE = 50         # leaked per mode before attach
POOL = 8
WINDOW = "10s"
VARIANTS = ["default", "strip", "pie", "cgo"]
EVENTS = {"pie", "cgo"}  # variants attached with --goroutine-events


def ours(finding):
    f = finding["created_at"]
    return f["file"].endswith("goleak/main.go"), f["line"]


def site(rep, mode):
    hits = [g for g in rep["goroutines"] if ours(g) == (True, SITES[mode])]
    assert len(hits) <= 1, f"{mode}: {len(hits)} sites at one line"
    return hits[0] if hits else None


def describe(g):
    if g is None:
        return "absent"
    return (f"{g['verdict']} count={g['count']} wait={g['wait_reason']} "
            f"growth={g['growth_per_s']:.2f}/s reason={g['trend']['reason']!r} "
            f"series={[p[1] for p in g['series']]}")


def check_verdicts(rep, events):
    for mode, reason in WAIT.items():
        g = site(rep, mode)
        assert g and g["verdict"] == "leak", f"{mode}: {describe(g)}"
        assert g["wait_reason"] == reason, f"{mode}: wait reason {g['wait_reason']!r}, want {reason!r}"
        assert g["count"] >= PRE, f"{mode}: count {g['count']} < {PRE} created before attach"
        assert abs(g["growth_per_s"] - RATE) <= 0.25 * RATE, f"{mode}: growth {g['growth_per_s']}/s"
        assert g["entry"]["function"].startswith("main."), f"{mode}: entry {g['entry']}"
        assert any(fr["function"].startswith("main.") for fr in g["stack"]), \
            f"{mode}: blocked stack has no main frame: {g['stack']}"
        if events:
            # Probes were on before the first snapshot: every goroutine that
            # appeared since was created under them, none of this site ended.
            grew = g["series"][-1][1] - g["series"][0][1]
            assert g["exited_window"] == 0, f"{mode}: exits {g['exited_window']}"
            assert grew <= g["created_window"] <= grew + 2, \
                f"{mode}: created {g['created_window']} by the probes, count grew {grew}"
    # Unclosed response bodies: the transport's read/write loops and the
    # server's conn goroutines grow, each at the request rate.
    http = {}
    for g in rep["goroutines"]:
        fn = g["created_at"]["function"]
        if fn in ("net/http.(*Transport).dialConn", "net/http.(*Server).Serve"):
            http.setdefault(fn, []).append(g)
    for fn, want in (("net/http.(*Transport).dialConn", "select"),
                     ("net/http.(*Server).Serve", "IO wait")):
        gs = http.get(fn, [])
        assert gs and all(g["verdict"] == "leak" for g in gs), \
            f"httpbody {fn}: {[describe(g) for g in gs]}"
        assert all(g["wait_reason"] == want for g in gs), \
            f"httpbody {fn}: {[g['wait_reason'] for g in gs]}, want {want!r}"
    pool = site(rep, "pool")
    assert pool and pool["verdict"] == "stable" and pool["count"] == POOL, f"pool: {describe(pool)}"
    burst = site(rep, "burst")
    assert burst is None or burst["verdict"] != "leak", f"burst: {describe(burst)}"
    for g in rep["goroutines"]:
        if g["verdict"] == "leak":
            fn = g["created_at"]["function"]
            mine = ours(g)[0] and ours(g)[1] in (SITES["chan"], SITES["ticker"], SITES["ctx"])
            assert mine or fn.startswith("net/http."), f"false leak: {describe(g)} at {g['created_at']}"
    socks = [p for p in rep["process"] if p["metric"] == "fds.socket"]
    assert socks and socks[0]["verdict"] == "leak", f"socket fds: {socks}"
    check_parents(rep)


def check_parents(rep):
    """Go 1.21+ records each goroutine's creator (g.parentGoid): the chan
    leak's goroutines were made by the target's leak loop, alive and running
    a function of main."""
    minor = int(rep["target"]["go_version"].split(".")[1])
    chan = site(rep, "chan")
    if minor < 21:
        assert "creators" not in chan, chan.get("creators")
        return
    c = chan.get("creators")
    assert c and c["source"] == "parent_goid", f"chan: creators {c}"
    first = c["chain"][0]
    assert first["alive"] and first["entry"]["function"].startswith("main."), c


def census(t):
    """The target's own count per creation site ("file:line" -> n)."""
    # As long as it takes the target to settle: it prints each step.
    t.wait_for(r"^census-end", timeout=60, progress=r"^quiescing ")
    out, on = {}, False
    for _, l in t.lines:
        if l.startswith("quiescent"):
            on = True
        elif l == "census-end":
            break
        elif on and l.startswith("site "):
            _, where, n, _ = l.split(" ", 3)
            if where != "main":
                out[where] = out.get(where, 0) + int(n)
    return out


def check_census(rep, want):
    got = {}
    for g in rep["goroutines"]:
        if g["system"] or g["count"] == 0 or g["entry"]["function"] == "runtime.main":
            continue
        k = f"{g['created_at']['file']}:{g['created_at']['line']}"
        got[k] = got.get(k, 0) + g["count"]
    diff = {k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)}
    assert not diff, f"live counts (leakhound, target) differ: {diff}"


def case_ancestry(minor, variant):
    """--goroutine-ancestry: the runtime keeps each new goroutine's creators'
    stacks, so the goroutines net/http starts for an unclosed response body
    (created by net/http.(*Transport).dialConn, in a goroutine net/http made
    too) lead back to the user's client.Get in main.leakHTTPBody."""
    t = lhtest.Target([lhtest.target_path("goleak", minor, variant), "-modes", "httpbody,chan",
                       "-rate", "10", "-pre", "3", "-interval", "500ms"])
    try:
        t.wait_for(r"^ready ")
        rep, _ = lhtest.attach_json(t.pid, "5s", ["--goroutine-ancestry"])
        assert rep["goroutine_stats"]["ancestry_depth"] >= 2, rep["goroutine_stats"]
        dial = [g for g in rep["goroutines"]
                if g["created_at"]["function"] == "net/http.(*Transport).dialConn"]
        assert dial, "no goroutine created by net/http.(*Transport).dialConn"
        for g in dial:
            c = g.get("creators")
            assert c and c["source"] == "ancestry", f"dialConn site: creators {c}"
            user = [(fr["function"], fr["line"]) for cr in c["chain"] for fr in cr.get("stack", [])
                    if fr["function"] == "main.leakHTTPBody"]
            assert user and all(line == ANCESTRY_LINE for _, line in user), \
                f"dialConn site: chain {[[fr['function'] for fr in cr.get('stack', [])] for cr in c['chain']]}"
        chan = site(rep, "chan")
        c = chan and chan.get("creators")
        assert c and c["source"] == "ancestry", f"chan: creators {c}"
        assert any(fr["function"] == "main.leakChan" for fr in c["chain"][0]["stack"]), c
        assert t.proc.poll() is None, f"target exited with {t.proc.returncode}"
    finally:
        t.stop()


def case(minor, variant):
    events = variant in EVENTS
    extra = ["--goroutine-events"] if events else []
    t = lhtest.Target([lhtest.target_path("goleak", minor, variant), "-rate", str(RATE),
                       "-pre", str(PRE), "-pool-size", str(POOL), "-interval", "500ms"])
    try:
        t.wait_for(r"^ready ")
        time.sleep(1)
        rep, _ = lhtest.attach_json(t.pid, WINDOW, extra)
        assert rep["target"]["go_version"].startswith(f"go{minor}"), rep["target"]
        assert rep["goroutine_stats"]["read"], rep["notes"]
        assert rep["dropped_events"] == 0, \
            f"dropped {rep['dropped_events']}: native {rep.get('native_stats', {}).get('dropped')}"
        check_verdicts(rep, events)
        # Quiescent point: the target stops spawning and counts its own.
        t.proc.send_signal(signal.SIGUSR1)
        want = census(t)
        assert len(want) >= 8, f"census too small: {want}"
        rep2, _ = lhtest.attach_json(t.pid, "1s", extra)
        check_census(rep2, want)
        assert t.proc.poll() is None, f"target exited with {t.proc.returncode}"
    finally:
        t.stop()


def case_fds(minor, mode, expect_leak):
    t = lhtest.Target([lhtest.target_path("goleak", minor, "default"), "-modes", mode,
                       "-rate", str(RATE), "-interval", "500ms"])
    try:
        t.wait_for(r"^ready ")
        rep, _ = lhtest.attach_json(t.pid, "8s")
    finally:
        t.stop()
    fds = {p["metric"]: p for p in rep["process"]}
    got = fds["fds.file"]["verdict"]
    if expect_leak:
        assert got == "leak" and fds["fds"]["verdict"] == "leak", \
            f"{mode}: fds.file {got}, series {[p[1] for p in fds['fds.file']['series']]}"
        assert abs(fds["fds.file"]["growth_per_s"] - RATE) <= 0.25 * RATE, fds["fds.file"]
    else:
        assert all(p["verdict"] != "leak" for p in rep["process"] if p["metric"].startswith("fds")), \
            f"{mode}: {[(p['metric'], p['verdict']) for p in rep['process']]}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", help="default: lhtest.matrix(variant), all with LEAKHOUND_FULL=1")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--jobs", type=int, default=4)
    a = ap.parse_args()
    lhtest.require_root()
    cases = []
    for variant in a.variants.split(","):
        for minor in lhtest.versions_arg(a.versions, variant):
            cases.append((f"goroutines go{minor} {variant}", case, minor, variant))
    newest = lhtest.MINORS[-1]
    for minor in (lhtest.MINORS[0], newest):
        for variant in ("default", "strip"):
            cases.append((f"ancestry go{minor} {variant}", case_ancestry, minor, variant))
    cases.append((f"fds leak go{newest}", case_fds, newest, "fdleak", True))
    cases.append((f"fds closed go{newest}", case_fds, newest, "fdclose", False))
    oldest = lhtest.MINORS[0]
    cases.append((f"fds leak go{oldest}", case_fds, oldest, "fdleak", True))
    return lhtest.run_cases(cases, a.jobs)


if __name__ == "__main__":
    raise SystemExit(main())
