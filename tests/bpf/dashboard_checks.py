"""The Grafana dashboard (deploy/helm/leakhound/dashboards/leakhound.json)
against a real Prometheus that scrapes a real daemon: every panel query and
every template variable's query, with the variables set to "All" (.*), is
valid PromQL and returns data. Used by daemon_e2e's prometheus case; the
JSON's structure is checked by tests/k8s (TestDashboardStructure)."""
import json
import os
import re

import lhtest

DASHBOARD = os.path.join(lhtest.ROOT, "deploy", "helm", "leakhound", "dashboards",
                         "leakhound.json")
# Grafana's built-in intervals, as it would set them for a short time range
# and a 1 s scrape.
BUILTINS = {"__rate_interval": "10s", "__interval": "2s", "__range": "1m"}
# Families that have series only when some process has such findings (proven
# leaks need Go 1.26+ and a goroutine leak): skipped by check(), and said so,
# only while /metrics has none; daemon_e2e's proof case runs their panels
# through check_families().
PENDING = {"leakhound_goroutines_leaked"}


def substitute(expr, chosen=None):
    """expr with $var and ${var} replaced: built-ins by a duration, template
    variables by their value in chosen, or else the "All" value .*"""
    def one(m):
        name = m.group(1) or m.group(2)
        return BUILTINS.get(name, (chosen or {}).get(name, ".*"))
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)


def queries(dash, chosen=None):
    """(where, PromQL) of every panel target, then (variable, label,
    selector) of every label_values() variable."""
    panels, variables = [], []

    def walk(ps):
        for p in ps:
            walk(p.get("panels", []))
            for t in p.get("targets", []):
                panels.append((f"panel {p['title']!r} query {t['refId']}",
                               substitute(t["expr"], chosen)))
    walk(dash["panels"])
    for v in dash["templating"]["list"]:
        if v["type"] != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q.strip())
        assert m, f"variable {v['name']}: {q!r} is not label_values(selector, label)"
        variables.append((v["name"], m.group(2), substitute(m.group(1), chosen)))
    return panels, variables


def check(prom, exposition, node):
    """Waits (60 s at most) for every query to return data, with every
    variable at All and again with node chosen; returns the number checked
    and the skipped ones. node: the daemon's NODE_NAME, which the node
    variable must list."""
    with open(DASHBOARD) as f:
        dash = json.load(f)
    panels, variables = queries(dash)
    # And with the node chosen: every series, the agent's too, has its node.
    panels += [(w + f" (node {node})", e) for w, e in queries(dash, {"node": node})[0]]
    assert len(panels) >= 15, f"only {len(panels)} panel queries in {DASHBOARD}"
    exported = set(re.findall(r"^# TYPE (\w+) ", exposition, re.M))
    skipped = sorted({m for _, e in panels for m in re.findall(r"\bleakhound_\w+", e)
                      if m in PENDING and m not in exported})
    todo = [(w, e) for w, e in panels if not any(m in e for m in skipped)]
    for w, e in todo:
        names = set(re.findall(r"\bleakhound_\w+", e))
        assert names <= exported, f"{w}: {e} names {sorted(names - exported)}, not on /metrics"

    def missing():
        # prom.query fails the test on a query Prometheus refuses.
        return [(w, e) for w, e in todo if not prom.query(e)]
    try:
        lhtest.wait_until("every dashboard query to return data", lambda: not missing(), 60)
    except AssertionError:
        raise AssertionError(f"dashboard queries without data: {missing()}")
    for name, label, selector in variables:
        res = prom.query(selector)
        assert res, f"variable {name}: {selector} returns nothing"
        if name == "node":
            got = {r["metric"].get(label) for r in res}
            assert got == {node}, f"variable node: values {got}, want {{{node!r}}}"
    return len(todo) + len(variables), skipped


def check_families(prom, families):
    """Waits (60 s at most) for every panel query naming one of `families`
    (with every variable at All) to be valid and return data; returns how many."""
    with open(DASHBOARD) as f:
        dash = json.load(f)
    todo = [(w, e) for w, e in queries(dash)[0] if any(m in e for m in families)]
    assert todo, f"no dashboard panel queries {sorted(families)}"

    def missing():
        return [(w, e) for w, e in todo if not prom.query(e)]
    try:
        lhtest.wait_until(f"the {sorted(families)} panels to return data", lambda: not missing(), 60)
    except AssertionError:
        raise AssertionError(f"dashboard queries without data: {missing()}")
    return len(todo)
