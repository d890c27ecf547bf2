#!/usr/bin/env python3
"""A real third-party Go program checked against its own pprof: Debian
trixie's Prometheus Pushgateway (1.11.0, go1.24.4, stripped, not PIE;
scripts/setup.sh unpacks the .deb into /opt/leakhound/real/trixie/root), on
loopback, under a light load: every 100 ms a client pushes a group of series
(replacing the last push), reads /metrics or the group's API. leakhound
attaches for a window; realcheck compares its heap per function, goroutines
per creation site and user goroutine count with the program's own pprof, and
a program in steady state must not be reported as leaking.

Usage: pushgateway_real.py [--window 15s]   (root)"""
import itertools
import sys
import tempfile
import urllib.request

import realcheck
from realcheck import lhtest

PUSHGATEWAY = "/opt/leakhound/real/trixie/root/usr/bin/prometheus-pushgateway"


def main():
    a = realcheck.begin(PUSHGATEWAY, "15s")
    with tempfile.TemporaryDirectory() as tmp:
        port = lhtest.free_port()
        url = f"http://127.0.0.1:{port}"
        tick = itertools.count()

        def push():
            i = next(tick)
            if i % 2:
                path = "/metrics" if i % 4 == 1 else "/api/v1/metrics"
                return realcheck.http_get(url + path)[0] == 200
            body = "".join(f'load_requests_total{{path="/p{k}"}} {i + k}\n'
                           f'load_latency_seconds{{path="/p{k}"}} 0.{k}\n' for k in range(20))
            req = urllib.request.Request(url + f"/metrics/job/load/instance/i{i % 8}",
                                         data=body.encode(), method="PUT")
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status in (200, 202)

        with realcheck.Program([PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}"],
                               url + "/-/ready", tmp) as prog, \
                realcheck.Load(push, every=0.1) as load:
            # settle_s: every group pushed, steady state
            realcheck.run_checks(prog, url, "go1.24", a.window, load, settle_s=3)
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
