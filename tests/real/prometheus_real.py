#!/usr/bin/env python3
"""A real third-party Go program checked against its own pprof: Debian's
/usr/bin/prometheus (bookworm: 2.42, go1.19.8, stripped, not PIE; installed
by scripts/setup.sh), on loopback, scraping itself every 200 ms. leakhound
attaches for a window; realcheck compares its heap per function, goroutines
per creation site and user goroutine count with the program's own pprof
(and prints go_goroutines, the same runtime.NumGoroutine from /metrics). A
program in steady state must not be reported as leaking goroutines.

Usage: prometheus_real.py [--window 20s]   (root)"""
import os
import re
import sys
import tempfile

import realcheck
from realcheck import lhtest

PROMETHEUS = "/usr/bin/prometheus"


def metric(url, name):
    code, body = realcheck.http_get(url + "/metrics")
    assert code == 200, f"/metrics: HTTP {code}"
    m = re.search(rf"^{name} (\S+)$", body, re.M)
    assert m, f"{name} not in /metrics"
    return float(m.group(1))


def tsdb_head(finding):
    """The TSDB head fills while Prometheus scrapes (new samples appended to
    the head's chunks and series until the next compaction, hours away): a
    heap 'leak' there is growth it is meant to have. Its stack must say so."""
    return any(s["function"].startswith("github.com/prometheus/prometheus/tsdb.")
               for s in finding["stack"])


def main():
    a = realcheck.begin(PROMETHEUS, "20s")
    with tempfile.TemporaryDirectory() as tmp:
        port = lhtest.free_port()
        url = f"http://127.0.0.1:{port}"
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 200ms\n  scrape_timeout: 150ms\n"
                    "scrape_configs:\n  - job_name: self\n    static_configs:\n"
                    f"      - targets: ['127.0.0.1:{port}']\n")
        with realcheck.Program([PROMETHEUS, f"--config.file={cfg}",
                                f"--storage.tsdb.path={tmp}/tsdb",
                                f"--web.listen-address=127.0.0.1:{port}"],
                               url + "/-/ready", tmp) as prog:
            # settle_s: a few scrapes, steady state
            realcheck.run_checks(prog, url, "go1.19", a.window, settle_s=5, legitimate=tsdb_head)
            print(f"go_goroutines on /metrics (runtime.NumGoroutine, the /metrics "
                  f"request's own included): {metric(url, 'go_goroutines'):.0f}")
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
