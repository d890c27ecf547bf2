package k8s

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The dashboard lives once, in the chart; the plain ConfigMap is made from it
// (go test -run TestPlainDashboard -update) and checked against it.
const (
	dashboardFile  = "deploy/helm/leakhound/dashboards/leakhound.json"
	plainDashboard = "deploy/kubernetes/grafana/leakhound-dashboard.yaml"
	dashboardKey   = "leakhound.json"
)

var update = flag.Bool("update", false, "rewrite "+plainDashboard+" from "+dashboardFile)

func TestDashboardStructure(t *testing.T) {
	for _, e := range dashboardProblems([]byte(repoFile(t, dashboardFile)), repoFile(t, "agent/daemon/metrics.cpp")) {
		t.Errorf("%s: %s", dashboardFile, e)
	}
}

// The checker finds what it is for.
func TestDashboardStructureRejects(t *testing.T) {
	good := repoFile(t, dashboardFile)
	metrics := repoFile(t, "agent/daemon/metrics.cpp")
	if p := dashboardProblems([]byte(good), metrics); len(p) != 0 {
		t.Fatalf("the dashboard itself has problems: %v", p)
	}
	for name, c := range map[string]struct{ from, to, want string }{
		"old schema":        {`"schemaVersion": 39`, `"schemaVersion": 27`, "schemaVersion"},
		"fixed datasource":  {`"uid": "${datasource}"`, `"uid": "P1809F7CD0C75ACF3"`, "datasource"},
		"duplicate id":      {`"id": 3,`, `"id": 2,`, "id 2"},
		"unknown variable":  {`\"$namespace\"`, `\"$nmspace\"`, "$nmspace"},
		"unknown metric":    {`leakhound_threads{`, `leakhound_threadz{`, "leakhound_threadz"},
		"no node variable":  {`"name": "node"`, `"name": "nodes"`, "node"},
		"expression broken": {`leakhound_open_fds{`, `leakhound_open_fds{{`, "leakhound_open_fds{{"},
	} {
		if !strings.Contains(good, c.from) {
			t.Fatalf("%s: %q not in the dashboard", name, c.from)
		}
		bad := strings.Replace(good, c.from, c.to, 1)
		p := dashboardProblems([]byte(bad), metrics)
		if !slicesContainsSub(p, c.want) {
			t.Errorf("%s: want a problem naming %q, got %v", name, c.want, p)
		}
	}
}

func slicesContainsSub(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

type dashPanel struct {
	ID         *int            `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource *dashDatasource `json:"datasource"`
	Targets    []struct {
		Datasource *dashDatasource `json:"datasource"`
		Expr       string          `json:"expr"`
		RefID      string          `json:"refId"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"`
}

type dashDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashboard struct {
	UID           string      `json:"uid"`
	Title         string      `json:"title"`
	SchemaVersion int         `json:"schemaVersion"`
	Panels        []dashPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *dashDatasource `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

// dashboardProblems checks what Grafana needs to import the dashboard against
// any Prometheus: a current schema, every panel and query on the datasource
// variable, unique panel ids, only variables that exist, only metrics that
// agent/daemon/metrics.cpp exports (or leakhound_goroutines_leaked, which the
// leak-proof branch adds) and balanced expressions. promtool is no PromQL
// parser for single expressions; the BPF suite evaluates every one against a
// real Prometheus (tests/bpf/daemon_e2e.py).
func dashboardProblems(data []byte, metricsCpp string) []string {
	var p []string
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&d); err != nil {
		return []string{"not JSON: " + err.Error()}
	}
	if d.SchemaVersion < 39 {
		p = append(p, fmt.Sprintf("schemaVersion %d: current Grafana (10.4+) writes 39 or later", d.SchemaVersion))
	}
	if d.UID == "" || d.Title == "" {
		p = append(p, "no uid or title")
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != "${datasource}") {
			p = append(p, fmt.Sprintf("variable %s: not on the datasource variable", v.Name))
		}
	}
	for _, want := range []string{"datasource", "node", "namespace"} {
		if !vars[want] {
			p = append(p, "no template variable "+want)
		}
	}
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && (v.Type != "datasource" || string(v.Query) != `"prometheus"`) {
			p = append(p, "the datasource variable is not of type datasource, query prometheus")
		}
	}
	exported := map[string]bool{"leakhound_goroutines_leaked": true}
	for _, m := range regexp.MustCompile(`"(leakhound_[a-z_]+)"`).FindAllStringSubmatch(metricsCpp, -1) {
		exported[m[1]] = true
	}
	ids := map[int]string{}
	var exprs []string
	var walk func(panels []dashPanel)
	walk = func(panels []dashPanel) {
		for _, pn := range panels {
			what := fmt.Sprintf("panel %q", pn.Title)
			if pn.ID == nil {
				p = append(p, what+": no id")
			} else if other, dup := ids[*pn.ID]; dup {
				p = append(p, fmt.Sprintf("%s: id %d, also %q's", what, *pn.ID, other))
			} else {
				ids[*pn.ID] = pn.Title
			}
			walk(pn.Panels)
			if pn.Type == "row" {
				continue
			}
			if pn.Datasource == nil || pn.Datasource.UID != "${datasource}" || pn.Datasource.Type != "prometheus" {
				p = append(p, what+": datasource is not the ${datasource} variable")
			}
			if len(pn.Targets) == 0 {
				p = append(p, what+": no query")
			}
			for _, tg := range pn.Targets {
				if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
					p = append(p, fmt.Sprintf("%s, query %s: datasource is not the ${datasource} variable", what, tg.RefID))
				}
				exprs = append(exprs, tg.Expr)
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			var q struct {
				Query string `json:"query"`
			}
			if json.Unmarshal(v.Query, &q) == nil {
				exprs = append(exprs, q.Query)
			}
		}
	}
	for _, e := range exprs {
		if strings.TrimSpace(e) == "" {
			p = append(p, "an empty query")
			continue
		}
		for _, m := range regexp.MustCompile(`\$\{?(\w+)`).FindAllStringSubmatch(e, -1) {
			if !vars[m[1]] && !strings.HasPrefix(m[1], "__") {
				p = append(p, fmt.Sprintf("query %s: $%s is no template variable", e, m[1]))
			}
		}
		for _, m := range regexp.MustCompile(`\bleakhound_[a-z_]+`).FindAllString(e, -1) {
			if !exported[m] {
				p = append(p, fmt.Sprintf("query %s: the daemon exports no metric %s", e, m))
			}
		}
		if !balanced(e) {
			p = append(p, fmt.Sprintf("query %s: unbalanced brackets", e))
		}
	}
	return p
}

// balanced reports whether (), [] and {} nest properly outside string literals.
func balanced(e string) bool {
	var stack []rune
	pair := map[rune]rune{')': '(', ']': '[', '}': '{'}
	inStr := false
	for i, r := range e {
		switch {
		case inStr:
			if r == '"' && (i == 0 || e[i-1] != '\\') {
				inStr = false
			}
		case r == '"':
			inStr = true
		case r == '(' || r == '[' || r == '{':
			if r == '{' && len(stack) > 0 && stack[len(stack)-1] == '{' {
				return false // a selector in a selector
			}
			stack = append(stack, r)
		case r == ')' || r == ']' || r == '}':
			if len(stack) == 0 || stack[len(stack)-1] != pair[r] {
				return false
			}
			stack = stack[:len(stack)-1]
		}
	}
	return !inStr && len(stack) == 0
}

// checkDashboardConfigMap: the sidecar's label, and the dashboard file byte
// for byte (what .Files.Get read, not a copy that drifted).
func checkDashboardConfigMap(t *testing.T, src string, cm *corev1.ConfigMap, label, value string) {
	t.Helper()
	where := src + ": ConfigMap " + cm.Name
	if got, ok := cm.Labels[label]; !ok || got != value {
		t.Errorf("%s: label %s=%q, want %q (Grafana's sidecar finds dashboards by it)", where, label, got, value)
	}
	want := strings.TrimSuffix(repoFile(t, dashboardFile), "\n")
	if got := cm.Data[dashboardKey]; got != want {
		t.Errorf("%s: data[%s] is not %s (%d bytes, want %d)", where, dashboardKey, dashboardFile, len(got), len(want))
	}
	if len(cm.Data) != 1 || len(cm.BinaryData) != 0 {
		t.Errorf("%s: want the one key %s", where, dashboardKey)
	}
}

func TestChartDashboard(t *testing.T) {
	cm := one[*corev1.ConfigMap](t, "chart (default values)", renderChart(t, nil))
	checkDashboardConfigMap(t, "chart (default values)", cm, "grafana_dashboard", "1")
	if cm.Namespace != namespace || len(cm.Annotations) != 0 {
		t.Errorf("chart (default values): ConfigMap in %q with annotations %v, want %q and none", cm.Namespace, cm.Annotations, namespace)
	}

	src := "chart (grafanaDashboard customized)"
	objs := renderChart(t, map[string]any{"grafanaDashboard": map[string]any{
		"namespace": "monitoring", "label": "dashboards", "labelValue": "leakhound", "folder": "Go",
	}})
	cm = one[*corev1.ConfigMap](t, src, objs)
	checkDashboardConfigMap(t, src, cm, "dashboards", "leakhound")
	if _, ok := cm.Labels["grafana_dashboard"]; ok {
		t.Errorf("%s: the default label stays beside the chosen one", src)
	}
	if cm.Namespace != "monitoring" || cm.Annotations["grafana_folder"] != "Go" {
		t.Errorf("%s: namespace %q, annotations %v; want monitoring and grafana_folder: Go", src, cm.Namespace, cm.Annotations)
	}

	off := renderChart(t, map[string]any{"grafanaDashboard": map[string]any{"enabled": false}})
	if n := len(all[*corev1.ConfigMap](off)); n != 0 {
		t.Errorf("grafanaDashboard.enabled=false still renders %d ConfigMap(s)", n)
	}
}

// The plain manifest carries the same dashboard and label as the chart.
func TestPlainDashboard(t *testing.T) {
	if *update {
		if err := os.WriteFile(filepath.Join(repo, plainDashboard), []byte(plainDashboardYAML(repoFile(t, dashboardFile))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	objs := plainManifests(t)
	cm := one[*corev1.ConfigMap](t, "deploy/kubernetes", objs)
	checkDashboardConfigMap(t, plainDashboard, cm, "grafana_dashboard", "1")
	if got, want := repoFile(t, plainDashboard), plainDashboardYAML(repoFile(t, dashboardFile)); got != want {
		t.Errorf("%s is not made from %s: go test -run TestPlainDashboard -update (in tests/k8s)", plainDashboard, dashboardFile)
	}
}

func plainDashboardYAML(dashboardJSON string) string {
	var b strings.Builder
	b.WriteString(`# The Grafana dashboard for Grafana's dashboard sidecar, which loads every
# ConfigMap labelled grafana_dashboard: "1" in its search namespace (put it in
# Grafana's namespace, or let the sidecar search all):
#   kubectl apply -f deploy/kubernetes/grafana/
# Made from ` + dashboardFile + ` (the Helm chart's file, the one copy
# to edit) by: cd tests/k8s && go test -run TestPlainDashboard -update
apiVersion: v1
kind: ConfigMap
metadata:
  name: leakhound-dashboard
  namespace: leakhound
  labels:
    app.kubernetes.io/name: leakhound
    app.kubernetes.io/instance: leakhound
    grafana_dashboard: "1"
data:
  ` + dashboardKey + `: |-
`)
	for _, line := range strings.Split(strings.TrimSuffix(dashboardJSON, "\n"), "\n") {
		if line == "" {
			b.WriteString("\n")
		} else {
			b.WriteString("    " + line + "\n")
		}
	}
	return b.String()
}
