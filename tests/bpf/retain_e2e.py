#!/usr/bin/env python3
"""Retention paths (--retainers), end to end, on Go 1.22 (the first release
with allocation headers) and the newest, default and stripped: the
retainleak target holds its objects through a known global and prints its
address, the oracle for the root's name.

- global-map: a global map[string]*Session that only grows: the sessions'
  finding is held by main.sessions (by .symtab), or on a stripped build by
  SECTION+0xOFF of the address the target printed; the sampled sessions are
  all reached, and at least half of the paths shown confirmed by a re-read
  (the map grows while the walk runs: entries it moved fail the re-read).
- cache2: a cache held through two pointers from a global (main.registry →
  *Registry → *Cache → []*Entry → *Entry): the root is main.registry, and
  the path goes through a 24 B and a 32 B object (small objects carry no
  type) and the typed backing array to *main.Entry.
- control: sessions made and dropped: no leak at main.newSession, so nothing
  to explain.

Usage: retain_e2e.py [--versions 1.22,1.27] [--variants default,strip] [--jobs N] [filter]"""
import argparse
import re
import subprocess

import lhtest

WINDOW = "8s"
# Dense sampling so that a short window holds hundreds of sampled objects.
EXTRA = ["--retainers", "--sample-rate", "4096"]


def sections(path):
    """[(name, addr, size)] of the binary's allocated sections (readelf -SW)."""
    out = subprocess.run(["readelf", "-SW", path], capture_output=True, text=True,
                         check=True).stdout
    res = []
    for m in re.finditer(r"\]\s+(\.\S+)\s+\S+\s+([0-9a-f]{16})\s+[0-9a-f]+\s+([0-9a-f]+)", out):
        addr, size = int(m.group(2), 16), int(m.group(3), 16)
        if addr:
            res.append((m.group(1), addr, size))
    return res


def expected_root(path, variant, symbol, addr):
    """What leakhound must call the global: its symbol, or on a stripped
    binary its section and offset (from the address the target printed)."""
    if variant != "strip":
        return symbol
    for name, start, size in sections(path):
        if start <= addr < start + size:
            return f"{name}+{addr - start:#x}"
    raise AssertionError(f"{addr:#x} is in no section of {path}")


def findings_at(rep, function):
    """Heap findings (children of callers too) whose allocation site is `function`."""
    out = []
    for f in rep["heap"]:
        for g in [f] + f.get("children", []):
            u = lhtest.first_user_frame(g)
            if u and u["function"] == function:
                out.append(g)
    return out


def start(minor, variant, mode):
    path = lhtest.target_path("retainleak", minor, variant)
    t = lhtest.Target([path, "-mode", mode, "-interval", "500ms"])
    m = t.wait_for(r"^roots ")
    roots = {k: int(v, 16) for k, v in (kv.split("=") for kv in m.split()[1:])}
    return path, t, roots


def explained(rep, function):
    """The finding at `function` that was judged and explained."""
    fs = [f for f in findings_at(rep, function) if f.get("retention")]
    walk = rep.get("retention_walk")
    assert walk and walk["ran"], f"the retention walk did not run: {walk}"
    assert fs, (f"no explained finding at {function}: "
                f"{[(lhtest.first_user_frame(f) or {}).get('function'), f['verdict']] for f in rep['heap']}")
    f = max(fs, key=lambda f: f["retention"]["sampled_objects"])
    assert f["verdict"] in ("leak", "growing"), f["verdict"]
    return f, walk


def check_paths(f, root):
    r = f["retention"]
    assert r["sampled_objects"] >= 20, r
    # Nothing is ever freed: every sampled object is reachable from the root.
    assert r["reached"] >= 0.9 * r["sampled_objects"], r
    # A caller's stacks (a struct and its payload) end in different objects:
    # every path shown starts at the root, and together they hold the objects.
    assert all(p["root"] == root and p["root_kind"] == "global" for p in r["paths"]), (r, root)
    assert sum(p["objects"] for p in r["paths"]) >= 0.9 * r["reached"], r
    # The program runs on during the walk: a map that grows moves its
    # entries (1.22's evacuation, 1.24+'s table splits), so a few edges read
    # early have changed by the re-read; most must hold.
    top = r["paths"][0]
    assert top["confirmed"] >= 0.5 * top["objects"], top
    return top


def case_global_map(minor, variant):
    path, t, roots = start(minor, variant, "global-map")
    try:
        rep, _ = lhtest.attach_json(t.pid, WINDOW, EXTRA)
        f, walk = explained(rep, "main.newSession")
        top = check_paths(f, expected_root(path, variant, "main.sessions", roots["sessions"]))
        print(f"     {minor}-{variant} global-map: {top['objects']} of "
              f"{f['retention']['sampled_objects']} via {top['root']} → "
              f"{' → '.join(top['via'])} → {top['object']}; {top['confirmed']} confirmed; walk "
              f"{walk['scanned_bytes']} of {walk['heap_bytes']} B in {walk['seconds']:.2f} s",
              flush=True)
    finally:
        t.stop()


def case_cache2(minor, variant):
    path, t, roots = start(minor, variant, "cache2")
    try:
        rep, _ = lhtest.attach_json(t.pid, WINDOW, EXTRA)
        explained(rep, "main.newEntry")
        root = expected_root(path, variant, "main.registry", roots["registry"])
        # The entries and their blobs: two stacks in main.newEntry, both held
        # through *Registry (24 B, no type: small objects carry none), *Cache
        # (32 B) and the entries' backing array, which does.
        ends = set()
        for f in findings_at(rep, "main.newEntry"):
            # Stacks with a few samples only (the key's string) are not the point.
            if not f.get("retention") or f["retention"]["sampled_objects"] < 20:
                continue
            top = check_paths(f, root)
            assert top["via"][:3] == ["24 B object", "32 B object", "[]*main.Entry"], top
            ends.add(top["object"] if len(top["via"]) == 3 else top["via"][3])
            print(f"     {minor}-{variant} cache2: {top['root']} → {' → '.join(top['via'])} → "
                  f"{top['object']} ({top['objects']} objects, {top['confirmed']} confirmed)",
                  flush=True)
        assert "*main.Entry" in ends, ends
    finally:
        t.stop()


def case_control(minor, variant):
    _, t, _ = start(minor, variant, "control")
    try:
        rep, _ = lhtest.attach_json(t.pid, WINDOW, EXTRA)
        bad = [f for f in findings_at(rep, "main.newSession") if f["verdict"] == "leak"]
        assert not bad, f"control: a leak at main.newSession: {bad[0]['retention']}"
    finally:
        t.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", default="")
    ap.add_argument("--variants", default="default,strip")
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("filter", nargs="?", default="")
    a = ap.parse_args()
    lhtest.require_root()
    minors = a.versions.split(",") if a.versions else ["1.22", lhtest.MINORS[-1]]
    cases = []
    for variant in a.variants.split(","):
        for minor in minors:
            kinds = [("global-map", case_global_map), ("cache2", case_cache2)]
            if variant == "default":
                kinds.append(("control", case_control))
            for kind, fn in kinds:
                name = f"{kind}-go{minor}-{variant}"
                if a.filter in name:
                    cases.append((name, fn, minor, variant))
    return lhtest.run_cases(cases, a.jobs)


if __name__ == "__main__":
    raise SystemExit(main())
