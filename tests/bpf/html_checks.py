"""Checks of a leakhound report page (agent/report/html_writer.h) in a
browser (cdp.Page) against the JSON report it was written with."""
import json
import math

MAX_CHARTS = 50  # HtmlOptions::max_charts
MAX_ROWS = 1000  # HtmlOptions::max_rows
KINDS = ("heap", "native", "goroutines", "process")

# Everything the checks read from the DOM, in one evaluation.
EXTRACT = r"""
(() => {
  const num = (e, a) => Number(e.getAttribute(a));
  const out = {fields: [], charts: {}, tables: {}, flames: {}};
  document.querySelectorAll('[data-json][data-value]').forEach(e =>
    out.fields.push([e.dataset.json, e.dataset.value, e.textContent]));
  document.querySelectorAll('figure.chart').forEach(f => {
    out.charts[f.dataset.chart] = {
      declared: num(f, 'data-series'),
      series: [...f.querySelectorAll('g.series')].map(g => ({
        name: g.dataset.name, declared: num(g, 'data-points'),
        points: [...g.querySelectorAll('circle')].map(c => [num(c, 'data-t'), num(c, 'data-v')])})),
      lines: [...f.querySelectorAll('line[data-line]')].map(l => l.dataset.line)};
  });
  document.querySelectorAll('table.findings').forEach(t => {
    out.tables[t.dataset.kind] = {
      head: [...t.tHead.rows[0].cells].map(c => c.textContent.replace(/[\u25B2\u25BC ]/g, '')),
      rows: [...t.tBodies[0].rows].map(r => ({json: r.dataset.json,
        cells: [...r.cells].map(c => c.hasAttribute('data-v') ? c.dataset.v : c.textContent)}))};
  });
  document.querySelectorAll('section.flame').forEach(s => {
    out.flames[s.dataset.flame] = {total: num(s, 'data-total'),
      frames: [...s.querySelectorAll('.fr')].map(f => ({name: f.dataset.name,
        x: num(f, 'data-x'), w: num(f, 'data-w'), d: num(f, 'data-d'), v: num(f, 'data-v')}))};
  });
  return out;
})()
"""

TABLE_FIELDS = {  # column header -> JSON field of the finding
    "heap": {"inuse_bytes": "inuse_bytes", "inuse_objects": "inuse_objects",
             "growth_bytes_per_s": "growth_bytes_per_s", "confidence": "confidence"},
    "goroutines": {"count": "count", "growth_per_s": "growth_per_s", "confidence": "confidence",
                   "wait_reason": "wait_reason"},
    "process": {"metric": "metric", "value": "value", "growth_per_s": "growth_per_s",
                "confidence": "confidence"},
}
TABLE_FIELDS["native"] = TABLE_FIELDS["heap"]


def human_bytes(b):
    """report/units.cpp human_bytes."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    v, u = abs(b), 0
    while u + 1 < len(units) and round(v * 10) / 10 >= 1024:
        v /= 1024
        u += 1
    sign = "-" if b < 0 else ""
    return f"{sign}{v:.0f} B" if u == 0 else f"{sign}{v:.1f} {units[u]}"


def json_at(rep, path):
    v = rep
    for part in path.split("."):
        v = v[int(part)] if isinstance(v, list) else v[part]
    return v


def same(shown, want):
    if isinstance(want, bool) or want is None:
        return False
    if isinstance(want, (int, float)):
        return float(shown) == float(want)
    return shown == want


def extract(page):
    return page.eval(EXTRACT)


def check_clean(page):
    errors = page.errors()
    assert not errors, f"{page.url}: {len(errors)} console errors: {errors[:5]}"
    requests = page.requests()
    assert not requests, f"{page.url}: {len(requests)} network requests: {requests[:5]}"


def check_report_page(page, rep):
    """The page shows what the JSON report says."""
    check_clean(page)
    dom = extract(page)
    # Header facts and verdict counts.
    paths = {p for p, _, _ in dom["fields"]}
    for need in ("target.pid", "target.exe", "window.duration_s", "summary.heap_leaks",
                 "summary.native_leaks", "summary.goroutine_leaks", "summary.process_leaks"):
        assert need in paths, f"the page does not show {need}"
    for path, value, text in dom["fields"]:
        want = json_at(rep, path)
        assert same(value, want), f"{path}: page {value!r}, JSON {want!r}"
        if path.endswith("_bytes"):
            assert text == human_bytes(want), f"{path}: shown {text!r} for {want}"
        assert text.strip(), f"{path}: nothing shown"
    for kind in KINDS:
        findings = rep[kind]
        # The table: one row per finding, in the JSON's order, same values.
        if not findings:
            assert kind not in dom["tables"], f"a {kind} table without findings"
            continue
        table = dom["tables"][kind]
        assert len(table["rows"]) == min(MAX_ROWS, len(findings)), \
            f"{kind}: {len(table['rows'])} rows, JSON {len(findings)} findings"
        for i, row in enumerate(table["rows"]):
            assert row["json"] == f"{kind}.{i}", (kind, i, row["json"])
            for col, field in TABLE_FIELDS[kind].items():
                cell = row["cells"][table["head"].index(col)]
                assert same(cell, findings[i][field]), \
                    f"{kind}.{i}.{field}: page {cell!r}, JSON {findings[i][field]!r}"
            assert row["cells"][table["head"].index("verdict")] == findings[i]["verdict"]
        # A growth chart per finding: its series point for point, the trend.
        charted = len(findings) if kind == "process" else min(MAX_CHARTS, len(findings))
        for i in range(charted):
            c = dom["charts"].get(f"{kind}.{i}")
            assert c, f"no chart for {kind}.{i}"
            assert c["declared"] == 1 and len(c["series"]) == 1, f"{kind}.{i}: {c['declared']}"
            s = c["series"][0]
            want = [[float(t), float(v)] for t, v in findings[i]["series"]]
            assert s["points"] == want, f"{kind}.{i}: points {s['points'][:4]}, JSON {want[:4]}"
            assert s["declared"] == len(want), (kind, i)
            assert "trend" in c["lines"], f"{kind}.{i}: no trend line"
        assert f"{kind}.{charted}" not in dom["charts"], f"{kind}: more charts than findings"
    check_hover(page, rep)
    mem = rep["memory"]
    if mem["read"] and mem["series"]:
        c = dom["charts"]["memory"]
        assert c["series"][0]["points"] == [[float(t), float(v)] for t, v in mem["series"]]
        if mem["limited"]:
            assert "limit" in c["lines"], c["lines"]
        if mem.get("seconds_to_limit") is not None:
            assert "forecast" in c["lines"], c["lines"]
    # Flame graphs weigh what the findings hold.
    heap_total = sum(f["inuse_bytes"] for f in rep["heap"] if f["stack"])
    native_total = sum(f["inuse_bytes"] for f in rep["native"] if f["stack"])
    gr_total = sum(f["count"] for f in rep["goroutines"])
    for name, want in (("heap", heap_total), ("native", native_total), ("goroutines", gr_total)):
        got = dom["flames"][name]["total"]
        assert got == want, f"flame graph {name}: total {got}, findings {want}"
    return dom


def check_hover(page, rep):
    """Hovering the last point of the first chart shows its value, as the
    terminal report would write it."""
    kind = next((k for k in ("heap", "native", "process") if rep[k]), None)
    if kind is None:
        return
    f = rep[kind][0]
    shown = page.eval(f"""(() => {{
        const fig = document.querySelector("figure.chart[data-chart='{kind}.0']");
        const cs = fig.querySelectorAll("circle");
        cs[cs.length - 1].dispatchEvent(new MouseEvent("mouseover", {{bubbles: true}}));
        return fig.querySelector(".readout").textContent; }})()""")
    t, v = f["series"][-1]
    value = human_bytes(v) if kind != "process" or f["metric"] == "rss_bytes" else f"{v:,.0f}"
    assert shown.endswith(f": {value} at {t:.1f} s"), f"hover on {kind}.0: {shown!r}"


def is_runtime(fn):
    return fn.startswith("runtime.") or fn.startswith("internal/runtime")


def is_glue(fn):
    """Frames no one wrote: the goroutine's creation-site root, cgo's generated
    calls (main._Cfunc_CString, main._cgo_cmalloc, _cgo_<hash>_Cfunc__Cmalloc)
    and the C allocator."""
    last = fn.rsplit(".", 1)[-1]
    return (fn.startswith("created by ") or last.startswith("_Cfunc_") or
            last.startswith("_cgo_") or fn in ("malloc", "calloc", "realloc", "mmap"))


def leak_path(rep, kind):
    """Root-first frame names of the top leak's stack as the flame graph draws it."""
    leaks = [f for f in rep[kind] if f["verdict"] == "leak"]
    assert leaks, f"no {kind} leak in the report: " + json.dumps(
        [(f["verdict"], f["stack"][:2]) for f in rep[kind][:5]])[:800]
    f = leaks[0]
    stack = f["stack"] if f["stack"] or kind != "goroutines" else [f["entry"]]
    names = [fr["function"] for fr in reversed(stack)]
    if kind == "goroutines":
        names = ["created by " + f["created_at"]["function"]] + names
    return names, f


def check_leak_frame(page, rep, kind, leaking):
    """Along the top leak's path in the flame graph, the frame nearest the leaf
    that is not the Go runtime's (or the allocator's) is the leaking function;
    a click zooms it to the full width, a search highlights it."""
    names, finding = leak_path(rep, kind)
    flame = extract(page)["flames"][kind]
    frames = flame["frames"]
    at = next(f for f in frames if f["d"] == 0)
    path = []
    for d, name in enumerate(names, 1):
        kids = [f for f in frames if f["d"] == d and f["name"] == name
                and at["x"] - 1e-6 <= f["x"] < at["x"] + at["w"] - 1e-9]
        assert kids, f"{kind} flame graph: no frame {name} at depth {d} under {at['name']}"
        at = kids[0]
        path.append(at)
    user = [f for f in path if not is_runtime(f["name"]) and not is_glue(f["name"])]
    assert user, f"{kind}: only runtime frames on the leak's path: {names}"
    top = user[-1]
    # A leaking function or a closure of it (main.leakChan.func1).
    assert any(top["name"] == fn or top["name"].startswith(fn + ".") for fn in leaking), \
        f"{kind}: the leak's top frame is {top['name']}, want one of {sorted(leaking)} " \
        f"(path {names})"
    # The frame holds at least the leak's own weight.
    weight = finding["count"] if kind == "goroutines" else finding["inuse_bytes"]
    assert top["v"] >= weight, (top, weight)
    # Zoom: a click on the frame stretches it to the full width.
    sel = f"section.flame[data-flame='{kind}'] .fr"
    idx = page.eval(f"""[...document.querySelectorAll("{sel}")].findIndex(f =>
        f.dataset.name === {json.dumps(top['name'])} && f.dataset.d === "{top['d']}" &&
        Math.abs(Number(f.dataset.x) - {top['x']}) < 1e-9)""")
    assert idx >= 0
    width = page.eval(f"""(() => {{ const f = document.querySelectorAll("{sel}")[{idx}];
        f.click(); return f.style.width; }})()""")
    assert width == "100%", f"{kind}: zoomed frame is {width} wide"
    hidden = page.eval(f"""document.querySelectorAll("{sel}.off").length""")
    assert hidden > 0 or len(frames) == len(path) + 1 or all(
        f["w"] >= top["w"] for f in frames if f["d"] <= top["d"]), "zoom hid nothing"
    page.eval(f"""document.querySelector("section.flame[data-flame='{kind}'] button.reset")
        .click()""")
    assert page.eval(f"""document.querySelectorAll("{sel}.off").length""") == 0
    # Search: the function is highlighted and its share shown.
    short = top["name"].split(".")[-1]
    hits, match = page.eval(f"""(() => {{
        const s = document.querySelector("section.flame[data-flame='{kind}']");
        const box = s.querySelector("input[type=search]");
        box.value = {json.dumps(short)};
        box.dispatchEvent(new Event("input"));
        return [s.querySelectorAll(".fr.hit").length, s.querySelector(".match").textContent];
    }})()""")
    assert hits >= 1 and match.startswith("matched "), (hits, match)
    check_clean(page)


def check_sorting(page, kind):
    """A click on a numeric column's header sorts the table by it, descending
    then ascending."""
    col = {"heap": "inuse_bytes", "native": "inuse_bytes", "goroutines": "count"}[kind]
    for order in ("desc", "asc"):
        vals = page.eval(f"""(() => {{
            const t = document.querySelector("table.findings[data-kind='{kind}']");
            const i = [...t.tHead.rows[0].cells].findIndex(c => c.textContent === "{col}" ||
                c.textContent.startsWith("{col} "));
            const th = t.tHead.rows[0].cells[i]; th.click();
            if (!th.classList.contains("{order}")) return null;
            return [...t.tBodies[0].rows].map(r => Number(r.cells[i].dataset.v));
        }})()""")
        assert vals is not None, f"{kind}: header click did not sort {order}"
        want = sorted(vals, reverse=order == "desc")
        assert vals == want, f"{kind}: not sorted {order}: {vals[:8]}"
    check_clean(page)
