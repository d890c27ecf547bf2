#!/usr/bin/env python3
"""End to end: `leakhound daemon` on the real kernel with real Go targets.

- prometheus: a real Prometheus server (Debian's, loopback, temporary data
  dir) scrapes the daemon while 10 Go targets of mixed versions, some leaking,
  start and stop; a PromQL query over its HTTP API returns the leak verdict for
  exactly the leaking ones still running. With --native, a cgo target and a
  target in a memory-limited cgroup, every query of the Grafana dashboard
  (dashboard_checks) is valid and returns data, and its node variable lists
  the daemon's NODE_NAME. `promtool check metrics` is clean;
  `go tool pprof` reads /debug/pprof/heap and /debug/pprof/goroutine; the
  report endpoint serves schema-valid JSON; bad queries get clear errors.
- native: a daemon with --native and no --include-exe watches the whole host
  for 4+ report periods: the cgo target's C leak is on /api/v1/report and on
  /metrics, growing, at every period (a report used to detach the probes); a
  shell loop, a C program, a second daemon and the daemon itself are never
  attached. The second daemon includes the C program by --include-exe and
  reports its leak. Being --read-only, it never asks a Go runtime for its
  goroutine leak check. The cgo target's RSS breakdown is on /metrics
  (leakhound_rss_growth_bytes_per_second, every part, native growing, the
  parts adding up to part="rss"; leakhound_rss_explained_ratio in [0, 1]).
- proof: a daemon with a short --leak-check-every watches a Go 1.26 and a
  Go 1.27 target leaking on a private channel: both get
  leakhound_goroutines_leaked for that site on /metrics and a gc_proof finding
  on /api/v1/report, never for the goroutines on a global channel or the
  worker pool; the runtime is asked at most once per period; the journaled
  request is gone once the daemon stops. It runs alongside the other cases.
- oom: a leaking target in a memory cgroup of its own (no swap) is watched
  until its leak is judged, then the cgroup's memory.max goes down to 64 MiB
  and the kernel's OOM killer takes it: /api/v1/oom holds its PID, the kill
  (constraint cgroup, its anonymous RSS, the cgroup's memory.events counting
  it) and its last report, whose top heap finding is the leak at
  main.leakOne; leakhound_oom_kills_total counts it. It runs alongside.
- short-lived: 200 Go processes start and exit under the daemon: every one is
  attached and detached (log), the daemon holds no more BPF objects after them
  than before, none after it exits, and its RSS stays flat.

The targets are private copies of build/targets binaries in a temporary
directory, and the daemon only watches that directory (--include-exe), so the
BPF suites running alongside are not touched; the native case's host-wide
daemon is --read-only for the same reason.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dashboard_checks  # noqa: E402
import lhtest  # noqa: E402


# The harness's (html_e2e uses them through this module too).
free_port, http_get, wait_until = lhtest.free_port, lhtest.http_get, lhtest.wait_until
# The node label the daemon gets from the downward API in Kubernetes.
NODE = "lh-test-node"


def ere_escape(s):
    """s as a POSIX extended regular expression matching itself."""
    return re.sub(r"([.\[\]()*+?{}|^$\\])", r"\\\1", s)


class Daemon:
    """A running `leakhound daemon`, its stderr log collected."""

    def __init__(self, watch_dir, extra=(), exe=None, report_every="1s", window="60s",
                 env=None):
        """watch_dir: the only directory watched (--include-exe), or None: the host.
        env: variables added to the daemon's environment."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        include = ["--include-exe", "^" + ere_escape(watch_dir) + "/"] if watch_dir else []
        args = [exe or lhtest.LEAKHOUND, *(["-v"] if os.environ.get("LH_DAEMON_VERBOSE") else []),
                "daemon", "--listen", f"127.0.0.1:{self.port}",
                "--interval", "500ms", "--report-every", report_every, "--window", window,
                *include, *extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, env=dict(os.environ, **env) if env else None)
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            wait_until("the daemon to serve",
                       lambda: self.proc.poll() is None and
                       http_get(self.url + "/healthz")[0] == 200, 30)
        except AssertionError as e:
            self.proc.kill()
            self._reader.join(timeout=5)
            raise AssertionError(f"{e}; daemon log: {self.log()[-5:]}")

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def log(self):
        return list(self.lines)

    def pids(self, verb):
        rx = re.compile(rf"daemon: {verb} PID (\d+)")
        return {int(m.group(1)) for l in self.log() for m in [rx.search(l)] if m}

    def metrics(self):
        code, body = http_get(self.url + "/metrics")
        assert code == 200, f"/metrics: HTTP {code}"
        return body.decode()

    def json(self, path):
        code, body = http_get(self.url + path)
        assert code == 200, f"{path}: HTTP {code}: {body[:300]!r}"
        return json.loads(body)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(2)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("the daemon did not stop within 60 s of SIGINT")
        self._reader.join(timeout=5)
        assert self.proc.returncode == 0, \
            f"daemon exited {self.proc.returncode}: {self.log()[-5:]}"


def bpf_objects(pid):
    """BPF programs, maps, links and perf events (uprobes, tracepoints) the
    process holds, by kind, from its file descriptors."""
    kinds = {}
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            link = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        m = re.match(r"anon_inode:\[?(bpf-prog|bpf-map|bpf_link|perf_event)\]?", link)
        if m:
            kinds[m.group(1)] = kinds.get(m.group(1), 0) + 1
    return kinds


def perf_probes(pid):
    """bpftool's list of the perf events with a BPF program that pid holds."""
    out = subprocess.run(["bpftool", "-j", "perf", "list"], capture_output=True, text=True,
                         check=True).stdout
    return [p for p in json.loads(out or "[]") if p["pid"] == pid]


def attach_times(log):
    """PID -> wall-clock time of its "attached" log line."""
    out = {}
    rx = re.compile(r"^(\S+) leakhound info: daemon: attached PID (\d+)")
    for l in log:
        m = rx.match(l)
        if m:
            t = time.mktime(time.strptime(m.group(1)[:19], "%Y-%m-%dT%H:%M:%S"))
            out[int(m.group(2))] = t + float("0" + m.group(1)[19:])  # local time, as spdlog
    return out


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for l in f:
            if l.startswith("VmRSS:"):
                return int(l.split()[1])
    raise AssertionError("no VmRSS")


def copy_target(tmp, name, minor, variant="default"):
    src = lhtest.target_path(name, minor, variant)
    dst = os.path.join(tmp, f"{name}-go{minor}")
    if not os.path.exists(dst):
        shutil.copy2(src, dst)
    return dst


def heap_summary(d, pid):
    """The daemon's top heap findings of pid, for a failure message."""
    try:
        rep = d.json(f"/api/v1/report?pid={pid}")
    except AssertionError as e:
        return str(e)
    return [(f["verdict"], lhtest.first_user_frame(f) or {}).__repr__()[:80] + " " +
            repr({k: f["trend"].get(k) for k in ("reason", "p_value", "signal_to_noise", "n")})
            + f" series={[round(p[1] / 1024) for p in f.get('series', [])][-40:]}"
            for f in rep["heap"][:3]]


def start_target(path, *args):
    t = lhtest.Target([path, *args])
    t.wait_for("^ready")
    return t


def case_prometheus(minors):
    tmp = tempfile.mkdtemp(prefix="lh-daemon-prom-")
    d = prom = cg = cgo = None
    targets = []
    try:
        # --native and NODE_NAME, a cgo target and a target in a cgroup with a
        # limit: every panel of the Grafana dashboard has data (below).
        d = Daemon(tmp, ["--native"], env={"NODE_NAME": NODE})
        prom = lhtest.Prometheus(tmp, [f"127.0.0.1:{d.port}"])
        cg = lhtest.LimitedCgroup(1 << 30, "-daemon")
        # 10 processes, versions mixed: 5 leak 4 MiB/s, 5 are controls with
        # the same churn. Started in two waves; 2 leaking and 2 controls stop
        # before the end. 4 MiB/s: the sampler sees ~8 of the leak's objects a
        # second, so the youngest targets' windows hold enough of them for the
        # verdict (at 1 MiB/s a 12 s window has ~24, and a Poisson lull in its
        # second half was judged "growing": seen in CI).
        plan = []
        for i in range(10):
            minor = minors[i % len(minors)]
            leaking = i % 2 == 0
            plan.append((copy_target(tmp, "heapleak", minor), leaking))
        for path, leaking in plan[:6]:
            args = ["-churn", "20", "-leak-rate", str(4 << 20 if leaking else 0)]
            targets.append((start_target(path, *args), leaking))
        time.sleep(4)
        for path, leaking in plan[6:]:
            args = ["-churn", "20", "-leak-rate", str(4 << 20 if leaking else 0)]
            targets.append((start_target(path, *args), leaking))
        # A leaking target that runs to the end: its cgroup's usage grows
        # towards the limit (the forecast).
        cg.add(targets[6][0].pid)
        # Little C churn, as in the native case.
        cgo = start_target(copy_target(tmp, "cgoleak", minors[-1], "cgo"), "-leak-rate", "50",
                           "-prealloc", "0", "-churn-rate", "100", "-realloc-rate", "2")
        all_pids = {t.pid for t, _ in targets} | {cgo.pid}
        wait_until("every target attached", lambda: all_pids <= d.pids("attached"), 30)
        time.sleep(8)
        # Two leaking and two controls go away mid-run.
        gone = [t for t, leaking in targets if leaking][:2] + \
               [t for t, leaking in targets if not leaking][:2]
        for t in gone:
            t.stop()
        wait_until("the stopped targets detached",
                   lambda: {t.pid for t in gone} <= d.pids("detached"), 30)
        running = [(t, leaking) for t, leaking in targets if t not in gone]
        want = {t.pid for t, leaking in running if leaking}
        # Leaks need points: let the window fill, then ask Prometheus.
        q = 'max by (pid) (leakhound_leak_verdicts{kind="heap",verdict="leak"}) > 0'

        def leaking_now():
            got = {int(r["metric"]["pid"]) for r in prom.query(q)}
            return got if got == want else None
        try:
            wait_until("PromQL to flag exactly the leaking targets", leaking_now, 60)
        except AssertionError:
            got = {int(r["metric"]["pid"]) for r in prom.query(q)}
            raise AssertionError(f"PromQL {q}: PIDs {sorted(got)}, want {sorted(want)} "
                                 f"(controls {sorted(t.pid for t, l in running if not l)})")
        # And it stays so: the controls do not drift into a leak later on.
        time.sleep(5)
        got = {int(r["metric"]["pid"]) for r in prom.query(q)}
        if got != want:
            why = {p: heap_summary(d, p) for p in sorted(got ^ want)}
            raise AssertionError(f"PromQL {q} a while later: PIDs {sorted(got)}, want "
                                 f"{sorted(want)}; their heap findings now: {why}")
        # Every running target is known to Prometheus, the stopped ones are not.
        watched = {t.pid for t, _ in running} | {cgo.pid}
        info = {int(r["metric"]["pid"]) for r in prom.query("leakhound_process_info")}
        assert info == watched, f"process_info {info}"

        # The exposition is clean.
        text = d.metrics()
        chk = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                             text=True)
        assert chk.returncode == 0, f"promtool check metrics: {chk.stdout}{chk.stderr}"
        # The Grafana dashboard: every query valid, and with data.
        n, skipped = dashboard_checks.check(prom, text, NODE)
        print(f"  prometheus: {n} dashboard queries return data"
              + (f"; skipped, not exported here: {skipped}" if skipped else ""), flush=True)
        leak_pid = sorted(want)[0]
        assert re.search(rf'leakhound_top_stack_inuse_bytes{{pid="{leak_pid}".*'
                         rf'rank="1",function="main.leakOne",verdict="leak",node="{NODE}"}}', text), \
            "top stack of a leaking target is not main.leakOne"

        # The API: processes, the report contract, pprof, clear errors.
        procs = d.json("/api/v1/processes")["processes"]
        assert {p["pid"] for p in procs} == watched, procs
        rep = d.json(f"/api/v1/report?pid={leak_pid}")
        errors = lhtest.validate_report(rep)
        assert not errors, f"/api/v1/report does not match the schema: {errors[:5]}"
        assert rep["heap"][0]["verdict"] == "leak", rep["heap"][0]["verdict"]
        for path, code in (("/api/v1/report", 400), ("/api/v1/report?pid=abc", 400),
                           ("/api/v1/report?pid=1", 404), ("/debug/pprof/heap?pid=-3", 400)):
            got, body = http_get(d.url + path)
            assert got == code and b"error" in body, f"{path}: HTTP {got} {body[:200]!r}"
        for kind, want_fn in (("heap", "main.leakOne"), ("goroutine", "runtime.gopark")):
            top = subprocess.run(["go", "tool", "pprof", "-top",
                                  f"{d.url}/debug/pprof/{kind}?pid={leak_pid}"],
                                 capture_output=True, text=True, timeout=120)
            assert top.returncode == 0, f"go tool pprof {kind}: {top.stderr}"
            assert want_fn in top.stdout, f"pprof {kind} -top lacks {want_fn}:\n{top.stdout}"
    finally:
        for t, _ in targets:
            t.stop()
        if cgo:
            cgo.stop()
        if prom:
            prom.stop()
        if d:
            d.stop()
        if cg:
            cg.remove()
        shutil.rmtree(tmp, ignore_errors=True)


def native_leak(rep, fn):
    """The report's native finding with a frame in fn, or None."""
    for f in rep.get("native", []):
        if any(fr["function"] == fn for fr in f["stack"]):
            return f
    return None


def metric_value(text, name, pid):
    m = re.search(rf'^{name}{{pid="{pid}"[^}}]*}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else None


def case_native(minors):
    tmp = tempfile.mkdtemp(prefix="lh-daemon-native-")
    cdir = os.path.join(tmp, "c")
    os.makedirs(cdir)
    d1 = d2 = None
    procs = []
    try:
        cgo = os.path.join(tmp, "cgoleak")
        shutil.copy2(lhtest.target_path("cgoleak", minors[-1], "cgo"), cgo)
        # cleak finds its libleaky through rpath $ORIGIN: copy both.
        src = lhtest.target_path_c("cleak-fp")
        for f in os.listdir(os.path.dirname(src)):
            if f.startswith("libleaky"):
                shutil.copy2(os.path.join(os.path.dirname(src), f), cdir)
        cleak = os.path.join(cdir, "cleak")
        shutil.copy2(src, cleak)
        # A renamed copy of leakhound: recognised by its marker, not its name.
        other = os.path.join(tmp, "agent-copy")
        shutil.copy2(lhtest.LEAKHOUND, other)

        shell = subprocess.Popen(["sh", "-c", "while :; do sleep 0.2; done"])
        procs.append(shell)
        c_prog = lhtest.Target([cleak, "-leak-rate", "50"])
        c_prog.wait_for("^ready")
        # Little C churn: this case is about the reports, not the CPU budget
        # (whose measured cost per hit a loaded machine inflates).
        go_prog = lhtest.Target([cgo, "-leak-rate", "50", "-prealloc", "0", "-churn-rate", "100",
                                 "-realloc-rate", "2"])
        go_prog.wait_for("^ready")
        procs += [c_prog, go_prog]
        # The host-wide daemon, read-only: it may see other Go programs. No
        # memory budget: the native tables of the other suites' cgo targets
        # (44 MiB each) would count against it and shed this case's.
        d1 = Daemon(None, ["--native", "--read-only", "--memory-budget", "0"], report_every="2s")
        # Beside it, a second daemon (a leakhound d1 must leave alone) that
        # names the C program.
        d2 = Daemon(cdir, ["--native"], exe=other, report_every="2s")
        wait_until("the cgo target attached", lambda: go_prog.pid in d1.pids("attached"), 30)
        wait_until("the C program attached by the daemon that names it",
                   lambda: c_prog.pid in d2.pids("attached"), 30)

        wait_until("the first report of the cgo target",
                   lambda: http_get(f"{d1.url}/api/v1/report?pid={go_prog.pid}")[0] == 200, 30)
        # Four report periods and more: the leak is there at every one, growing.
        seen = []
        deadline = time.monotonic() + 40
        while len(seen) < 5 and time.monotonic() < deadline:
            time.sleep(2.2)
            rep = d1.json(f"/api/v1/report?pid={go_prog.pid}")
            if not rep.get("native_stats", {}).get("tracked"):
                raise AssertionError(f"report {len(seen) + 1}: native not tracked: "
                                     f"{rep.get('native_stats')}")
            f = native_leak(rep, "main.leakCString")
            val = metric_value(d1.metrics(), "leakhound_native_outstanding_bytes", go_prog.pid)
            if f is None or val is None:
                raise AssertionError(f"report {len(seen) + 1}: no main.leakCString finding "
                                     f"({f is not None}) or no outstanding metric ({val}); "
                                     f"notes: {rep.get('notes')}")
            if not seen or rep["window"]["duration_s"] > seen[-1][0]:
                seen.append((rep["window"]["duration_s"], f["inuse_bytes"], val))
        assert len(seen) >= 5, f"only {len(seen)} distinct reports in 40 s: {seen}"
        inuse = [s[1] for s in seen]
        metric = [s[2] for s in seen]
        assert inuse[-1] > inuse[0] and metric[-1] > metric[0], \
            f"the C leak did not grow from report to report: {seen}"
        assert f["verdict"] in ("leak", "growing"), f"cgo leak judged {f['verdict']}: {f['trend']}"
        # Where its RSS goes, on /metrics: every part, native growing, the
        # parts adding up to the RSS growth (one scrape: one report).
        text = d1.metrics()
        parts = {m.group(1): float(m.group(2)) for m in re.finditer(
            rf'^leakhound_rss_growth_bytes_per_second{{pid="{go_prog.pid}"[^}}]*part="(\w+)"'
            r'[^}]*} (\S+)$', text, re.M)}
        want = {"rss", "heap_live", "gc_headroom", "stacks", "runtime_metadata", "native",
                "native_allocator", "unexplained"}
        assert set(parts) == want, f"RSS parts on /metrics: {parts}"
        assert parts["native"] > 0, parts
        total = sum(v for k, v in parts.items() if k != "rss")
        assert abs(total - parts["rss"]) <= 1e-6 * max(abs(parts["rss"]), 1), parts
        ratio = metric_value(text, "leakhound_rss_explained_ratio", go_prog.pid)
        assert ratio is not None and 0 <= ratio <= 1, ratio
        # --read-only: the runtime's goroutine leak check is never asked for.
        lc = rep["goroutine_stats"]["leak_check"]
        assert lc["requests"] == 0 and "--read-only" in lc["why_not"], lc

        # The C program's leak, on the daemon that named it.
        rep = d2.json(f"/api/v1/report?pid={c_prog.pid}")
        assert native_leak(rep, "leaky_parse_record"), \
            f"cleak's leak not on d2's report: {[f['stack'][:3] for f in rep['native'][:3]]}"

        # Never attached: non-Go processes not named, leakhounds (the other
        # daemon, itself).
        never = {"shell loop": shell.pid, "C program": c_prog.pid, "second daemon": d2.proc.pid,
                 "itself": d1.proc.pid}
        for what, pid in never.items():
            assert pid not in d1.pids("attached"), f"the host-wide daemon attached the {what}"
        assert d1.proc.pid not in d2.pids("attached") and d2.proc.pid not in d2.pids("attached")
        procs_api = {p["pid"] for p in d1.json("/api/v1/processes")["processes"]}
        assert not procs_api & set(never.values()), f"/api/v1/processes lists {procs_api}"
        print(f"  native: {len(seen)} reports, C leak outstanding {[round(v / 1024) for v in metric]} "
              f"KiB; RSS parts (KiB/s) {({k: round(v / 1024, 1) for k, v in parts.items()})}, "
              f"explained {ratio:.2f}", flush=True)
    finally:
        for p in procs:
            if isinstance(p, lhtest.Target):
                p.stop()
            else:
                p.kill()
                p.wait()
        for d in (d1, d2):
            if d:
                d.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def case_proof(minors):
    """The runtime's goroutine leak check, asked by the daemon every 2 s."""
    import proof_e2e  # its site lines and describe()
    tmp = tempfile.mkdtemp(prefix="lh-daemon-proof-")
    state = os.path.join(tmp, "state")
    os.mkdir(state)
    period = 2.0
    d = None
    targets = []
    try:
        for minor in minors:
            exe = os.path.join(tmp, f"goleak-go{minor}")
            shutil.copy2(lhtest.target_path("goleak", minor, "default"), exe)
            targets.append(start_target(exe, "-modes", "chan,global,pool,churn", "-rate", "0.5",
                                        "-pre", "2", "-block-main"))
        t0 = time.monotonic()  # before any attach: bounds the requests from above
        d = Daemon(tmp, ["--leak-check-every", f"{period:g}s"],
                   env=dict(os.environ, LEAKHOUND_STATE_DIR=state))
        chan_line = proof_e2e.SITES["chan"]
        for t in targets:
            def proven():
                code, body = http_get(f"{d.url}/api/v1/report?pid={t.pid}")
                if code != 200:  # 503 until the first report
                    return None
                rep = json.loads(body)
                chan = proof_e2e.site(rep, "chan")
                return rep if chan and chan["evidence"] == "gc_proof" else None
            rep = wait_until(f"PID {t.pid}: a gc_proof finding", proven, 120)
            errors = lhtest.validate_report(rep)
            assert not errors, f"report does not match the schema: {errors[:10]}"
            for mode in ("global", "pool"):
                g = proof_e2e.site(rep, mode)
                assert g and g["evidence"] == "trend", f"{mode}: {proof_e2e.describe(g)}"
            lc = rep["goroutine_stats"]["leak_check"]
            elapsed = time.monotonic() - t0
            assert lc["available"] and lc["ran"] and 1 <= lc["requests"] <= elapsed / period + 1, \
                (lc, elapsed)
            rx = re.compile(r'^leakhound_goroutines_leaked\{pid="%d",[^}]*site="main\.leakChan '
                            r'\(goleak/main\.go:%d\)",function="main\.leakChan\.func1"\} (\d+)'
                            % (t.pid, chan_line), re.M)
            m = wait_until(f"PID {t.pid}: leakhound_goroutines_leaked",
                           lambda: rx.search(d.metrics()), 30)
            assert int(m.group(1)) >= 2, m.group(0)
        text = d.metrics()
        leaked = [l for l in text.splitlines() if l.startswith("leakhound_goroutines_leaked{")]
        assert len(leaked) == len(targets), leaked  # the chan site only
        # The dashboard's panels on it, through a real Prometheus (the
        # prometheus case's targets have no proven leak to show).
        prom = lhtest.Prometheus(tmp, [f"127.0.0.1:{d.port}"])
        try:
            n = dashboard_checks.check_families(prom, {"leakhound_goroutines_leaked"})
            print(f"  proof: {n} dashboard queries on leakhound_goroutines_leaked return data",
                  flush=True)
        finally:
            prom.stop()
        d.stop()
        d = None
        left = os.listdir(state)
        assert not left, f"journal entries left after the daemon stopped: {left}"
        for t in targets:
            assert t.proc.poll() is None, f"target exited with {t.proc.returncode}"
    finally:
        if d:
            d.proc.kill()
        for t in targets:
            t.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def case_short_lived(minors, count, parallel):
    tmp = tempfile.mkdtemp(prefix="lh-daemon-short-")
    d = None
    try:
        paths = [copy_target(tmp, "heapleak", m) for m in minors]
        d = Daemon(tmp)
        time.sleep(1)
        before = bpf_objects(d.proc.pid)
        probes_before = perf_probes(d.proc.pid)
        started = []
        spawned = {}  # PID -> wall-clock time of its start
        rss = {}

        def batch(n):
            procs = []
            for i in range(n):
                path = paths[(len(started) + i) % len(paths)]
                procs.append(subprocess.Popen([path, "-duration", "3s", "-churn", "2",
                                               "-leak-rate", "0", "-interval", "1h"],
                                              stdout=subprocess.DEVNULL))
                spawned[procs[-1].pid] = time.time()
            for p in procs:
                assert p.wait(timeout=60) == 0, f"target {p.pid} exited {p.returncode}"
            started.extend(p.pid for p in procs)

        def settled():
            """Every process gone from the daemon, every probe set detached
            (the reaper thread removes links in the background)."""
            m = d.metrics()
            return (re.search(r"^leakhound_processes_attached 0$", m, re.M) and
                    re.search(r"^leakhound_probe_sets 0$", m, re.M))

        warm = None  # BPF objects once the first batch has come and gone
        while len(started) < count:
            batch(min(parallel, count - len(started)))
            if warm is None:
                wait_until("the first batch detached", settled, 30)
                warm = bpf_objects(d.proc.pid)
            if (not rss and len(started) >= count // 4) or len(started) == count:
                time.sleep(2)  # let the daemon catch up with the exits
                rss[len(started)] = rss_kib(d.proc.pid)
        want = set(started)
        try:
            wait_until("every short-lived process detached", lambda: want <= d.pids("detached"), 30)
        except AssertionError:
            never = sorted(want - d.pids("attached"))
            stuck = sorted((want & d.pids("attached")) - d.pids("detached"))
            about = [l for l in d.log() for p in (never + stuck)[:5] if f"PID {p} " in l or f"PID {p}:" in l]
            raise AssertionError(f"of {count} short-lived processes, {len(never)} never attached "
                                 f"({never[:10]}), {len(stuck)} attached but never detached "
                                 f"({stuck[:10]}); daemon log about them: {about[:10]}")
        try:
            wait_until("every probe set detached", settled, 30)
        except AssertionError:
            raise AssertionError("processes or probe sets left: " + " ".join(
                l for l in d.metrics().splitlines()
                if l.startswith(("leakhound_processes_attached", "leakhound_probe_sets"))))
        # No link (uprobe) outlives its processes, and nothing accumulates per
        # process: the go_heap BPF object, loaded for the first Go process, is
        # kept for the next ones (its programs and maps, no links).
        after = bpf_objects(d.proc.pid)
        assert after == warm, f"BPF objects held: {warm} after the first batch, {after} at the end"
        assert after.get("bpf_link") == before.get("bpf_link"), \
            f"links left: {before} before any process, {after} after them"
        assert perf_probes(d.proc.pid) == probes_before, \
            f"perf events left: {perf_probes(d.proc.pid)}"
        # Flat: what 3/4 of the processes added to the resident set after the
        # first quarter, against what one process's session holds.
        first = min(rss)
        grew = rss[count] - rss[first]
        assert grew < 2048, f"daemon RSS grew {grew} KiB from {first} to {count} processes ({rss})"
        prog_ids = [p["prog_id"] for p in probes_before]
        pid = d.proc.pid
        log = d.log()
        d.stop()
        d = None
        # Gone with the daemon: its programs are unloaded.
        # (The kernel frees them after an RCU grace period.)
        def unloaded():
            return all(subprocess.run(["bpftool", "prog", "show", "id", str(i)],
                                      capture_output=True).returncode != 0 for i in prog_ids)
        wait_until(f"the BPF programs {prog_ids} of daemon {pid} to be unloaded", unloaded, 30)
        # From exec to attach (the daemon waits settle_s = 0.5 s for the runtime
        # to initialize first): measured and shown, not a pass/fail limit.
        lat = sorted(t - spawned[p] for p, t in attach_times(log).items() if p in spawned)
        print(f"  short-lived: {count} attached and detached; exec to attach: median "
              f"{lat[len(lat) // 2]:.2f} s, max {lat[-1]:.2f} s; RSS {rss} KiB; "
              f"BPF objects {before} at start, {after} after", flush=True)
    finally:
        if d:
            d.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def case_oom(minor):
    tmp = tempfile.mkdtemp(prefix="lh-daemon-oom-")
    d = cg = t = None
    try:
        d = Daemon(tmp)
        # Room to leak until the daemon has judged the leak (the last report
        # before the kill must show it), then a 64 MiB limit the leak is past.
        cg = lhtest.LimitedCgroup(256 << 20, "-oom", no_swap=True)
        path = copy_target(tmp, "heapleak", minor)
        # 30 MB/s of churn: a GC every second or two at the heap's size
        # near the kill, enough points for the last report to judge (at 10
        # MB/s a CI run's last report had 6, a leak's least p 0.0043).
        t = lhtest.Target([path, "-leak-rate", str(4 << 20), "-churn", "30"])
        cg.add(t.pid)  # before the daemon attaches (it settles 0.5 s first)
        t.wait_for("^ready")
        wait_until("the target attached", lambda: t.pid in d.pids("attached"), 30)
        status = d.json("/api/v1/oom")
        assert status["available"] and status["constraint_known"] and not status["kills"], status

        def judged():
            code, body = http_get(f"{d.url}/api/v1/report?pid={t.pid}")
            if code != 200:
                return None
            heap = json.loads(body)["heap"]
            return heap and heap[0]["verdict"] == "leak" and \
                (lhtest.first_user_frame(heap[0]) or {}).get("function") == "main.leakOne"
        wait_until("the leak judged", judged, 60)
        # A slow machine may have judged it late: cgroup v1 refuses a limit it
        # cannot reclaim down to (EBUSY), so it stays above the usage.
        usage = cg.usage()
        cg.set_limit(max(64 << 20, usage + (16 << 20)))
        t.proc.wait(timeout=60)
        assert t.proc.returncode == -9, f"target exited {t.proc.returncode}, not SIGKILLed"
        assert cg.oom_kills() == "1", f"the cgroup counts {cg.oom_kills()} OOM kills"

        def recorded():
            kills = d.json("/api/v1/oom")["kills"]
            return kills if kills else None
        kills = wait_until("the kill on /api/v1/oom", recorded, 30)
        assert [k["pid"] for k in kills] == [t.pid], \
            (t.pid, [{x: k[x] for x in ("pid", "comm", "time", "killer_pid")} for k in kills])
        k = d.json(f"/api/v1/oom?pid={t.pid}")
        assert k["exe"] == path and k["constraint"] == "cgroup" and k["cgroup"] == cg.name, \
            {x: k[x] for x in ("exe", "constraint", "cgroup")}
        # The kernel's counters at the kill hold the leak's pages (written
        # through), as the target last counted them.
        leaked = int(t.ticks()[-1][1]["leaked_bytes"])
        anon = k["memory"]["anon_rss_bytes"]
        assert leaked <= anon < k["memory"]["total_vm_bytes"], (leaked, k["memory"])
        rep = k["report"]
        assert rep is not None, "no last report kept"
        errors = lhtest.validate_report(rep)
        assert not errors, f"the kept report does not match the schema: {errors[:5]}"
        assert rep["target"]["pid"] == t.pid
        top = rep["heap"][0]
        assert top["verdict"] == "leak" and \
            lhtest.first_user_frame(top)["function"] == "main.leakOne", \
            (top["verdict"], top["stack"][:3], top["trend"], top["series"])
        assert k["report_at"] <= k["time"], (k["report_at"], k["time"])
        got, _ = http_get(f"{d.url}/api/v1/oom?pid=1")
        assert got == 404, f"/api/v1/oom?pid=1: HTTP {got}"
        text = d.metrics()
        exe = os.path.basename(path)
        assert re.search(rf'^leakhound_oom_kills_total{{exe="{exe}",namespace="",'
                         r'constraint="cgroup"} 1$', text, re.M), \
            [l for l in text.splitlines() if "oom" in l]
        print(f"  oom: leak judged at {usage >> 20} MiB in the cgroup; PID {t.pid} killed with "
              f"{anon >> 20} MiB anonymous ({leaked >> 20} MiB leaked), its last report "
              f"{k['time'] - k['report_at']:.1f} s before", flush=True)
    finally:
        if t:
            t.stop()
        if d:
            d.stop()
        if cg:
            cg.remove()
        shutil.rmtree(tmp, ignore_errors=True)


def proof_minors(minors):
    """1.26 and the newest release, as far as the run's versions go (1.26+ only)."""
    new = [m for m in minors if tuple(map(int, m.split("."))) >= (1, 26)]
    return sorted(set(new[:1] + new[-1:]), key=lambda m: tuple(map(int, m.split("."))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", default=",".join(lhtest.matrix("default")),
                    help="default: lhtest.matrix, all with LEAKHOUND_FULL=1")
    ap.add_argument("--count", type=int, default=200, help="short-lived processes")
    ap.add_argument("--parallel", type=int, default=20)
    ap.add_argument("--only", default="", help="comma-separated case names")
    a = ap.parse_args()
    lhtest.require_root()
    for tool in ("prometheus", "promtool", "bpftool", "go"):
        if not shutil.which(tool):
            print(f"FAIL: {tool} not found (scripts/setup.sh installs it)")
            return 1
    minors = a.versions.split(",")
    cases = [("prometheus", case_prometheus, minors),
             ("native", case_native, minors),
             ("short-lived", case_short_lived, minors, a.count, a.parallel)]
    # Go 1.26+ only (the runtime's detector); mostly waiting for GC cycles.
    alongside = [("proof", case_proof, [m for m in proof_minors(minors)]),
                 ("oom", case_oom, minors[-1])]
    if a.only:
        cases = [c for c in cases if c[0] in a.only.split(",")]
        alongside = [c for c in alongside if c[0] in a.only.split(",")]
    # One after the other: the short-lived case measures the daemon's RSS
    # (the proof case's own daemon and targets do not count in it).
    return lhtest.run_cases(cases, 1, alongside)


if __name__ == "__main__":
    raise SystemExit(main())
