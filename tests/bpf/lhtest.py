"""Shared helpers for leakhound's BPF end-to-end tests (run as root, real
kernel, real Go targets from scripts/build-targets.sh)."""
import contextlib
import errno
import json
import os
import re
import subprocess
import sys
import threading
import time
import zlib

# attach_json validates every report against docs/report.schema.json.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "schema"))
from validate_report import validate as validate_report  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("LEAKHOUND_BUILD_DIR", os.path.join(ROOT, "build"))
LEAKHOUND = os.path.join(BUILD, "leakhound")
TARGETS = os.environ.get("LEAKHOUND_TARGETS_DIR", os.path.join(BUILD, "targets"))
VERSIONS = [l.strip() for l in open(os.path.join(ROOT, "scripts", "go-versions.txt"))
            if l.strip() and not l.startswith("#")]
MINORS = [".".join(v.split(".")[:2]) for v in VERSIONS]
# LEAKHOUND_FULL=1 (scripts/test.sh --full): every suite runs every Go release.
FULL = os.environ.get("LEAKHOUND_FULL") == "1"


def matrix(variant="default"):
    """The Go releases a suite runs for a build variant: all of MINORS under
    LEAKHOUND_FULL=1; otherwise (CI) the oldest, the newest and one middle
    release, which differs per variant (crc32 of its name) so that the
    variants together cover more of the middle. `python3 lhtest.py` prints it."""
    if FULL or len(MINORS) <= 3:
        return list(MINORS)
    middle = MINORS[1 + zlib.crc32(variant.encode()) % (len(MINORS) - 2)]
    return [MINORS[0], middle, MINORS[-1]]


def versions_arg(arg, variant="default"):
    """A suite's --versions value (comma-separated), or its matrix when not given."""
    return arg.split(",") if arg else matrix(variant)


def require_root():
    """BPF tests never skip: as root they run, otherwise they fail loudly."""
    if os.geteuid() != 0:
        print("FAIL: BPF tests need root (they load BPF programs and attach uprobes)")
        sys.exit(1)


def target_path(name, minor, variant):
    p = os.path.join(TARGETS, f"{name}-go{minor}-{variant}")
    if not os.access(p, os.X_OK):
        raise AssertionError(f"missing target {p}: run scripts/build-targets.sh")
    return p


def target_path_c(name):
    """A C target from tests/targets/c (scripts/build-targets.sh)."""
    p = os.path.join(TARGETS, name)
    if not os.access(p, os.X_OK):
        raise AssertionError(f"missing target {p}: run scripts/build-targets.sh")
    return p


def source_line(relpath, marker):
    """Line number of the line containing marker in a target's source."""
    with open(os.path.join(ROOT, "tests", "targets", relpath)) as f:
        for i, line in enumerate(f, 1):
            if marker in line:
                return i
    raise AssertionError(f"{marker} not in {relpath}")


class Target:
    """A running target whose stdout lines are collected with timestamps."""

    def __init__(self, argv, env=None):
        self.lines = []  # (monotonic time, line)
        # A file just copied (a test's private executable) can be busy for a
        # moment: a child forked meanwhile by another thread of this process
        # holds the copy's write descriptor until it execs (ETXTBSY).
        for attempt in range(50):
            try:
                self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT, text=True, env=env)
                break
            except OSError as e:
                if e.errno != errno.ETXTBSY or attempt == 49:
                    raise
                time.sleep(0.1)
        self.pid = self.proc.pid
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def wait_for(self, pattern, timeout=30, progress=None):
        """The first line matching pattern. progress: a pattern of the lines
        the target prints as it gets on toward it; each new one restarts the
        timeout, so a slow machine (an emulated guest) only takes longer and
        just a target that stopped getting on fails."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        prx = re.compile(progress) if progress else None
        seen = 0
        while time.monotonic() < deadline:
            lines = list(self.lines)
            for _, l in lines:
                if rx.search(l):
                    return l
            if prx:
                n = sum(1 for _, l in lines if prx.search(l))
                if n > seen:
                    seen, deadline = n, time.monotonic() + timeout
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"target {self.pid} never printed /{pattern}/: {self.lines[-5:]}")

    def ticks(self):
        """Parsed status lines of tests/targets/go/heapleak, each at the
        monotonic time the target made it (its unix_us on this clock), not the
        time this process read it: on a loaded machine the reader thread can
        run a second late, and a line about the sampler before attach would
        seem to be from inside the window."""
        out = []
        wall_minus_mono = time.time() - time.monotonic()
        for t, l in list(self.lines):
            if l.startswith("tick="):
                d = dict(kv.split("=", 1) for kv in l.split())
                if "unix_us" in d:
                    t = int(d["unix_us"]) / 1e6 - wall_minus_mono
                out.append((t, d))
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)


def free_port():
    """A TCP port free on loopback now."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=10):
    """(status, body bytes); HTTP errors are returned, not raised."""
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_until(what, fn, timeout):
    """fn()'s first truthy value within timeout seconds; OSError and
    ValueError (a server not up yet) count as not yet."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (OSError, ValueError) as e:
            last = e
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class Prometheus:
    """A real Prometheus (Debian's package, scripts/setup.sh) on loopback, with
    its data in tmp, scraping the given HOST:PORT targets every second."""

    def __init__(self, tmp, targets):
        import shutil
        if not shutil.which("prometheus"):
            raise AssertionError("prometheus not found (scripts/setup.sh installs it)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
                    "scrape_configs:\n  - job_name: leakhound\n    static_configs:\n"
                    f"      - targets: {list(targets)!r}\n")
        self.log = open(os.path.join(tmp, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={tmp}/tsdb",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_until("Prometheus to be ready", lambda: http_get(self.url + "/-/ready")[0] == 200, 60)

    def query(self, promql):
        """The result of an instant query; a query Prometheus refuses fails the test."""
        import urllib.parse
        code, body = http_get(self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        assert code == 200, f"PromQL {promql}: HTTP {code} {body[:300]!r}"
        res = json.loads(body)
        assert res["status"] == "success", res
        return res["data"]["result"]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def memory_cgroup_root():
    """(mount point, version) of the hierarchy with the memory controller."""
    v2 = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            fstype, _, opts = right.split()[:3]
            mnt = left.split()[4]
            if fstype == "cgroup" and "memory" in opts.split(","):
                return mnt, 1
            if fstype == "cgroup2":
                v2 = mnt
    if v2 and "memory" in open(os.path.join(v2, "cgroup.controllers")).read().split():
        return v2, 2
    raise AssertionError("no cgroup hierarchy with a memory controller is mounted")


class LimitedCgroup:
    """A fresh memory cgroup with a limit, removed by remove(). no_swap: its
    processes cannot swap (cgroup v2's memory.swap.max 0, where swap is
    accounted; without swap accounting there is none to use), so that reaching
    the limit is an OOM kill."""

    def __init__(self, limit, tag="", no_swap=False):
        root, self.version = memory_cgroup_root()
        self.name = f"/leakhound-test-{os.getpid()}{tag}"
        self.dir = root + self.name
        os.mkdir(self.dir)
        try:
            self.set_limit(limit)
            swap = os.path.join(self.dir, "memory.swap.max")
            if no_swap and self.version == 2 and os.path.exists(swap):
                with open(swap, "w") as f:
                    f.write("0")
        except OSError:
            self.remove()
            raise

    def set_limit(self, limit):
        """On cgroup v1 a limit below the usage is refused (EBUSY) when the
        kernel cannot reclaim down to it; v2 OOM-kills instead."""
        limit_file = "memory.limit_in_bytes" if self.version == 1 else "memory.max"
        with open(os.path.join(self.dir, limit_file), "w") as f:
            f.write(str(limit))

    def usage(self):
        usage_file = "memory.usage_in_bytes" if self.version == 1 else "memory.current"
        with open(os.path.join(self.dir, usage_file)) as f:
            return int(f.read())

    def oom_kills(self):
        """The kernel's count of OOM kills in the cgroup (v2 memory.events,
        v1 memory.oom_control)."""
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        with open(os.path.join(self.dir, name)) as f:
            return dict(l.split() for l in f if l.strip()).get("oom_kill")

    def add(self, pid):
        with open(os.path.join(self.dir, "cgroup.procs"), "w") as f:
            f.write(str(pid))

    def remove(self):
        for _ in range(50):
            try:
                os.rmdir(self.dir)
                return
            except OSError:
                time.sleep(0.1)  # the killed target is still leaving


def run_leakhound(args, timeout=300):
    """Runs build/leakhound; returns (exit code, stdout, stderr)."""
    p = subprocess.run([LEAKHOUND] + args, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


class Leakhound:
    """A leakhound run in the background (with -v), its stderr read as it
    comes: a test waits for "the window begins" before acting on the window,
    however long the setup takes on a loaded machine. `prefix`: a wrapper
    command such as strace."""

    def __init__(self, args, prefix=()):
        self.proc = subprocess.Popen([*prefix, LEAKHOUND, "-v", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        self.err, self._out = [], []
        self._threads = [threading.Thread(target=self._read, args=(s, d), daemon=True)
                         for s, d in ((self.proc.stderr, self.err), (self.proc.stdout, self._out))]
        for th in self._threads:
            th.start()

    @staticmethod
    def _read(stream, dst):
        for line in stream:
            dst.append(line)

    def wait_for(self, pattern, timeout=300):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(rx.search(l) for l in list(self.err)):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"leakhound never printed /{pattern}/ (exit {self.proc.poll()}): "
                             f"{''.join(self.err[-5:])}")

    def wait_window(self):
        self.wait_for(r"attached; the window begins")

    def finish(self, timeout=300):
        """(exit code, stdout, stderr) once it has exited."""
        self.proc.wait(timeout=timeout)
        for th in self._threads:
            th.join(timeout=10)
        return self.proc.returncode, "".join(self._out), "".join(self.err)


def attach_json(pid, duration="15s", extra=()):
    code, out, err = run_leakhound(["attach", str(pid), "--duration", duration, "--json", *extra])
    if code != 0:
        raise AssertionError(f"leakhound attach {pid} exited {code}: {err.strip()}")
    try:
        rep = json.loads(out)
    except json.JSONDecodeError as e:
        raise AssertionError(f"leakhound printed invalid JSON ({e}): {out[:500]}")
    errors = validate_report(rep)
    if errors:
        shown = "\n  ".join(errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise AssertionError(f"leakhound attach {pid}: the report does not match "
                             f"docs/report.schema.json:\n  {shown}{more}")
    return rep, err


def first_user_frame(finding):
    """The first frame outside the Go runtime (what pprof shows as the allocator)."""
    for f in finding["stack"]:
        fn = f["function"]
        if not (fn.startswith("runtime.") or fn.startswith("internal/runtime")):
            return f
    return None


class Results:
    """Collects named checks from parallel cases and prints an 'N passed, N failed' line."""

    def __init__(self):
        self.passed, self.failed = [], []
        self.lock = threading.Lock()

    def run(self, name, fn, *args):
        t0 = time.monotonic()
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - report every failure with its case
            # Where it failed too: an assert without a message says nothing.
            import traceback
            tb = traceback.extract_tb(e.__traceback__)[-1]
            where = f"{os.path.basename(tb.filename)}:{tb.lineno} {tb.line}"
            with self.lock:
                self.failed.append(name)
                print(f"FAIL {name} ({time.monotonic() - t0:.0f}s): {type(e).__name__}: {e}\n"
                      f"     at {where}", flush=True)
            return
        with self.lock:
            self.passed.append(name)
            print(f"ok   {name} ({time.monotonic() - t0:.0f}s)", flush=True)

    def finish(self):
        print(f"{len(self.passed)} passed, {len(self.failed)} failed")
        return 0 if not self.failed and self.passed else 1


def run_cases(cases, jobs, alongside=()):
    """Runs (name, fn, *args) cases on `jobs` threads, and each `alongside`
    case on a thread of its own meanwhile; returns the exit code.
    LEAKHOUND_CASES="part,part" runs only the cases whose name contains one
    of the parts (scripts/arm64-vm.sh picks a few cases of a suite)."""
    import concurrent.futures as cf
    only = [p for p in os.environ.get("LEAKHOUND_CASES", "").split(",") if p]
    if only:
        cases = [c for c in cases if any(p in c[0] for p in only)]
        alongside = [c for c in alongside if any(p in c[0] for p in only)]
    res = Results()
    with cf.ThreadPoolExecutor(len(alongside)) if alongside else contextlib.nullcontext() as side:
        for name, fn, *args in alongside:
            side.submit(res.run, name, fn, *args)
        with cf.ThreadPoolExecutor(jobs) as ex:
            for name, fn, *args in cases:
                ex.submit(res.run, name, fn, *args)
    return res.finish()


if __name__ == "__main__":
    # The CI slice per variant, for docs/testing.md.
    for v in ("default", "strip", "pie", "cgo", "pprof"):
        print(f"{v:8} {' '.join(matrix(v))}")
