"""Checks a real third-party Go program against its own net/http/pprof
endpoints (shared by every tests/real suite).

After an attach, with the program still running:
  - heap in use per leaf function vs /debug/pprof/heap?debug=1, unsampled the
    way pprof does it. Both are the profile as of the last GC (the published
    cycle), so they are equal unless a GC ended between the two reads: then
    attach again for a short window;
  - live goroutines per creation site vs /debug/pprof/goroutine?debug=2,
    exactly, apart from the goroutines serving that request (`request_own`);
  - leakhound's user goroutine count vs runtime.NumGoroutine(), which is the
    "total" of /debug/pprof/goroutine?debug=1, less that request's own.
Goroutines that the program's work (the test's load) starts and ends between
leakhound's last read and the pprof request make a difference too: every
check is retried on a short window with the load paused, and must hold on
one (check_program)."""
import argparse
import contextlib
import http.client
import math
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bpf"))
import lhtest  # noqa: E402

ATTEMPTS = 6


def unix_url(sock):
    """The base URL of an HTTP server on a Unix socket, for http_get."""
    return "http+unix://" + urllib.parse.quote(sock, safe="")


def http_get(url, timeout=10, method="GET", body=None):
    """(status, body text); (0, why) while the server is not up. A
    http+unix:// URL (unix_url) goes to a Unix socket (any method)."""
    try:
        if url.startswith("http+unix://"):
            sock, _, path = url[len("http+unix://"):].partition("/")
            conn = UnixHTTPConnection(urllib.parse.unquote(sock), timeout)
            try:
                headers = {"Content-Type": "application/json"} if body else {}
                conn.request(method, "/" + path, body=body, headers=headers)
                r = conn.getresponse()
                return r.status, r.read().decode("utf-8", "replace")
            finally:
                conn.close()
        code, body = lhtest.http_get(url, timeout)
    except OSError as e:  # a refused connection while starting
        return 0, str(e)
    return code, body.decode("utf-8", "replace")


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, sock, timeout):
        super().__init__("localhost", timeout=timeout)
        self.sock_path = sock

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.sock_path)


def pprof_heap(url):
    """/debug/pprof/heap?debug=1: in-use bytes per leaf function, unsampled the
    way pprof does it (scaleHeapSample), the GC count, and the rate."""
    code, body = http_get(url + "/debug/pprof/heap?debug=1")
    assert code == 200, f"heap profile: HTTP {code}"
    # "heap profile: N: B [N: B] @ heap/R" with R = 2 * MemProfileRate.
    rate = int(re.match(r"heap profile: .* @ heap/(\d+)", body).group(1)) // 2
    per_fn = {}
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"(\d+): (\d+) \[(\d+): (\d+)\] @", lines[i])
        i += 1
        if not m:
            continue
        objs, nbytes = int(m.group(1)), int(m.group(2))
        leaf_fn = None
        while i < len(lines) and lines[i].startswith("#\t"):
            parts = lines[i].split("\t")
            if leaf_fn is None and len(parts) >= 3:
                leaf_fn = re.sub(r"\+0x[0-9a-f]+$", "", parts[2])
            i += 1
        if objs == 0 or leaf_fn is None:
            continue
        avg = nbytes / objs
        scale = 1 / (1 - math.exp(-avg / rate)) if rate > 1 else 1
        per_fn[leaf_fn] = per_fn.get(leaf_fn, 0) + nbytes * scale
    num_gc = int(re.search(r"# NumGC = (\d+)", body).group(1))
    return per_fn, num_gc, rate


MAIN = "(main goroutine)"  # leakhound's creation site of goroutine 1


def pprof_goroutines(url):
    """/debug/pprof/goroutine?debug=2 (runtime.Stack of every goroutine): a
    list of {id, state, funcs (leaf first), site (creator function, line),
    parent (goroutine id, Go 1.21+; else None)}."""
    code, body = http_get(url + "/debug/pprof/goroutine?debug=2")
    assert code == 200, f"goroutine profile: HTTP {code}"
    out = []
    for block in body.strip().split("\n\n"):
        lines = block.splitlines()
        m = re.match(r"goroutine (\d+) \[([^\]]*)\]", lines[0]) if lines else None
        if not m:
            continue
        g = {"id": int(m.group(1)), "state": m.group(2), "funcs": [], "site": (MAIN, 0),
             "parent": None}
        for i, ln in enumerate(lines[1:], 1):
            c = re.match(r"created by (\S+)(?: in goroutine (\d+))?$", ln)
            if c:
                where = re.match(r"\s+\S+:(\d+)", lines[i + 1]) if i + 1 < len(lines) else None
                g["site"] = (c.group(1), int(where.group(1)) if where else 0)
                g["parent"] = int(c.group(2)) if c.group(2) else None
                break
            if not ln.startswith("\t"):
                g["funcs"].append(re.sub(r"\(.*\)$", "", ln))
        out.append(g)
    return out


def pprof_num_goroutine(url):
    """runtime.NumGoroutine() as the program's own pprof counts it (the "total"
    of debug=1, taken from runtime.GoroutineProfile)."""
    code, body = http_get(url + "/debug/pprof/goroutine?debug=1")
    assert code == 200, f"goroutine profile: HTTP {code}"
    return int(re.match(r"goroutine profile: total (\d+)", body).group(1))


SERVE = "net/http.(*Server).Serve"
BACKGROUND_READ = "net/http.(*connReader).startBackgroundRead"


def request_own(gs):
    """The goroutines serving the pprof request itself: the one writing the
    stacks, its creators back to the connection's (created by
    net/http.(*Server).Serve), and all that these created (the connection's
    background read). Go 1.21+ names each goroutine's parent; before, the
    connection and its background read are counted by site (one each)."""
    by_id = {g["id"]: g for g in gs}
    me = next((g for g in gs if any("writeGoroutineStacks" in f or f == "runtime.Stack"
                                    for f in g["funcs"])), None)
    assert me, "no goroutine writing the goroutine profile in it"
    own = [me]
    has_parents = any(g["parent"] is not None for g in gs)
    if has_parents:
        g = me
        while g["site"][0] != SERVE and g["parent"] in by_id:
            g = by_id[g["parent"]]
            own.append(g)
        ids = {g["id"] for g in own}
        grew = True
        while grew:
            more = [g for g in gs if g["parent"] in ids and g["id"] not in ids]
            own += more
            ids |= {g["id"] for g in more}
            grew = bool(more)
        return own
    # Before Go 1.21: the connection's goroutine when another one serves the
    # request, and the connection's background read.
    if me["site"][0] != SERVE:
        own += [next(g for g in gs if g["site"][0] == SERVE and g is not me)]
    own += [g for g in gs if g["site"][0] == BACKGROUND_READ][:1]
    return own


def for_print(function):
    """A function name as Go prints it since 1.21 (runtime.funcNameForPrint,
    which pprof's text uses): a generic's shape arguments, from the first '['
    to the last ']', shown as "[...]". leakhound reports the name the
    binary's pclntab holds."""
    i, j = function.find("["), function.rfind("]")
    return function if i < 0 or j <= i else function[:i] + "[...]" + function[j + 1:]


def leaf(finding):
    """The leaf as pprof's debug=1 text shows it (printStackRecord): leading
    runtime.* and internal/runtime/* frames (Go 1.24's maps) hidden, unless
    the whole stack is the runtime's."""
    fns = [for_print(s["function"]) for s in finding.get("stack") or []]
    return next((f for f in fns if not f.startswith(("runtime.", "internal/runtime/"))),
                fns[0] if fns else None)


def count_sites(pairs):
    out = {}
    for site, n in pairs:
        out[site] = out.get(site, 0) + n
    return out


def compare_heap(rep, url):
    """(equal, figures): leakhound's heap per leaf vs the program's pprof now."""
    theirs, num_gc, rate = pprof_heap(url)
    ours = count_sites((leaf(f), f["inuse_bytes"]) for f in rep["heap"])
    total_t, total_o = sum(theirs.values()), sum(ours.values())
    top = sorted(theirs.items(), key=lambda kv: -kv[1])[:10]
    equal = total_t > 0 and abs(total_o - total_t) <= 0.001 * total_t and \
        all(abs(ours.get(fn, 0) - b) <= 0.001 * b for fn, b in top)
    lines = [f"heap in use: leakhound {total_o / 1024:,.2f} kB, pprof {total_t / 1024:,.2f} kB "
             f"(NumGC {num_gc}, MemProfileRate {rate})",
             f"  {'function (leaf as pprof shows it)':60} {'pprof kB':>12} {'leakhound kB':>13}"]
    lines += [f"  {fn[:60]:60} {b / 1024:12,.2f} {ours.get(fn, 0) / 1024:13,.2f}" for fn, b in top]
    return equal, lines


def compare_goroutines(rep, url):
    """(equal, figures): per creation site, and the user count vs NumGoroutine."""
    gs = pprof_goroutines(url)
    n_go = pprof_num_goroutine(url)
    own = request_own(gs)
    own_sites = count_sites((g["site"], 1) for g in own)
    theirs = count_sites((g["site"], 1) for g in gs)
    ours = count_sites(((for_print(f["created_at"]["function"]), f["created_at"]["line"]), f["count"])
                       for f in rep["goroutines"] if not f["system"])
    diff = {s: theirs.get(s, 0) - ours.get(s, 0) - own_sites.get(s, 0)
            for s in set(theirs) | set(ours) | set(own_sites)}
    diff = {s: d for s, d in diff.items() if d}
    user = rep["goroutine_stats"]["user"]
    equal = not diff and user == n_go - len(own) and user == sum(ours.values())
    lines = [f"goroutines: leakhound {user} user ({rep['goroutine_stats']['total']} live), "
             f"runtime.NumGoroutine {n_go} less the pprof request's own {len(own)} = "
             f"{n_go - len(own)}; {len(theirs)} creation sites in debug=2, "
             f"request's own: {sorted(own_sites.items())}",
             f"  {'creation site':70} {'pprof':>6} {'leakhound':>9}"]
    for s in sorted(theirs, key=lambda s: (-theirs[s], s))[:12]:
        lines.append(f"  {(s[0] + ':' + str(s[1]))[:70]:70} {theirs[s]:6} {ours.get(s, 0):9}")
    if diff:
        lines.append(f"  differ (pprof - leakhound - request's own): {sorted(diff.items())}")
    return equal, lines


def check_program(pid, url, go_prefix, window="20s", retry_window="3s", load=None):
    """Attaches for `window`, then compares with the program's own pprof;
    each comparison that does not hold is retried on a short attach, with the
    test's `load` paused (a request in flight at leakhound's last read or at
    pprof's is a goroutine more on one side). Prints the figures; returns the
    first (full-window) report for verdict checks."""
    first = None
    heap_ok = gor_ok = False
    for attempt in range(ATTEMPTS):
        with load.paused() if load and attempt else contextlib.nullcontext():
            rep, _ = lhtest.attach_json(pid, window if attempt == 0 else retry_window)
            heap = None if heap_ok else compare_heap(rep, url)
            gor = None if gor_ok else compare_goroutines(rep, url)
        first = first or rep
        assert rep["target"]["go_version"].startswith(go_prefix), rep["target"]
        paused = " (load paused)" if load and attempt else ""
        for result in (heap, gor):
            if result:
                print(f"attempt {attempt + 1}{paused}: " + "\n".join(result[1]), flush=True)
        heap_ok = heap_ok or heap[0]
        gor_ok = gor_ok or gor[0]
        if heap_ok and gor_ok:
            break
    assert heap_ok, "leakhound's heap never matched the program's own /debug/pprof/heap"
    assert gor_ok, "leakhound's goroutines never matched the program's own /debug/pprof/goroutine"
    return first


def begin(program, window):
    """The command line every real-program test takes (--window), as root;
    prints the program's Go version."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--window", default=window)
    a = ap.parse_args()
    lhtest.require_root()
    print(f"program: {go_version(program)}")
    return a


def run_checks(prog, url, go_prefix, window, load=None, settle_s=3, legitimate=None):
    """What every real-program test checks once its program runs under its
    load: after `settle_s` of steady state, leakhound's heap and goroutines
    match the program's own pprof, nothing is reported as leaking but what
    `legitimate` explains, and the load never failed. Returns the report."""
    wait_a_little(settle_s)
    print(inspect_line(prog.pid))
    rep = check_program(prog.pid, url, go_prefix, window, load=load)
    check_steady(rep, legitimate)
    if load:
        assert load.calls > 0 and load.failures == 0, (load.calls, load.failures)
    return rep


def check_steady(rep, legitimate=None):
    """A program in steady state is not reported as leaking: no goroutine site
    and no heap stack with verdict `leak`, apart from heap findings that
    `legitimate(finding)` explains (growth the program is meant to have)."""
    g_leaks = [(f["created_at"]["function"], f["count"]) for f in rep["goroutines"]
               if f["verdict"] == "leak"]
    h_leaks = [f for f in rep["heap"] if f["verdict"] == "leak"]
    growing = [leaf(f) for f in rep["heap"] if f["verdict"] == "growing"]
    print(f"verdicts: goroutine sites 'leak' {g_leaks or 'none'}; heap 'leak' "
          f"{[(leaf(f), f['inuse_bytes']) for f in h_leaks] or 'none'}, 'growing' "
          f"{growing or 'none'}")
    assert not g_leaks, f"steady-state program reported as leaking goroutines: {g_leaks}"
    wrong = [leaf(f) for f in h_leaks if not (legitimate and legitimate(f))]
    assert not wrong, f"steady-state program reported as leaking heap at {wrong}"


def inspect_line(pid):
    """What leakhound inspect says of the executable (go version, stripped, pie)."""
    code, out, err = lhtest.run_leakhound(["inspect", str(pid)])
    assert code == 0, f"leakhound inspect {pid} exited {code}: {err}"
    keep = ("executable:", "go version:", "stripped:", "pie:", "functions:")
    return "\n".join(ln for ln in out.splitlines() if ln.startswith(keep))


class Program:
    """A real program started in its own working directory, ready when
    ready_url answers 200, terminated on exit."""

    def __init__(self, argv, ready_url, cwd, env=None, exe=None):
        self.argv, self.ready_url, self.cwd, self.env = argv, ready_url, cwd, env
        self.exe = exe or argv[0]  # the program (argv[0] may be a wrapper that execs it)
        self.proc = None

    def __enter__(self):
        assert os.access(self.exe, os.X_OK), f"{self.exe} is missing: scripts/setup.sh installs it"
        self.log = open(os.path.join(self.cwd, "program.log"), "w")
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT)

        def ready():
            assert self.proc.poll() is None, \
                f"{self.argv[0]} exited: " + open(self.log.name).read()[-800:]
            return http_get(self.ready_url)[0] == 200
        lhtest.wait_until(f"{self.ready_url} to answer 200", ready, 60)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class Load:
    """Calls fn every `every` seconds on a thread until stopped; counts the
    calls and the failures (fn returns False or raises)."""

    def __init__(self, fn, every=0.2):
        self.fn, self.every = fn, every
        self.calls = self.failures = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            with self.lock:
                try:
                    ok = self.fn()
                except OSError:
                    ok = False
                self.calls += 1
                self.failures += 0 if ok else 1
            self.stop.wait(self.every)

    @contextlib.contextmanager
    def paused(self):
        """No request in flight while inside (the one running is finished)."""
        with self.lock:
            time.sleep(0.2)  # the server's side of the last connection ends too
            yield

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        print(f"load: {self.calls} requests, {self.failures} failed")


def go_version(path):
    return subprocess.run(["go", "version", path], capture_output=True, text=True).stdout.strip()


def wait_a_little(seconds):
    """Lets the load reach a steady state before attaching."""
    time.sleep(seconds)
