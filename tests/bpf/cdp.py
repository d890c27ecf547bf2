"""A headless Chromium driven over the DevTools protocol on a pipe
(--remote-debugging-pipe: NUL-terminated JSON on fds 3 and 4), so the browser
tests need nothing beyond Debian's chromium and the standard library.

Records, per page, console errors, uncaught exceptions, log errors and every
network request, which the HTML report tests require to be none."""
import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import threading

CHROMIUM = os.environ.get("LEAKHOUND_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-default-apps", "--disable-extensions", "--mute-audio",
         "--remote-debugging-pipe"]


class Browser:
    def __init__(self):
        if not os.access(CHROMIUM, os.X_OK):
            raise AssertionError(f"{CHROMIUM} not found: scripts/setup.sh installs chromium")
        self.profile = tempfile.mkdtemp(prefix="leakhound-chromium-")
        to_browser_r, self._w = os.pipe()
        self._r, from_browser_w = os.pipe()
        # Chromium reads commands on fd 3 and writes replies and events on fd 4.

        def pipes_to_3_and_4():
            # Out of the way first: either end may itself be fd 3 or 4.
            r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(r, 3)
            os.dup2(w, 4)
        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            pass_fds=(3, 4), preexec_fn=pipes_to_3_and_4)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next = 0
        self._replies = {}
        self.events = []  # (sessionId, method, params)
        self._cv = threading.Condition()
        self._closed = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buf = b""
        while True:
            chunk = os.read(self._r, 1 << 16)
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                msg, buf = buf.split(b"\0", 1)
                m = json.loads(msg)
                with self._cv:
                    if "id" in m:
                        self._replies[m["id"]] = m
                    else:
                        self.events.append((m.get("sessionId"), m["method"], m.get("params", {})))
                    self._cv.notify_all()
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    def send(self, method, params=None, session=None, timeout=60):
        with self._cv:
            self._next += 1
            mid = self._next
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        with self._cv:
            if not self._cv.wait_for(lambda: mid in self._replies or self._closed, timeout):
                raise AssertionError(f"chromium did not answer {method} in {timeout}s")
            if mid not in self._replies:
                err = self.proc.stderr.read().decode(errors="replace")[-2000:]
                raise AssertionError(f"chromium exited during {method}: {err}")
            r = self._replies.pop(mid)
        if "error" in r:
            raise AssertionError(f"{method}: {r['error']}")
        return r["result"]

    def wait_event(self, session, method, timeout=60):
        with self._cv:
            ok = self._cv.wait_for(
                lambda: any(s == session and m == method for s, m, _ in self.events), timeout)
        if not ok:
            raise AssertionError(f"no {method} within {timeout}s")

    def open(self, url, width=1400, height=900):
        """A new tab that loads url; returns a Page once the load event fired."""
        tid = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = self.send("Target.attachToTarget", {"targetId": tid, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=sid)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                  session=sid)
        page = Page(self, sid, url)
        page.navigate(url)
        return page

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except AssertionError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    def __init__(self, browser, session, url):
        self.b, self.sid, self.url = browser, session, url

    def navigate(self, url):
        with self.b._cv:
            self.b.events = [e for e in self.b.events if e[0] != self.sid]
        r = self.b.send("Page.navigate", {"url": url}, session=self.sid)
        if r.get("errorText"):
            raise AssertionError(f"cannot open {url}: {r['errorText']}")
        self.b.wait_event(self.sid, "Page.loadEventFired")

    def _events(self, method):
        with self.b._cv:
            return [p for s, m, p in self.b.events if s == self.sid and m == method]

    def errors(self):
        """Console errors, uncaught exceptions and error log entries (CSP
        violations are reported there), as text."""
        out = []
        for p in self._events("Runtime.consoleAPICalled"):
            if p["type"] in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description")))
                                                  for a in p["args"]))
        for p in self._events("Runtime.exceptionThrown"):
            d = p["exceptionDetails"]
            out.append(f"exception: {d.get('exception', {}).get('description', d['text'])}")
        for p in self._events("Log.entryAdded"):
            if p["entry"]["level"] == "error":
                out.append(f"log: {p['entry']['text']}")
        return out

    def requests(self):
        """URLs requested by the page, the document itself excepted."""
        return [p["request"]["url"] for p in self._events("Network.requestWillBeSent")
                if not (p.get("type") == "Document" and p["requestId"] == p["loaderId"])]

    def eval(self, expression):
        r = self.b.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": True}, session=self.sid)
        if "exceptionDetails" in r:
            raise AssertionError(f"page script failed: {r['exceptionDetails']}")
        return r["result"].get("value")

    def screenshot(self, path, full=True):
        params = {"format": "png"}
        if full:
            params["captureBeyondViewport"] = True
            w, h = self.eval("[document.documentElement.scrollWidth,"
                             " document.documentElement.scrollHeight]")
            params["clip"] = {"x": 0, "y": 0, "width": w, "height": min(h, 16000), "scale": 1}
        data = self.b.send("Page.captureScreenshot", params, session=self.sid)["data"]
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
