#!/usr/bin/env python3
"""A real Go program that is not stripped, checked against its own pprof:
`go tool trace` as Go's own release ships it (the go1.20.14 toolchain from
the module proxy, which scripts/build-targets.sh and scripts/setup.sh fetch:
.symtab and DWARF kept, not PIE). Its HTTP viewer serves net/http/pprof. It
is given a 1 s execution trace of a go1.20 test target, and loaded with the
viewer's pages every 100 ms. leakhound attaches for a window; realcheck
compares its heap per function, goroutines per creation site and user
goroutine count with the program's own pprof, and a program in steady state
must not be reported as leaking.

Usage: gotrace_real.py [--window 15s]   (root)"""
import itertools
import os
import re
import subprocess
import sys
import tempfile

import realcheck
from realcheck import lhtest

RELEASE = "go" + next(v for v in lhtest.VERSIONS if v.startswith("1.20."))
PAGES = ["/goroutines", "/usertasks", "/userregions", "/jsontrace?start=0&end=200",
         "/mmu", "/"]


def trace_tool():
    goroot = subprocess.run(["go", "env", "GOROOT"], capture_output=True, text=True,
                            env={**os.environ, "GOTOOLCHAIN": RELEASE}).stdout.strip()
    return os.path.join(goroot, "pkg", "tool", "linux_amd64", "trace")


def record_trace(path):
    """A 1 s execution trace from a go1.20 target serving pprof."""
    t = lhtest.Target([lhtest.target_path("heapleak", "1.20", "pprof"), "--leak-rate", "0"])
    try:
        base = re.search(r"pprof (http://\S+)/debug/pprof/", t.wait_for(r"^pprof http")).group(1)
        code, body = lhtest.http_get(base + "/debug/pprof/trace?seconds=1", timeout=30)
        assert code == 200 and body, f"trace: HTTP {code}"
        with open(path, "wb") as f:
            f.write(body)
    finally:
        t.stop()


def main():
    tool = trace_tool()
    a = realcheck.begin(tool, "15s")
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "heapleak.trace")
        record_trace(trace)
        port = lhtest.free_port()
        url = f"http://127.0.0.1:{port}"
        pages = itertools.cycle(PAGES)

        def view():
            return realcheck.http_get(url + next(pages))[0] == 200

        with realcheck.Program([tool, f"-http=127.0.0.1:{port}", trace], url + "/", tmp) as prog, \
                realcheck.Load(view, every=0.1) as load:
            realcheck.run_checks(prog, url, "go1.20", a.window, load, settle_s=2)
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
