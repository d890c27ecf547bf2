#!/usr/bin/env python3
"""Retention paths (--retainers), end to end, on Go 1.21 (the arenas' pointer
bitmaps, no types), 1.22 (the first release with allocation headers) and the
newest, default and stripped: the
retainleak target holds its objects through a known global and prints its
address, the oracle for the root's name.

- global-map: a global map[string]*Session that only grows: the sessions'
  finding is held by main.sessions (by .symtab), or on a stripped build by
  SECTION+0xOFF of the address the target printed; the sampled sessions are
  all reached, and at least half of the top path's objects confirmed by a
  re-read (the map grows while the walk runs: entries it moved two levels
  fail the re-read, see check_paths).
- cache2: a cache held through two pointers from a global (main.registry →
  *Registry → *Cache → []*Entry → *Entry): the root is main.registry, and
  the path goes through a 24 B and a 32 B object (small objects carry no
  type) and the typed backing array to *main.Entry.
- stack-slice: a slice of *Item that only grows, held by nothing but a
  local of main.holder, a long-lived goroutine whose id the target prints:
  the root is "goroutine ID (created by main.main at main.go:N), frame
  main.holder" (a goroutine stack, scanned conservatively), through the
  slice's backing array []*main.Item.
- ticker: per request, an unstopped time.NewTicker whose goroutine appends
  to a slice its closure captured. What holds the samples is each
  ticker goroutine's stack (the closure's context, then the captured slice
  variable): the root is "goroutine ... (created by main.startReporter at
  main.go:N), frame main.startReporter.func1", many goroutines in one path.
- finalizer: per request a *Conn kept in a global list, with a finalizer
  whose closure captured a blob nothing else holds: the root is "finalizer
  of main.Conn object" (1.21: "finalizer of 704 B object", no types), a
  finalizer special as the GC's markrootSpans makes it a root.
- cleanup (Go 1.24+, runtime.AddCleanup): the same with the blob passed as
  the cleanup's argument, which the runtime keeps in the cleanup's closure:
  the root is "cleanup of main.Conn object".
- control: sessions made and dropped, a holder that resets its slice,
  reporters that stop, conns dropped: no leak at main.newSession,
  main.newItem, main.newSample or main.newBlob, so nothing to explain.

Every path shown must have every edge confirmed by the re-read after the
walk, but for global-map (see check_paths).

Usage: retain_e2e.py [--versions 1.21,1.22,1.27] [--variants default,strip] [--jobs N] [filter]"""
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


def array_name(minor, elem, site):
    """A slice's backing array of *elem: typed by its allocation header from
    1.22; on 1.21 objects carry no type, so by size, or by its allocation
    site when it is a sampled object of a finding (append grows it there)."""
    if minor != "1.21":
        return rf"\[\]\*{re.escape(elem)}"
    return rf"\d+ B object|object from {re.escape(site)}"


def object_name(minor, typ, site):
    """A sampled *typ: by its type from 1.22, by its allocation site on 1.21."""
    return f"*{typ}" if minor != "1.21" else f"object from {site}"


def check_paths(f, root, kind="global", all_confirmed=True, shown=0.9):
    """root: the root's exact name, or for a goroutine a regex it must match;
    shown: the share of the reached objects the paths shown (3) must hold."""
    r = f["retention"]
    assert r["sampled_objects"] >= 20, r
    # Nothing is ever freed: every sampled object is reachable from the root.
    assert r["reached"] >= 0.9 * r["sampled_objects"], r
    # A caller's stacks (a struct and its payload) end in different objects:
    # every path shown starts at the root, and together they hold the objects.
    match = (lambda p: re.fullmatch(root, p["root"])) if kind == "goroutine" else (
        lambda p: p["root"] == root)
    ours = [p for p in r["paths"] if match(p) and p["root_kind"] == kind]
    if kind == "global":
        assert ours == r["paths"], (r, root)
    else:
        # Stacks are scanned conservatively: a dead slot of another frame
        # that happens to point at one of the objects makes a path of its
        # own (seen: main.main's frame → one Item of 99). The right root
        # holds all but a few.
        assert sum(p["objects"] for p in ours) >= 0.95 * sum(p["objects"] for p in r["paths"]), (
            r, root)
    assert sum(p["objects"] for p in ours) >= shown * r["reached"], r
    top = ours[0]
    if all_confirmed:
        assert all(p["confirmed"] == p["objects"] for p in r["paths"]), r["paths"]
    else:
        # A map that grows while the walk runs moves its entries. The re-read
        # follows a move of one level (an evacuated bucket: the new array
        # holds the entry; a growth that ended: hmap.buckets does), not more
        # (1.21-1.23: an old bucket evacuated mid-growth is cleared while the
        # entry's new bucket hangs from another word of the hmap; 1.24+: a
        # table split replaces the directory's table pointer and the groups
        # under it): such a path is reported unconfirmed, as it must be.
        # Most hold at this rate.
        assert top["confirmed"] >= 0.5 * top["objects"], top
    return top


def case_global_map(minor, variant):
    path, t, roots = start(minor, variant, "global-map")
    try:
        rep, _ = lhtest.attach_json(t.pid, WINDOW, EXTRA)
        f, walk = explained(rep, "main.newSession")
        # On 1.21 no object carries a type: a map's bucket arrays are named by
        # size (or, when sampled, by the site that grew the map), and a map
        # growing during the walk has two arrays and their overflow buckets:
        # the objects spread over up to six path shapes, of which 3 are shown.
        top = check_paths(f, expected_root(path, variant, "main.sessions", roots["sessions"]),
                          all_confirmed=False, shown=0.6 if minor == "1.21" else 0.9)
        print(f"     {minor}-{variant} global-map: {top['objects']} of "
              f"{f['retention']['sampled_objects']} ({f['retention']['reached']} reached, "
              f"{walk['second_pass']} by a second walk) via {top['root']} → "
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
            assert top["via"][:2] == ["24 B object", "32 B object"], top
            assert re.fullmatch(array_name(minor, "main.Entry", "main.main"), top["via"][2]), top
            ends.add(top["object"] if len(top["via"]) == 3 else top["via"][3])
            print(f"     {minor}-{variant} cache2: {top['root']} → {' → '.join(top['via'])} → "
                  f"{top['object']} ({top['objects']} objects, {top['confirmed']} confirmed)",
                  flush=True)
        assert object_name(minor, "main.Entry", "main.newEntry") in ends, ends
    finally:
        t.stop()


def goroutine_paths(rep, function, root, shown=0.9):
    """Every explained finding at `function` with many samples is held by a
    goroutine root matching `root`; returns the top paths."""
    explained(rep, function)
    tops = []
    for f in findings_at(rep, function):
        if not f.get("retention") or f["retention"]["sampled_objects"] < 20:
            continue
        tops.append(check_paths(f, root, kind="goroutine", shown=shown))
    assert tops, f"no finding at {function} with enough samples"
    walk = rep["retention_walk"]
    assert walk["goroutines"] >= 1 and "stacks_why_not" not in walk, walk
    return tops, walk


def case_stack_slice(minor, variant):
    path, t, roots = start(minor, variant, "stack-slice")
    try:
        goid = t.wait_for(r"^holder goid=").split("=")[1]
        rep, _ = lhtest.attach_json(t.pid, WINDOW, EXTRA)
        # Only main.holder's stack holds the items: the goroutine the target
        # named, in the frame of the function whose local the slice is.
        root = rf"goroutine {goid} \(created by main\.main at main\.go:\d+\), frame main\.holder"
        tops, walk = goroutine_paths(rep, "main.newItem", root)
        ends = set()
        for top in tops:
            assert top["goroutines"] == 1, top
            assert re.fullmatch(array_name(minor, "main.Item", "main.holder"), top["via"][0]), top
            ends.add(top["object"] if len(top["via"]) == 1 else top["via"][1])
            print(f"     {minor}-{variant} stack-slice: {top['root']} → {' → '.join(top['via'])} → "
                  f"{top['object']} ({top['objects']} objects, {top['confirmed']} confirmed); "
                  f"{walk['goroutines']} stacks, {walk['goroutines_running']} running", flush=True)
        assert object_name(minor, "main.Item", "main.newItem") in ends, ends
    finally:
        t.stop()


def case_ticker(minor, variant):
    path, t, roots = start(minor, variant, "ticker")
    try:
        rep, _ = lhtest.attach_json(t.pid, WINDOW, EXTRA)
        # The ticker goroutines' closures hold the samples: their stacks, in
        # the frame of the func literal that loops on the ticker's channel.
        root = (r"goroutine \d+ \(created by main\.startReporter at main\.go:\d+\), "
                r"frame main\.startReporter\.func1")
        # Each goroutine's slice has its own capacity: backing arrays up to
        # 512 B carry no type and are named by size, so the paths differ by
        # it, and the 3 shown hold only some of the objects.
        tops, walk = goroutine_paths(rep, "main.newSample", root, shown=0.3)
        top = tops[0]
        # One path for all of them: the goroutine's id is not part of its name.
        assert top["goroutines"] >= 5, top
        print(f"     {minor}-{variant} ticker: {top['root']} and {top['goroutines'] - 1} more → "
              f"{' → '.join(top['via'])} → {top['object']} ({top['objects']} objects, "
              f"{top['confirmed']} confirmed)", flush=True)
    finally:
        t.stop()


def special_case(minor, variant, kind):
    """finalizer or cleanup: the blobs hang from the special's closure (a
    small funcval) and nothing else."""
    path, t, roots = start(minor, variant, kind)
    try:
        rep, _ = lhtest.attach_json(t.pid, WINDOW, EXTRA)
        f, walk = explained(rep, "main.newBlob")
        root = f"{kind} of main.Conn object" if minor != "1.21" else f"{kind} of 704 B object"
        r = f["retention"]
        assert r["sampled_objects"] >= 20 and r["reached"] >= 0.9 * r["sampled_objects"], r
        assert all(p["root"] == root and p["root_kind"] == kind for p in r["paths"]), r
        assert all(p["confirmed"] == p["objects"] for p in r["paths"]), r["paths"]
        assert walk["specials"] >= r["sampled_objects"], walk
        top = r["paths"][0]
        print(f"     {minor}-{variant} {kind}: {top['root']} → {' → '.join(top['via'])} → "
              f"{top['object']} ({top['objects']} objects, {top['confirmed']} confirmed)",
              flush=True)
    finally:
        t.stop()


def case_finalizer(minor, variant):
    special_case(minor, variant, "finalizer")


def case_cleanup(minor, variant):
    special_case(minor, variant, "cleanup")


def case_control(minor, variant):
    _, t, _ = start(minor, variant, "control")
    try:
        rep, _ = lhtest.attach_json(t.pid, WINDOW, EXTRA)
        for fn in ("main.newSession", "main.newItem", "main.newSample", "main.newBlob"):
            bad = [f for f in findings_at(rep, fn) if f["verdict"] == "leak"]
            assert not bad, (
                f"control: a leak at {fn}: {bad[0].get('kind', 'stack')}, "
                f"reason={bad[0]['trend']['reason']!r}, "
                f"series={[(round(p[0], 1), p[1]) for p in bad[0]['series']]}, "
                f"in a caller: {[h.get('kind') for h in rep['heap'] if bad[0] in h.get('children', [])]}, "
                f"retention {bad[0].get('retention')}")
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
    minors = a.versions.split(",") if a.versions else ["1.21", "1.22", lhtest.MINORS[-1]]
    cases = []
    for variant in a.variants.split(","):
        for minor in minors:
            kinds = [("global-map", case_global_map), ("cache2", case_cache2),
                     ("stack-slice", case_stack_slice), ("ticker", case_ticker)]
            if variant == "default":
                kinds += [("finalizer", case_finalizer), ("control", case_control)]
                if tuple(map(int, minor.split("."))) >= (1, 24):
                    kinds.append(("cleanup", case_cleanup))
            for kind, fn in kinds:
                name = f"{kind}-go{minor}-{variant}"
                if a.filter in name:
                    cases.append((name, fn, minor, variant))
    return lhtest.run_cases(cases, a.jobs)


if __name__ == "__main__":
    raise SystemExit(main())
