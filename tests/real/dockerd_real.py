#!/usr/bin/env python3
"""A real PIE Go program checked against its own pprof: Debian trixie's
dockerd (docker.io 26.1, go1.24.4, stripped, PIE; scripts/setup.sh unpacks
it and trixie's containerd into /opt/leakhound/real/trixie/root). It runs
with --debug (which serves net/http/pprof on its API socket), its data and
state in a temporary directory, no bridge and no iptables, in a mount
namespace of its own (unshare), so that what it and the containerd it
starts mount goes away with them. Light load: every 100 ms a client asks
for the version, info, containers, images, and creates or removes a volume.
leakhound attaches to dockerd for a window; realcheck compares its heap per
function, goroutines per creation site and user goroutine count with the
program's own pprof, and a program in steady state must not be reported as
leaking.

Usage: dockerd_real.py [--window 15s]   (root)"""
import itertools
import os
import sys
import tempfile

import realcheck

ROOT = "/opt/leakhound/real/trixie/root"
DOCKERD = ROOT + "/usr/sbin/dockerd"
READS = ["/version", "/info", "/containers/json?all=1", "/images/json", "/volumes",
         "/networks"]


def main():
    a = realcheck.begin(DOCKERD, "15s")
    with tempfile.TemporaryDirectory() as tmp:
        sock = os.path.join(tmp, "docker.sock")
        url = realcheck.unix_url(sock)
        env = {**os.environ, "PATH": f"{ROOT}/usr/bin:{ROOT}/usr/sbin:{os.environ['PATH']}"}
        argv = ["unshare", "--mount", "--propagation", "private", DOCKERD, "--debug",
                f"--data-root={tmp}/data", f"--exec-root={tmp}/exec",
                f"--pidfile={tmp}/docker.pid", f"--host=unix://{sock}",
                "--bridge=none", "--iptables=false", "--ip6tables=false",
                "--ip-forward=false", "--ip-masq=false", "--userland-proxy=false",
                f"--config-file={tmp}/daemon.json"]
        with open(f"{tmp}/daemon.json", "w") as f:
            f.write("{}\n")
        tick = itertools.count()

        def client():
            i = next(tick)
            if i % 3 == 2:  # a volume created, then removed: nothing accumulates
                vol = f"load{(i // 3) % 2}"
                if (i // 6) % 2 == 0:
                    code, _ = realcheck.http_get(url + "/volumes/create", method="POST",
                                                 body=f'{{"Name": "{vol}"}}')
                    return code in (200, 201)
                code, _ = realcheck.http_get(url + f"/volumes/{vol}", method="DELETE")
                return code in (204, 404)
            return realcheck.http_get(url + READS[i % len(READS)])[0] == 200

        with realcheck.Program(argv, url + "/_ping", tmp, env=env, exe=DOCKERD) as prog, \
                realcheck.Load(client, every=0.1) as load:
            # unshare execs dockerd: the same PID.
            realcheck.run_checks(prog, url, "go1.24", a.window, load, settle_s=3)
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
