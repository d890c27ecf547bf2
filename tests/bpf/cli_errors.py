#!/usr/bin/env python3
"""The command line: bad input prints one clear line on stderr, exits non-zero
and never crashes; a target that exits mid-window yields the partial report;
SIGINT/SIGTERM end the window early; inspect tells what leakhound knows."""
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


def case_go_too_old():
    t = lhtest.Target([lhtest.target_path("heapleak", "1.20", "default"), "-churn", "1"])
    try:
        t.wait_for("^ready")
        code, _, err = lhtest.run_leakhound(["attach", str(t.pid), "--duration", "1s"])
        one_line_error(code, err, "too old")
    finally:
        t.stop()


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
    t = lhtest.Target([lhtest.target_path("heapleak", "1.27", "strip"), "-interval", "100ms"])
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
        assert t.ticks()[-1][1]["memprofilerate"] == "524288", "sampler not left on by SIGKILL?"
        # The next attach knows (journal) and restores the program's own value.
        rep, _ = lhtest.attach_json(t.pid, "2s")
        assert any("did not exit cleanly" in n for n in rep["notes"]), rep["notes"]
        time.sleep(0.5)
        assert t.ticks()[-1][1]["memprofilerate"] == "0", t.ticks()[-1]
        # Killed again; this time `leakhound restore` undoes it.
        lh = subprocess.Popen([lhtest.LEAKHOUND, "attach", str(t.pid), "-d", "60s"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while t.ticks()[-1][1]["memprofilerate"] == "0":
            assert time.monotonic() < deadline, "leakhound never switched the sampler on"
            time.sleep(0.1)
        lh.kill()
        lh.wait()
        code, out, err = lhtest.run_leakhound(["restore", str(t.pid)])
        assert code == 0 and "MemProfileRate 524288 -> 0" in out, (code, out, err)
        time.sleep(0.5)
        assert t.ticks()[-1][1]["memprofilerate"] == "0", t.ticks()[-1]
        code, out, err = lhtest.run_leakhound(["restore", str(t.pid)])
        assert code == 0 and "nothing to restore" in out, (code, out, err)
        assert t.proc.poll() is None, "target died"
        nums = [int(d["tick"]) for _, d in t.ticks()]
        assert nums == list(range(1, len(nums) + 1)), "target output broken"
    finally:
        t.stop()


def case_read_only_writes_nothing():
    """--read-only: leakhound's own system calls (strace) show no write into the
    target: /proc/PID/mem never opened for writing, no pwrite, no process_vm_writev."""
    t = lhtest.Target([lhtest.target_path("goleak", "1.27", "default"), "-modes", "chan,pool",
                       "-interval", "250ms"])
    log = f"/tmp/lh-strace-{os.getpid()}"
    try:
        t.wait_for("^ready")
        p = subprocess.run(["strace", "-f", "-qq", "-o", log, "-e",
                            "trace=openat,open,pwrite64,pwritev,pwritev2,process_vm_writev,ptrace",
                            lhtest.LEAKHOUND, "attach", str(t.pid), "-d", "2s", "--read-only",
                            "--json"], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        rep = json.loads(p.stdout)
        assert rep["read_only"] is True and rep["goroutines"], rep["notes"]
        calls = open(log).read().splitlines()
    finally:
        t.stop()
        if os.path.exists(log):
            os.unlink(log)
    mem = f"/proc/{t.pid}/mem"
    bad = [c for c in calls if ("process_vm_writev" in c or "pwrite" in c or "ptrace(" in c or
                                (mem in c and ("O_RDWR" in c or "O_WRONLY" in c)))]
    assert not bad, bad[:5]
    assert any("openat" in c for c in calls), "strace saw nothing"


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
                         f"stripped:      {stripped}", f"heap sampler:  {sampler}"):
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
        p = subprocess.Popen([lhtest.LEAKHOUND, "attach", str(t.pid), "--duration", "120s",
                              "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        t.wait_for("memprofilerate=524288")  # the window has begun
        time.sleep(2)
        p.send_signal(sig)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, f"exit {p.returncode}: {err}"
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
            rep, err = lhtest.attach_json(t.pid, "10s")
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


def case_sigint():
    interrupted(signal.SIGINT)


def case_sigterm():
    interrupted(signal.SIGTERM)


def main():
    lhtest.require_root()
    res = lhtest.Results()
    for name, fn in sorted((k, v) for k, v in globals().items() if k.startswith("case_")):
        res.run(name[5:].replace("_", " "), fn)
    return res.finish()


if __name__ == "__main__":
    raise SystemExit(main())
