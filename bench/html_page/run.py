#!/usr/bin/env python3
"""How fast Chromium opens the HTML report of a large report: 10,000 Go heap
stacks (200 leaking), 200 goroutine sites, 120-point series
(bench/html_page/make_page.cpp, built as build/html_bench_page). Prints the
page size and, over 5 loads, the median time from navigation start to the load
event and to the last paint-affecting layout (Chromium's own timings).

Usage: bench/html_page/run.py [BUILD_DIR]"""
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "bpf"))
import cdp  # noqa: E402

TIMING = """(() => { const n = performance.getEntriesByType('navigation')[0];
  const p = performance.getEntriesByName('first-contentful-paint')[0];
  return [n.domContentLoadedEventEnd, n.loadEventEnd, p ? p.startTime : -1,
          document.querySelectorAll('.fr').length, document.querySelectorAll('figure.chart').length,
          document.querySelectorAll('table.findings tbody tr').length]; })()"""


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build")
    out = os.path.join(tempfile.mkdtemp(prefix="lh-html-bench-"), "big.html")
    subprocess.run([os.path.join(build, "html_bench_page"), out], check=True)
    print(f"page: {os.path.getsize(out) / 1e6:.2f} MB")
    b = cdp.Browser()
    try:
        runs = []
        for _ in range(5):
            page = b.open("file://" + out)
            # The load event has fired; one more frame so layout is done.
            page.eval("new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))")
            runs.append(page.eval(TIMING))
            assert not page.errors(), page.errors()
        dcl, load, fcp = (statistics.median(r[i] for r in runs) for i in range(3))
        frames, charts, rows = runs[0][3:]
        print(f"{frames} flame frames, {charts} charts, {rows} table rows")
        print(f"median of 5: DOMContentLoaded {dcl:.0f} ms, load {load:.0f} ms, "
              f"first contentful paint {fcp:.0f} ms")
    finally:
        b.close()


if __name__ == "__main__":
    main()
