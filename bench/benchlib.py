"""What the benches' Go targets share: they print `KIND key=value ...` lines
on stdout (a worker's `work unix_us=.. ops=..` counts, `ready`, and lines of
their own), read here on a thread of its own."""
import subprocess
import threading


class LineTarget:
    """A target process and its stdout lines. `work` holds (unix_us, ops since
    the previous line); `ready` is set, and `ready_us` taken, at its `ready`
    line; every other kind goes to on_line (with `lock` held)."""

    def __init__(self, argv, env=None, stderr=None, new_session=False):
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                  env=env, start_new_session=new_session)
        self.lock = threading.Lock()
        self.work = []
        self.ready_us = None
        self.ready = threading.Event()
        threading.Thread(target=self._stdout, daemon=True).start()

    def on_line(self, kind, kv):
        pass

    def _stdout(self):
        for line in self.p.stdout:
            kind = line.split(" ", 1)[0].strip()
            kv = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
            with self.lock:
                if kind == "work":
                    self.work.append((int(kv["unix_us"]), int(kv["ops"])))
                elif kind == "ready":
                    self.ready_us = int(kv["unix_us"]) if "unix_us" in kv else None
                    self.ready.set()
                else:
                    self.on_line(kind, kv)

    def stop(self):
        self.p.kill()
        self.p.wait()


def throughput(work, start, end):
    """Operations per second between two instants, from the per-tick counts
    (each count covers the tick that ends at its stamp; pro-rated at the edges)."""
    ops = 0.0
    prev = None
    for t, n in work:
        if prev is not None and t > prev:
            overlap = min(t, end) - max(prev, start)
            if overlap > 0:
                ops += n * overlap / (t - prev)
        prev = t
    return ops / ((end - start) / 1e6) if end > start else None
