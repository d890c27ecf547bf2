#!/usr/bin/env python3
"""leakhound's own memory and CPU: peak and steady resident memory of
`inspect` and `attach` on a small test binary and on the largest real Go
binary the project fetches, the daemon watching many processes of several
large executables, and the daemon across 1,000 short-lived processes.

Memory is read from /proc/PID/status every 100 ms (VmRSS, RssAnon, RssFile)
while the command runs; the peak is the kernel's own (wait4's ru_maxrss for a
command, VmHWM for the daemon), so a spike between two samples is not missed.
Steady is the median VmRSS over the second half of a run.

Needs (root): build/leakhound, scripts/build-targets.sh (heapleak, Go 1.26),
scripts/fetch-footprint-binaries.sh (Debian trixie's prometheus, hugo, rclone,
containerd: 54-89 MB, Go 1.22-1.24, stripped; hugo needs libsass1).

Usage: bench/agent_footprint/run.py [--only attach,daemon,churn] [--attach-s 20]
       [--files 10] [--processes 30] [--churn 1000] [--parallel 25]"""
import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("LEAKHOUND_BUILD_DIR", os.path.join(ROOT, "build"))
LEAKHOUND = os.environ.get("LEAKHOUND", os.path.join(BUILD, "leakhound"))
TARGETS = os.environ.get("LEAKHOUND_TARGETS_DIR", os.path.join(BUILD, "targets"))
BIG = os.path.join(BUILD, "footprint", "root", "usr", "bin")
SMALL = os.path.join(TARGETS, "heapleak-go1.26-default")


def status(pid):
    """KiB values of /proc/PID/status (VmRSS, VmHWM, RssAnon, RssFile)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for l in f:
                k, _, v = l.partition(":")
                if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def minor_faults(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sampler:
    """Samples a process's status every 100 ms on a thread."""

    def __init__(self, pid):
        self.pid, self.samples, self.stop_ = pid, [], False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop_:
            s = status(self.pid)
            if not s:
                return
            self.samples.append((time.monotonic(), s))
            time.sleep(0.1)

    def stop(self):
        self.stop_ = True
        self.t.join()

    def steady(self, key="VmRSS"):
        tail = self.samples[len(self.samples) // 2:]
        return statistics.median(s[key] for _, s in tail) if tail else 0

    def peak(self, key):
        return max((s.get(key, 0) for _, s in self.samples), default=0)


def bpf_maps(pid):
    """The BPF maps a process holds, by name: how many, their entries and
    memlock (from /proc/PID/fdinfo; names from bpftool)."""
    ids = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:bpf-map":
                continue
            info = dict(l.split(":", 1) for l in open(f"/proc/{pid}/fdinfo/{fd}") if ":" in l)
        except OSError:
            continue
        ids[int(info["map_id"])] = {k: info[k].strip() for k in
                                    ("map_type", "max_entries", "memlock", "key_size",
                                     "value_size", "map_flags") if k in info}
    names = {}
    try:
        for m in json.loads(subprocess.run(["bpftool", "-j", "map", "show"], capture_output=True,
                                           text=True).stdout or "[]"):
            names[m["id"]] = m.get("name", "?")
    except (OSError, ValueError):
        pass
    out = {}
    for i, m in ids.items():
        o = out.setdefault(names.get(i, "?"), {"maps": 0, "memlock_kib": 0, "shape": set()})
        o["maps"] += 1
        o["memlock_kib"] += int(m.get("memlock", 0)) // 1024
        o["shape"].add(f"{m.get('map_type')}:{m.get('max_entries')}x"
                       f"{m.get('key_size')}+{m.get('value_size')}/{m.get('map_flags')}")
    for o in out.values():
        o["shape"] = sorted(o["shape"])
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["memlock_kib"]))


def rss_by_mapping(pid, top=8):
    """Resident KiB by mapped file ("[anon]" for the rest), the largest first."""
    out, name = {}, "[anon]"
    try:
        for l in open(f"/proc/{pid}/smaps"):
            f = l.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", l):
                name = f[5] if len(f) > 5 and f[5].startswith("/") else "[anon]"
            elif f[0] == "Rss:":
                out[name] = out.get(name, 0) + int(f[1])
    except OSError:
        pass
    return dict(sorted(out.items(), key=lambda kv: -kv[1])[:top])


def mib(kib):
    return round(kib / 1024, 1)


def run_measured(argv):
    """Runs a leakhound command; its peak (ru_maxrss), steady RSS and CPU."""
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    s = Sampler(p.pid)
    err = p.stderr.read()
    _, st, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(st)
    s.stop()
    if p.returncode != 0:
        raise RuntimeError(f"{argv}: exit {p.returncode}: {err[-500:]}")
    return {"peak_mib": mib(ru.ru_maxrss), "steady_mib": mib(s.steady()),
            "peak_anon_mib": mib(s.peak("RssAnon")), "peak_file_mib": mib(s.peak("RssFile")),
            "cpu_s": round(ru.ru_utime + ru.ru_stime, 2)}


def ere(s):
    """s as a POSIX extended regular expression matching itself (--include-exe)."""
    return re.sub(r"([.\[\]()*+?{}|^$\\])", r"\\\1", s)


def free_port():
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


def http_get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def wait_until(what, fn, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if fn():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def start_big(exe, tmp):
    """A real server from a Debian package, on loopback, its state in tmp."""
    name = os.path.basename(exe).split("-")[0]
    d = tempfile.mkdtemp(dir=tmp, prefix=name + "-")
    port = free_port()
    if name == "prometheus":
        cfg = os.path.join(d, "prometheus.yml")
        open(cfg, "w").write("global:\n  scrape_interval: 15s\n")
        argv = [exe, f"--config.file={cfg}", f"--storage.tsdb.path={d}/tsdb",
                f"--web.listen-address=127.0.0.1:{port}"]
    elif name == "hugo":
        open(os.path.join(d, "hugo.toml"), "w").write("baseURL = 'http://127.0.0.1/'\n")
        argv = [exe, "server", "--source", d, "--bind", "127.0.0.1", "--port", str(port),
                "--disableLiveReload", "--cacheDir", f"{d}/cache"]
    elif name == "rclone":
        argv = [exe, "serve", "http", d, "--addr", f"127.0.0.1:{port}",
                "--config", f"{d}/rclone.conf"]
    elif name == "containerd":
        cfg = os.path.join(d, "config.toml")
        open(cfg, "w").write('version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n')
        argv = [exe, "--config", cfg, "--address", f"{d}/c.sock", "--root", f"{d}/root",
                "--state", f"{d}/state"]
    else:
        raise RuntimeError(f"no recipe to run {exe}")
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=d)


def stop_all(procs):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def case_attach(a, tmp):
    out = {}
    small = subprocess.Popen([SMALL, "-leak-rate", "0", "-churn", "5"], stdout=subprocess.DEVNULL)
    prom = start_big(os.path.join(BIG, "prometheus"), tmp)
    try:
        time.sleep(3)
        for label, p, exe in (("small", small, SMALL), ("large", prom, os.path.join(BIG, "prometheus"))):
            size = round(os.path.getsize(exe) / 2**20, 1)
            for verb, extra in (("inspect", []), ("attach", ["--duration", f"{a.attach_s}s"])):
                r = run_measured([LEAKHOUND, verb, str(p.pid), *extra])
                r["exe_mib"] = size
                out[f"{verb}_{label}"] = r
                print(f"{verb:7} {label:5} ({size:5} MB exe): peak {r['peak_mib']} MiB "
                      f"(anon {r['peak_anon_mib']}, file {r['peak_file_mib']}), steady "
                      f"{r['steady_mib']} MiB, CPU {r['cpu_s']} s", flush=True)
    finally:
        stop_all([small, prom])
    return out


class Daemon:
    def __init__(self, include):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [LEAKHOUND, "daemon", "--listen", f"127.0.0.1:{self.port}", "--include-exe", include],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_until("the daemon", lambda: self.proc.poll() is None and
                       http_get(self.url + "/healthz") is not None, 30)
        except RuntimeError:
            self.proc.kill()
            raise RuntimeError(f"the daemon did not start: {self.proc.stderr.read()[-500:]}")
        # Drained on a thread: the pipe must never fill and block the daemon.
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()

    def metric(self, name):
        m = re.search(rf"^{name} (\S+)$", http_get(self.url + "/metrics").decode(), re.M)
        return float(m.group(1)) if m else None

    def shed(self):
        """Steps the memory budget shed (leakhound_shed_total, every reason)."""
        body = http_get(self.url + "/metrics").decode()
        return sum(float(v) for v in re.findall(r"^leakhound_shed_total\{[^}]*\} (\S+)$", body, re.M))

    def stop(self):
        self.proc.send_signal(2)
        self.proc.wait(timeout=60)


def case_daemon(a, tmp):
    """a.processes processes of a.files files, round-robin over the large
    programs (a second copy of a program is another file: nothing is shared
    between copies, the worst case for the daemon)."""
    programs = [os.path.join(BIG, n) for n in ("prometheus", "hugo", "rclone", "containerd")]
    exes = []
    for i in range(a.files):
        src = programs[i % len(programs)]
        dst = os.path.join(tmp, "exe", f"{os.path.basename(src)}-{i // len(programs)}")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst)
        exes.append(dst)
    procs = [start_big(exes[i % len(exes)], tmp) for i in range(a.processes)]
    d = None
    try:
        time.sleep(3)
        alive = [p for p in procs if p.poll() is None]
        d = Daemon("^" + ere(os.path.join(tmp, "exe")) + "/")
        wait_until("every process attached",
                   lambda: d.metric("leakhound_processes_attached") == len(alive), 120)
        s = Sampler(d.proc.pid)
        c0, f0, t0 = cpu_s(d.proc.pid), minor_faults(d.proc.pid), time.monotonic()
        time.sleep(a.steady_s)
        elapsed = time.monotonic() - t0
        cpu = (cpu_s(d.proc.pid) - c0) / elapsed
        faults = (minor_faults(d.proc.pid) - f0) / elapsed
        s.stop()
        st = status(d.proc.pid)
        maps = bpf_maps(d.proc.pid)
        by_mapping = rss_by_mapping(d.proc.pid)
        # What --memory-budget counts (RSS and BPF maps), against its default.
        budgeted = d.metric("leakhound_agent_memory_bytes") or 0
        r = {"executables": len(exes), "exe_mib": sorted(round(os.path.getsize(e) / 2**20)
                                                       for e in exes),
             "processes": len(alive), "steady_mib": mib(s.steady()),
             "steady_anon_mib": mib(s.steady("RssAnon")), "peak_mib": mib(st["VmHWM"]),
             "cpu_pct_of_core": round(100 * cpu, 2), "minor_faults_per_s": round(faults),
             "load": os.getloadavg()[0], "budgeted_mib": round(budgeted / 2**20, 1),
             "budget_mib": round((d.metric("leakhound_agent_memory_budget_bytes") or 0) / 2**20, 1),
             "shed_steps": d.shed(),
             "bpf_maps_mib": round(sum(m["memlock_kib"] for m in maps.values()) / 1024, 1),
             "bpf_maps": maps, "rss_by_mapping_kib": by_mapping}
        print(f"daemon: {r['processes']} processes of {r['executables']} executables: steady "
              f"{r['steady_mib']} MiB (anon {r['steady_anon_mib']}), peak {r['peak_mib']} MiB, "
              f"CPU {r['cpu_pct_of_core']}% of a core ({r['minor_faults_per_s']} minor faults/s, "
              f"load {r['load']:.1f}); the memory budget counts "
              f"{r['budgeted_mib']} of {r['budget_mib']} MiB (RSS + BPF maps), "
              f"{r['shed_steps']:.0f} steps shed; BPF maps {r['bpf_maps_mib']} MiB:", flush=True)
        for name, kib in by_mapping.items():
            print(f"  RSS {kib:7} KiB  {name}", flush=True)
        for name, m in maps.items():
            print(f"  {name:16} {m['maps']:3} maps {m['memlock_kib']:7} KiB  {' '.join(m['shape'])}",
                  flush=True)
        return {"daemon": r}
    finally:
        if d:
            d.stop()
        stop_all(procs)


def case_churn(a, tmp):
    exe = os.path.join(tmp, "heapleak")
    shutil.copy2(SMALL, exe)
    d = Daemon("^" + ere(exe) + "$")
    try:
        def settled():
            return d.metric("leakhound_processes_attached") == 0
        rss, heap, done = {}, {}, 0
        marks = {50, a.churn // 2, a.churn}
        while done < a.churn:
            n = min(a.parallel, a.churn - done)
            ps = [subprocess.Popen([exe, "-duration", "2s", "-churn", "2", "-leak-rate", "0",
                                    "-interval", "1h"], stdout=subprocess.DEVNULL) for _ in range(n)]
            for p in ps:
                p.wait()
            done += n
            if any(done >= m and m not in rss for m in marks):
                wait_until("every process detached", settled, 60)
                time.sleep(1)
                m = max(m for m in marks if done >= m and m not in rss)
                rss[m] = status(d.proc.pid)["VmRSS"]
                heap[m] = d.metric("leakhound_agent_heap_bytes") or 0
        r = {"processes": a.churn, "rss_mib": {k: mib(v) for k, v in sorted(rss.items())},
             "heap_kib": {k: round(v / 1024) for k, v in sorted(heap.items())},
             "peak_mib": mib(status(d.proc.pid)["VmHWM"]),
             "attached_total": d.metric("leakhound_attach_total")}
        print(f"churn: {a.churn} short-lived processes: RSS {r['rss_mib']} MiB, heap in use "
              f"{r['heap_kib']} KiB, peak {r['peak_mib']} MiB, attached {r['attached_total']}",
              flush=True)
        return {"churn": r}
    finally:
        d.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="attach,daemon,churn")
    ap.add_argument("--attach-s", type=int, default=20)
    ap.add_argument("--files", type=int, default=10, help="distinct executable files")
    ap.add_argument("--processes", type=int, default=30)
    ap.add_argument("--steady-s", type=int, default=30)
    ap.add_argument("--churn", type=int, default=1000)
    ap.add_argument("--parallel", type=int, default=25)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (uprobes)")
    for p in (LEAKHOUND, SMALL, os.path.join(BIG, "prometheus")):
        if not os.access(p, os.X_OK):
            sys.exit(f"missing {p}: build leakhound, scripts/build-targets.sh and "
                     "scripts/fetch-footprint-binaries.sh first")
    cases = {"attach": case_attach, "daemon": case_daemon, "churn": case_churn}
    res = {}
    tmp = tempfile.mkdtemp(prefix="lh-footprint-")
    try:
        for name in a.only.split(","):
            res.update(cases[name](a, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"bench": "agent_footprint", **res}))


if __name__ == "__main__":
    main()
