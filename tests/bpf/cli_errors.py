#!/usr/bin/env python3
"""The command line: bad input prints one clear line on stderr, exits non-zero
and never crashes; a target that exits mid-window yields the partial report;
SIGINT/SIGTERM end the window early; inspect tells what leakhound knows.
A kernel without BTF or uprobes (hidden in a private mount namespace), a
target in other PID and mount namespaces, and a PID reused by another program
while leakhound watches (or after it was killed) are covered too.

Usage: cli_errors.py [PART ...]   (only the cases whose name contains a PART)"""
import json
import signal
import os
import re
import subprocess
import time

import lhtest


def one_line_error(code, err, want):
    lines = [l for l in err.splitlines() if l.strip()]
    assert code not in (0, None) and code > 0, f"exit code {code} (negative = crashed by a signal)"
    assert len(lines) == 1, f"want one line on stderr, got {lines}"
    assert lines[0].startswith("leakhound: "), lines[0]
    assert want in lines[0], f"'{want}' not in '{lines[0]}'"


def case_no_such_pid():
    # PIDs above pid_max never exist.
    pid_max = int(open("/proc/sys/kernel/pid_max").read())
    code, _, err = lhtest.run_leakhound(["attach", str(pid_max + 1), "--duration", "1s"])
    one_line_error(code, err, "no process with PID")


def case_not_go():
    # A C program: only its allocator can be traced; with that off, nothing can.
    p = subprocess.Popen(["sleep", "60"])
    try:
        code, _, err = lhtest.run_leakhound(["attach", str(p.pid), "--duration", "1s",
                                             "--no-native"])
        one_line_error(code, err, "is not a Go program")
        rep, _ = lhtest.attach_json(p.pid, "1s")
        assert rep["target"]["go_version"] == "" and rep["native_stats"]["tracked"], rep
    finally:
        p.kill()
        p.wait()


def case_kernel_thread():
    code, _, err = lhtest.run_leakhound(["inspect", "2"])  # kthreadd
    one_line_error(code, err, "no executable")


# The release before the oldest supported one (scripts/test.sh builds it).
TOO_OLD = "1.%d" % (int(lhtest.MINORS[0].split(".")[1]) - 1)


def case_go_too_old():
    t = lhtest.Target([lhtest.target_path("heapleak", TOO_OLD, "default"), "-churn", "1"])
    try:
        t.wait_for("^ready")
        code, _, err = lhtest.run_leakhound(["attach", str(t.pid), "--duration", "1s"])
        one_line_error(code, err, f"is too old: leakhound supports Go {lhtest.MINORS[0]} and newer")
    finally:
        t.stop()


def case_version():
    """--version names the build and the supported range from scripts/go-versions.txt."""
    code, out, err = lhtest.run_leakhound(["--version"])
    assert code == 0 and not err, (code, err)
    lines = out.splitlines()
    assert re.match(r"leakhound \d+\.\d+\.\d+ \(.+\)$", lines[0]), lines[0]
    assert f"Go {lhtest.MINORS[0]} to {lhtest.MINORS[-1]}" in lines[1], lines[1]
    assert lines[2].split()[1:] == [f"go{v}" for v in lhtest.VERSIONS], lines[2]
    assert any(l.startswith("amd64:") for l in lines), out


def case_bad_duration():
    code, _, err = lhtest.run_leakhound(["attach", "1", "--duration", "soon"])
    one_line_error(code, err, "invalid duration")


def case_not_root():
    t = lhtest.Target([lhtest.target_path("heapleak", "1.26", "default"), "-churn", "1",
                       "-interval", "100ms"])
    try:
        t.wait_for("^tick=")
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "--inh-caps=-all", lhtest.LEAKHOUND, "attach", str(t.pid),
                            "--duration", "1s"], capture_output=True, text=True, timeout=60)
        one_line_error(p.returncode, p.stderr, "run leakhound as root")
        assert int(t.ticks()[-1][1]["memprofilerate"]) == 0
    finally:
        t.stop()


def case_target_exits():
    t = lhtest.Target([lhtest.target_path("heapleak", "1.26", "default"), "-duration", "5s",
                       "-interval", "250ms"])
    try:
        t.wait_for("^ready")
        rep, _ = lhtest.attach_json(t.pid, "30s")
    finally:
        t.stop()
    assert rep["target_exited"] is True, rep
    assert rep["window"]["duration_s"] < 15, rep["window"]
    assert any("exited" in n for n in rep["notes"]), rep["notes"]


def case_goroutine_flags():
    """--no-goroutines leaves goroutines out; it cannot be combined with --goroutine-events."""
    t = lhtest.Target([lhtest.target_path("goleak", "1.27", "default"), "-modes", "pool",
                       "-interval", "250ms"])
    try:
        t.wait_for("^ready")
        code, out, err = lhtest.run_leakhound(["attach", str(t.pid), "--no-goroutines",
                                               "--goroutine-events", "-d", "1s"])
        assert code != 0 and "excludes" in err, (code, err)
        rep, _ = lhtest.attach_json(t.pid, "2s", ["--no-goroutines"])
        assert rep["goroutines"] == [] and rep["goroutine_stats"]["read"] is False, rep
        assert rep["process"], "process series missing"
        rep, _ = lhtest.attach_json(t.pid, "2s")
        pool = [g for g in rep["goroutines"] if g["entry"]["function"].startswith("main.startPool")]
        assert pool and pool[0]["count"] == 8 and pool[0]["wait_reason"] == "chan receive", \
            rep["goroutines"]
        assert t.proc.poll() is None
    finally:
        t.stop()


def bpf_ids_of(pid):
    """(prog ids, link ids) held open by process pid, from its fds' fdinfo."""
    progs, links = set(), set()
    fd_dir = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(fd_dir):
        try:
            with open(os.path.join(fd_dir, fd)) as f:
                for line in f:
                    key, _, val = line.partition(":")
                    if key == "prog_id":
                        progs.add(int(val))
                    elif key == "link_id":
                        links.add(int(val))
        except OSError:
            pass  # closed meanwhile
    return progs, links


def live_bpf_ids():
    """(prog ids, link ids) that exist in the kernel now (bpftool)."""
    def ids(what):
        out = subprocess.run(["bpftool", what, "list", "-j"], capture_output=True, text=True,
                             check=True).stdout
        return {o["id"] for o in json.loads(out)}
    return ids("prog"), ids("link")


def case_sigkill_then_restore():
    """SIGKILL mid-attach: no probe or BPF program survives leakhound; the heap
    sampler it switched on stays on until the next attach or `leakhound restore`
    puts the program's own value back."""
    t = lhtest.Target([lhtest.target_path("heapleak", "1.27", "strip"), "-interval", "100ms",
                       "-ancestry-probe"])
    try:
        t.wait_for("^tick=")
        lh = subprocess.Popen([lhtest.LEAKHOUND, "attach", str(t.pid), "-d", "60s",
                               "--goroutine-events"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        held = (set(), set())
        while t.ticks()[-1][1]["memprofilerate"] == "0" or len(held[0]) < 3 or not held[1]:
            assert time.monotonic() < deadline, f"leakhound never attached: {held}"
            time.sleep(0.1)
            held = bpf_ids_of(lh.pid)
        progs, links = live_bpf_ids()
        assert held[0] <= progs and held[1] <= links, (held, progs, links)
        lh.kill()
        lh.wait()
        # The kernel drops them with leakhound's last fd (maybe a moment later).
        deadline = time.monotonic() + 10
        while True:
            progs, links = live_bpf_ids()
            left = (held[0] & progs, held[1] & links)
            if not left[0] and not left[1]:
                break
            assert time.monotonic() < deadline, f"left behind after SIGKILL: {left}"
            time.sleep(0.1)
        time.sleep(0.5)
        # 512 KiB, or the sample budget's rate once it has measured the program.
        left = t.ticks()[-1][1]["memprofilerate"]
        assert left != "0", "sampler not left on by SIGKILL?"
        # The next attach knows (journal) and restores the program's own value.
        rep, _ = lhtest.attach_json(t.pid, "2s")
        assert any("did not exit cleanly" in n for n in rep["notes"]), rep["notes"]
        time.sleep(0.5)
        assert t.ticks()[-1][1]["memprofilerate"] == "0", t.ticks()[-1]
        # Killed again, with --goroutine-ancestry too; this time `leakhound
        # restore` undoes both (the target tells whether its runtime records
        # goroutine creators: ancestry=1).
        assert t.ticks()[-1][1]["ancestry"] == "0", t.ticks()[-1]
        lh = subprocess.Popen([lhtest.LEAKHOUND, "attach", str(t.pid), "-d", "60s",
                               "--goroutine-ancestry"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while t.ticks()[-1][1]["memprofilerate"] == "0" or t.ticks()[-1][1]["ancestry"] == "0":
            assert time.monotonic() < deadline, "leakhound never switched the sampler on"
            time.sleep(0.1)
        lh.kill()
        lh.wait()
        # inspect tells, and writes nothing (it once tried to restore on exit).
        code, out, err = lhtest.run_leakhound(["inspect", str(t.pid)])
        assert code == 0 and "left by a leakhound that did not exit cleanly" in out, (code, out)
        assert "error" not in err, err
        time.sleep(0.3)
        left = t.ticks()[-1][1]["memprofilerate"]
        assert left != "0", t.ticks()[-1]
        assert t.ticks()[-1][1]["ancestry"] == "1", t.ticks()[-1]
        code, out, err = lhtest.run_leakhound(["restore", str(t.pid)])
        assert code == 0 and f"MemProfileRate {left} -> 0" in out, (code, out, err)
        assert "tracebackancestors 8 -> 0" in out, out
        time.sleep(0.5)
        assert t.ticks()[-1][1]["memprofilerate"] == "0", t.ticks()[-1]
        assert t.ticks()[-1][1]["ancestry"] == "0", t.ticks()[-1]
        code, out, err = lhtest.run_leakhound(["restore", str(t.pid)])
        assert code == 0 and "nothing to restore" in out, (code, out, err)
        assert t.proc.poll() is None, "target died"
        nums = [int(d["tick"]) for _, d in t.ticks()]
        assert nums == list(range(1, len(nums) + 1)), "target output broken"
    finally:
        t.stop()


def straced_attach(pid, extra):
    """attach -d 2s --json under strace: (report, leakhound's calls)."""
    log = f"/tmp/lh-strace-{os.getpid()}"
    try:
        p = subprocess.run(["strace", "-f", "-qq", "-o", log, "-e",
                            "trace=openat,open,pwrite64,pwritev,pwritev2,process_vm_writev,ptrace",
                            lhtest.LEAKHOUND, "attach", str(pid), "-d", "2s", "--json", *extra],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout), open(log).read().splitlines()
    finally:
        if os.path.exists(log):
            os.unlink(log)


def case_read_only_writes_nothing():
    """--read-only: leakhound's own system calls (strace) show no write into the
    target: /proc/PID/mem never opened for writing, no pwrite, no process_vm_writev.
    The target (Go 1.27, churning so GC cycles run) is one where leakhound
    writes otherwise: the control run without --read-only shows the goroutine
    leak check's two 1-byte "\\1" requests, so the trace would catch them."""
    t = lhtest.Target([lhtest.target_path("goleak", "1.27", "default"), "-modes",
                       "chan,pool,churn", "-interval", "250ms"])
    try:
        t.wait_for("^ready")
        rep, calls = straced_attach(t.pid, ["--read-only"])
        assert rep["read_only"] is True and rep["goroutines"], rep["notes"]
        lc = rep["goroutine_stats"]["leak_check"]
        assert lc["available"] and lc["requests"] == 0, lc
        _, control = straced_attach(t.pid, [])
        # A write asked for under --read-only is a clear error, not a silent no.
        code, out, err = lhtest.run_leakhound(["attach", str(t.pid), "-d", "1s", "--read-only",
                                               "--goroutine-ancestry"])
        assert code != 0 and "--goroutine-ancestry writes into the target" in err, (code, err)
    finally:
        t.stop()
    mem = f"/proc/{t.pid}/mem"
    bad = [c for c in calls if ("process_vm_writev" in c or "pwrite" in c or "ptrace(" in c or
                                (mem in c and ("O_RDWR" in c or "O_WRONLY" in c)))]
    assert not bad, bad[:5]
    assert any("openat" in c for c in calls), "strace saw nothing"
    writes = [c for c in control if "pwrite64(" in c]
    assert sum('"\\1", 1, ' in c for c in writes) == 2, f"leak check requests: {writes}"


def case_inspect():
    """inspect on a stripped build and a pprof build: what leakhound knows, read-only."""
    for variant, stripped, sampler in (("strip", "yes", "off (disabled by the linker)"),
                                       ("pprof", "no", "on (MemProfileRate=524288)")):
        t = lhtest.Target([lhtest.target_path("heapleak", "1.27", variant), "-churn", "1",
                           "-interval", "100ms"])
        try:
            t.wait_for("^tick=")
            code, out, err = lhtest.run_leakhound(["inspect", str(t.pid)])
            assert code == 0, err
            for want in ("go version:    go1.27", "module:        leakhound.test/targets",
                         f"supports Go {lhtest.MINORS[0]} to {lhtest.MINORS[-1]}",
                         f"stripped:      {stripped}", f"heap sampler:  {sampler}",
                         "tested:        amd64 host (Linux 6.18): every unit test and e2e suite"):
                assert want in out, f"{variant}: '{want}' not in:\n{out}"
            assert "not found" not in out.split("runtime.allgs")[0], out
            layout = "go1.27 table" if variant == "strip" else "the binary's DWARF"
            assert re.search(r"goroutines: +\d+ live \(\d+ user\), \d+ in allgs "
                             rf"\(runtime.g layout: {layout}\)", out), out
            assert t.ticks()[-1][1]["memprofilerate"] == ("0" if variant == "strip" else "524288")
        finally:
            t.stop()


def interrupted(sig):
    """SIGINT/SIGTERM end the window: partial report, probes gone, sampler restored."""
    t = lhtest.Target([lhtest.target_path("heapleak", "1.26", "default"), "-interval", "100ms"])
    try:
        t.wait_for("^tick=")
        lh = lhtest.Leakhound(["attach", str(t.pid), "--duration", "120s", "--json"])
        lh.wait_window()
        time.sleep(2)
        lh.proc.send_signal(sig)
        code, out, err = lh.finish(timeout=60)
        assert code == 0, f"exit {code}: {err}"
        rep = json.loads(out)
        assert rep["window"]["duration_s"] < 60, rep["window"]
        assert any("interrupted" in n for n in rep["notes"]), rep["notes"]
        time.sleep(0.5)
        assert t.ticks()[-1][1]["memprofilerate"] == "0", "sampler not restored"
        assert t.proc.poll() is None, "target died"
    finally:
        t.stop()


def case_future_go_version():
    """A Go release newer than any leakhound knows (the version strings of a
    go1.27 binary rewritten to go1.99): best effort with a warning, no crash."""
    import tempfile
    src = lhtest.target_path("heapleak", "1.27", "default")
    data = open(src, "rb").read()
    old = re.search(rb"go1\.27\.\d+", data).group(0)
    new = b"go1.99" + old[len(b"go1.27"):]
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "heapleak-go1.99")
        with open(exe, "wb") as f:
            f.write(data.replace(old, new))
        os.chmod(exe, 0o755)
        t = lhtest.Target([exe, "-churn", "5"])
        try:
            t.wait_for("^ready")
            # The heap suite's fine rate and window: the verdict, not the
            # sampler's sparsity at its default rate, is what this case checks.
            rep, err = lhtest.attach_json(t.pid, "15s", ["--sample-rate", "65536"])
            assert t.proc.poll() is None, "target died"
        finally:
            t.stop()
    assert rep["target"]["go_version"] == new.decode(), rep["target"]
    assert "newer than the newest Go release" in err, err
    assert any("newer than the newest Go release" in n for n in rep["notes"]), rep["notes"]
    top = rep["heap"][0]
    assert lhtest.first_user_frame(top)["function"] == "main.leakOne", top["stack"]
    assert top["verdict"] == "leak", (top["verdict"], top["trend"]["reason"])


def case_daemon_port_in_use():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code, _, err = lhtest.run_leakhound(["daemon", "--listen", f"127.0.0.1:{port}"],
                                            timeout=60)
    one_line_error(code, err, f"cannot listen on 127.0.0.1:{port}")


def case_daemon_bad_arguments():
    code, _, err = lhtest.run_leakhound(["daemon", "--include-exe", "(app"], timeout=60)
    one_line_error(code, err, "bad regular expression")
    code, _, err = lhtest.run_leakhound(["daemon", "--listen", "localhost"], timeout=60)
    one_line_error(code, err, "--listen localhost: expected HOST:PORT")
    code, _, err = lhtest.run_leakhound(["daemon", "--window", "soon"], timeout=60)
    one_line_error(code, err, "invalid duration")
    code, _, err = lhtest.run_leakhound(["daemon", "--leak-check-every", "-1m"], timeout=60)
    one_line_error(code, err, "--leak-check-every: invalid duration")
    code, _, err = lhtest.run_leakhound(["daemon", "--stuck-after", "0"], timeout=60)
    one_line_error(code, err, "invalid duration")


def unharmed(t, after=None, attached=False, what="target"):
    """t (heapleak, sampler off) runs, its ticks are whole (nothing stopped or
    corrupted it) and its MemProfileRate is 0: on every tick, or, when
    leakhound attached (and switched the sampler on), again at the end.
    after: only the lines that follow this one (pidat's second program)."""
    time.sleep(0.5)
    lines = [l for _, l in list(t.lines)]
    if after is not None:
        lines = lines[lines.index(after) + 1:]
    ticks = [dict(kv.split("=", 1) for kv in l.split()) for l in lines if l.startswith("tick=")]
    assert ticks, f"{what} printed no tick"
    rates = {d["memprofilerate"] for d in (ticks[-1:] if attached else ticks)}
    assert rates == {"0"}, f"{what}'s MemProfileRate was left changed: {rates}"
    assert t.proc.poll() is None, f"{what} died"
    nums = [int(d["tick"]) for d in ticks]
    assert nums == list(range(1, len(nums) + 1)), f"{what}'s output broken: {nums}"


def run_hiding(path, argv, timeout=60):
    """argv in a private mount namespace where `path` is an empty tmpfs: what
    leakhound sees on a kernel without what sysfs shows there."""
    return subprocess.run(["unshare", "-m", "sh", "-c", 'mount -t tmpfs none "$0" && exec "$@"',
                           path, *argv], capture_output=True, text=True, timeout=timeout)


def kernel_lacks(path, want):
    """attach and daemon refuse up front, in one line, when `path` is missing;
    the target is never touched (its heap sampler stays off)."""
    t = lhtest.Target([lhtest.target_path("heapleak", "1.27", "default"), "-interval", "100ms"])
    try:
        t.wait_for("^tick=")
        for argv in (["attach", str(t.pid), "--duration", "3s"],
                     ["daemon", "--listen", "127.0.0.1:0"]):
            p = run_hiding(path, [lhtest.LEAKHOUND, *argv])
            for w in want:
                one_line_error(p.returncode, p.stderr, w)
        unharmed(t)
    finally:
        t.stop()


def case_kernel_without_btf():
    kernel_lacks("/sys/kernel/btf", ["/sys/kernel/btf/vmlinux is missing", "CONFIG_DEBUG_INFO_BTF"])


def case_kernel_without_uprobes():
    # libbpf reads the uprobe PMU's type (and format/retprobe) under this
    # directory; without it, it would fall back to tracefs (not mounted here).
    kernel_lacks("/sys/bus/event_source/devices/uprobe",
                 ["no uprobe support", "CONFIG_UPROBE_EVENTS"])


def ns_child(unshare_pid, timeout=30):
    """The host PID of the process `unshare --fork` started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            kids = open(f"/proc/{unshare_pid}/task/{unshare_pid}/children").read().split()
        except OSError:
            kids = []
        if kids:
            return int(kids[0])
        time.sleep(0.05)
    raise AssertionError(f"unshare {unshare_pid} started nothing")


def leak_found(rep, pid):
    assert rep["target"]["pid"] == pid, rep["target"]
    top = rep["heap"][0]
    assert lhtest.first_user_frame(top)["function"] == "main.leakOne", top["stack"][:6]
    assert top["verdict"] == "leak", (top["verdict"], top["trend"]["reason"])


def case_other_pid_namespace():
    """A target in its own PID namespace (PID 1 there), attached by its host PID."""
    exe = lhtest.target_path("heapleak", "1.27", "default")
    t = lhtest.Target(["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", exe,
                       "-interval", "250ms"])
    pid = None
    try:
        t.wait_for("^ready pid=1 ")  # its own view
        pid = ns_child(t.pid)
        ns = open(f"/proc/{pid}/status").read()
        assert re.search(rf"^NSpid:\s+{pid}\s+1$", ns, re.M), "not in a PID namespace of its own"
        rep, _ = lhtest.attach_json(pid, "6s", ["--sample-rate", "65536"])
        unharmed(t, attached=True)
    finally:
        if pid:
            os.kill(pid, signal.SIGTERM)  # unshare itself ignores SIGTERM
        t.stop()
    leak_found(rep, pid)
    assert rep["target"]["exe"] == os.path.realpath(exe), rep["target"]


def case_other_mount_namespace():
    """A target whose executable exists only in its own mount namespace (a
    tmpfs there): read through /proc/PID/exe, symbolized as usual."""
    import shutil
    import tempfile
    exe = lhtest.target_path("heapleak", "1.27", "default")
    d = tempfile.mkdtemp(prefix="lh-mntns-")
    inside = os.path.join(d, "app")
    script = 'mount -t tmpfs none "$0" && cp "$1" "$0/app" && exec "$0/app" -interval 250ms'
    t = lhtest.Target(["unshare", "-m", "sh", "-c", script, d, exe])
    try:
        t.wait_for("^ready ")
        assert not os.path.exists(inside), f"{inside} is visible outside its namespace"
        assert os.readlink(f"/proc/{t.pid}/exe") == inside
        rep, _ = lhtest.attach_json(t.pid, "6s", ["--sample-rate", "65536"])
        unharmed(t, attached=True)
    finally:
        t.stop()
        shutil.rmtree(d, ignore_errors=True)
    leak_found(rep, t.pid)
    assert rep["target"]["exe"] == inside, rep["target"]


def reusable_target():
    """heapleak (sampler off) under pidat, which on SIGUSR1 kills it and at
    once starts another heapleak with the same PID. Returns (pidat's Target,
    the PID)."""
    exe = lhtest.target_path("heapleak", "1.27", "default")
    t = lhtest.Target([lhtest.target_path_c("pidat"), exe, "-interval", "100ms", "--then", exe,
                       "-interval", "100ms"])
    pid = int(re.search(r"pid=(\d+)", t.wait_for("^ready pid=")).group(1))
    t.wait_for("^tick=")
    return t, pid


def reuse_pid(t, pid):
    """Hands the PID to pidat's second program; returns the line that says so
    and the wall-clock time it was seen (the new process existed by then)."""
    os.kill(t.pid, signal.SIGUSR1)
    line = t.wait_for(f"^pidat: PID {pid} now runs ")
    at = [m for m, l in list(t.lines) if l == line][0]
    deadline = time.monotonic() + 30
    while not any(m > at and l.startswith("tick=") for m, l in list(t.lines)):
        assert time.monotonic() < deadline and t.proc.poll() is None, "the new program never ran"
        time.sleep(0.05)
    return line, at + (time.time() - time.monotonic())


def strace_time(line):
    """The wall-clock time of a `strace -f -ttt` line ("TID SECONDS call(...)")."""
    parts = line.split(None, 2)
    try:
        return float(parts[1])
    except (IndexError, ValueError):
        return 0.0


def case_pid_reused_mid_window():
    """The target exits mid-window and its PID goes to another program at once:
    leakhound ends with the partial report and a note, and never reads or
    writes the new process's memory (strace: no process_vm_readv or pwrite on
    the PID from the moment it changed hands; its sampler stays off)."""
    t, pid = reusable_target()
    log = f"/tmp/lh-strace-reuse-{os.getpid()}"
    try:
        lh = lhtest.Leakhound(["attach", str(pid), "-d", "20s", "-i", "1s", "--json"],
                              prefix=["strace", "-f", "-qq", "-ttt", "-o", log, "-e",
                                      "trace=process_vm_readv,pwrite64,pwritev,pwritev2,ptrace"])
        lh.wait_window()
        time.sleep(1.5)
        switched, since = reuse_pid(t, pid)
        code, out, err = lh.finish(timeout=120)
        assert code == 0, f"exit {code}: {err}"
        rep = json.loads(out)
        assert not lhtest.validate_report(rep), lhtest.validate_report(rep)[:5]
        assert rep["target_exited"] is True, rep["notes"]
        assert rep["window"]["duration_s"] < 20, rep["window"]  # ended by the exit
        assert any("its PID now belongs to another process" in n for n in rep["notes"]), \
            rep["notes"]
        unharmed(t, switched, what="the new process")
        calls = open(log).read().splitlines()
    finally:
        t.stop()
        if os.path.exists(log):
            os.unlink(log)
    late = [c for c in calls if strace_time(c) >= since and (
        f"process_vm_readv({pid}," in c or "pwrite" in c or "ptrace(" in c)]
    assert not late, f"touched the new process with PID {pid}: {late[:3]}"
    assert any(f"process_vm_readv({pid}," in c for c in calls), "strace saw no read at all"


def case_restore_refuses_reused_pid():
    """A SIGKILLed leakhound left the sampler on and a journal entry; the
    target exited and its PID went to another program: `leakhound restore`
    refuses in one line, writes nothing, and drops the stale entry."""
    import shutil
    import tempfile
    state = tempfile.mkdtemp(prefix="lh-state-")
    env = dict(os.environ, LEAKHOUND_STATE_DIR=state)
    t, pid = reusable_target()
    try:
        lh = subprocess.Popen([lhtest.LEAKHOUND, "attach", str(pid), "-d", "60s"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t.wait_for("memprofilerate=[1-9]")
        lh.kill()
        lh.wait()
        journal = os.path.join(state, f"writes-{pid}")
        assert os.path.exists(journal), os.listdir(state)
        switched, _ = reuse_pid(t, pid)
        p = subprocess.run([lhtest.LEAKHOUND, "restore", str(pid)], env=env, capture_output=True,
                           text=True, timeout=60)
        one_line_error(p.returncode, p.stderr, f"PID {pid} ")
        assert "PID was reused" in p.stderr and "nothing written" in p.stderr, p.stderr
        assert not os.path.exists(journal), "stale journal entry kept"
        unharmed(t, switched, what="the new process")
    finally:
        t.stop()
        shutil.rmtree(state, ignore_errors=True)


def case_sigint():
    interrupted(signal.SIGINT)


def case_sigterm():
    interrupted(signal.SIGTERM)


def main():
    import sys
    lhtest.require_root()
    res = lhtest.Results()
    only = sys.argv[1:]
    for name, fn in sorted((k, v) for k, v in globals().items() if k.startswith("case_")):
        name = name[5:].replace("_", " ")
        if not only or any(part in name for part in only):
            res.run(name, fn)
    return res.finish()


if __name__ == "__main__":
    raise SystemExit(main())
