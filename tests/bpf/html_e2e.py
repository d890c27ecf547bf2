#!/usr/bin/env python3
"""The HTML report (attach --html) in a real headless Chromium, for the demo's
heap (heapleak), goroutine (goleak) and cgo (cgoleak) targets: no console
error, no network request, one growth chart per finding with the JSON's series
point for point, flame graphs whose frame for the leak is the leaking
function (zoom and search work), sortable tables, and every number on the page
equal to the JSON report of the same run. The same checks run against the
daemon's pages (/ and /ui/report?pid=N) while it watches a leaking heapleak,
and the report page reloads itself. Screenshots go to
$LEAKHOUND_BUILD_DIR/test-artifacts/html/.

Usage: html_e2e.py"""
import json
import os
import shutil
import sys
import tempfile
import time

import cdp
import daemon_e2e
import html_checks
import lhtest

MINOR = lhtest.MINORS[-1]
# cgo: the native probes come up late in the window on a loaded 2-core machine
# (once, 2 points in 10 s: "stable"), so it gets a longer one; the three
# targets run at the same time.
WINDOW = {"heap": "10s", "goroutines": "10s", "cgo": "20s"}
ARTIFACTS = os.path.join(lhtest.BUILD, "test-artifacts", "html")
MAX_BYTES = 1 << 20  # a typical report stays under 1 MB

CASES = {
    # name: (target, variant, target args, attach args, findings kind)
    "heap": ("heapleak", "default", ["-leak-rate", str(1 << 20), "-churn", "100",
                                     "-interval", "250ms"], ["--sample-rate", "65536"], "heap"),
    # One leaking mode, so the top leak is known; the controls (pool, burst) run too.
    "goroutines": ("goleak", "default", ["-modes", "chan,pool,burst", "-rate", "20", "-pre", "50",
                                         "-interval", "500ms"], [], "goroutines"),
    "cgo": ("cgoleak", "cgo", [], [], "native"),
}
# The function each target leaks from (tests/targets/go/*/main.go).
LEAKING = {"heap": {"main.leakOne"}, "cgo": {"main.leakCString"}, "goroutines": {"main.leakChan"}}


def collect(name):
    target, variant, targs, aargs, _ = CASES[name]
    t = lhtest.Target([lhtest.target_path(target, MINOR, variant), *targs])
    path = os.path.join(ARTIFACTS, f"{name}.html")
    try:
        t.wait_for(r"^ready")
        rep, _ = lhtest.attach_json(t.pid, WINDOW[name], [*aargs, "--html", path])
    finally:
        t.stop()
    with open(os.path.join(ARTIFACTS, f"{name}.json"), "w") as f:
        json.dump(rep, f, indent=1)
    return rep, path


def shown_window(page):
    """The window length the page shows; None while it reloads."""
    try:
        return page.eval("""(document.querySelector('[data-json="window.duration_s"]') ||
            {dataset: {}}).dataset.value""")
    except AssertionError:
        return None


def same_window(page, rep):
    """The page shows the report rep (the daemon renews its report each poll)."""
    shown = shown_window(page)
    return shown is not None and float(shown) == float(rep["window"]["duration_s"])


def case_daemon(browser):
    tmp = tempfile.mkdtemp(prefix="lh-html-daemon-")
    d = t = None
    try:
        exe = os.path.join(tmp, "heapleak")
        shutil.copy(lhtest.target_path("heapleak", MINOR, "default"), exe)
        d = daemon_e2e.Daemon(tmp)
        t = lhtest.Target([exe, "-leak-rate", str(4 << 20), "-interval", "250ms"])
        t.wait_for(r"^ready")

        def leak_seen():
            for p in d.json("/api/v1/processes")["processes"]:
                if p["pid"] == t.pid and p.get("summary", {}).get("heap_leaks", 0) >= 1:
                    return p
            return None
        daemon_e2e.wait_until("the daemon's leak verdict", leak_seen, 120)
        # The list: a row per process, verdict counts as /api/v1/processes has them.
        page = browser.open(d.url + "/")
        for _ in range(20):
            procs = {p["pid"]: p for p in d.json("/api/v1/processes")["processes"]}
            rows = page.eval("""[...document.querySelectorAll("tr[data-pid]")].map(r => [
                Number(r.dataset.pid), [...r.querySelectorAll("[data-json]")].map(c =>
                [c.dataset.json, Number(c.dataset.value)]),
                Number((r.querySelector("svg.spark") || {dataset: {}}).dataset.points || 0),
                r.querySelector("a").getAttribute("href")])""")
            if all(p in procs for p, *_ in rows) and all(
                    procs[p]["summary"][k.split(".")[1]] == v
                    for p, fields, _, _ in rows for k, v in fields):
                break
            page.navigate(d.url + "/")
        else:
            raise AssertionError(f"/ never showed /api/v1/processes' counts: {rows}")
        html_checks.check_clean(page)
        mine = [r for r in rows if r[0] == t.pid]
        assert mine, f"PID {t.pid} not listed: {rows}"
        _, fields, points, href = mine[0]
        assert dict(fields)["summary.heap_leaks"] >= 1, fields
        assert points >= 2, f"sparkline of {points} points"
        assert href == f"/ui/report?pid={t.pid}", href
        page.screenshot(os.path.join(ARTIFACTS, "daemon-list.png"))
        # The report page over the rolling window, as --html.
        url = d.url + href
        page = browser.open(url)
        for _ in range(20):
            rep = d.json(f"/api/v1/report?pid={t.pid}")
            if same_window(page, rep):
                break
            page.navigate(url)
        else:
            raise AssertionError("/ui/report never showed the report of /api/v1/report")
        html_checks.check_report_page(page, rep)
        page.screenshot(os.path.join(ARTIFACTS, "daemon-report.png"))
        # Live: it reloads itself with a newer window.
        first = shown_window(page)
        daemon_e2e.wait_until("the page to reload with a newer report",
                              lambda: shown_window(page) not in (None, first), 60)
        html_checks.check_clean(page)
        # The flame graph names the leak (zooming pauses the reloads).
        for _ in range(20):
            rep = d.json(f"/api/v1/report?pid={t.pid}")
            if same_window(page, rep):
                break
            page.navigate(url)
        html_checks.check_leak_frame(page, rep, "heap", LEAKING["heap"])
    finally:
        if t:
            t.stop()
        if d:
            d.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    lhtest.require_root()
    os.makedirs(ARTIFACTS, exist_ok=True)
    import concurrent.futures as cf
    with cf.ThreadPoolExecutor(len(CASES)) as ex:
        runs = {n: ex.submit(collect, n) for n in CASES}
    res = lhtest.Results()
    browser = cdp.Browser()
    try:
        for name, fut in runs.items():
            def case(name=name, fut=fut):
                rep, path = fut.result()
                size = os.path.getsize(path)
                assert size < MAX_BYTES, f"{path}: {size} bytes"
                page = browser.open("file://" + path)
                html_checks.check_report_page(page, rep)
                kind = CASES[name][4]
                html_checks.check_leak_frame(page, rep, kind, LEAKING[name])
                html_checks.check_sorting(page, kind)
                page.screenshot(os.path.join(ARTIFACTS, f"{name}.png"))
                # The first screen, as docs/html-report.png shows it.
                page.eval("window.scrollTo(0, 0)")
                page.screenshot(os.path.join(ARTIFACTS, f"{name}-top.png"), full=False)
            res.run(f"html {name}", case)
        res.run("daemon pages", case_daemon, browser)
    finally:
        browser.close()
    return res.finish()


if __name__ == "__main__":
    sys.exit(main())
