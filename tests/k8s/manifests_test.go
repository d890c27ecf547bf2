package k8s

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// The capabilities the daemon needs, and why: deploy/kubernetes/leakhound.yaml.
var (
	wantCaps         = []string{"BPF", "DAC_OVERRIDE", "PERFMON", "SYS_ADMIN", "SYS_PTRACE", "SYS_RESOURCE"}
	wantCapsReadOnly = []string{"BPF", "DAC_READ_SEARCH", "PERFMON", "SYS_ADMIN", "SYS_PTRACE", "SYS_RESOURCE"}
)

// Every value an optional feature of the chart can take, switched on.
var allOn = map[string]any{
	"namespace": map[string]any{"create": true},
	"daemon": map[string]any{
		"interval": "5s", "window": "30m", "reportEvery": "30s", "topK": 10,
		"includeExe": []any{"^/app/"}, "excludeExe": []any{"/pause$"},
		"includeNamespace": []any{"shop", "billing"}, "excludeNamespace": []any{"kube-system"},
		"includeContainer": []any{"3f2a"},
		"readOnly":         true, "native": true, "goroutineEvents": true,
		"extraArgs": []any{"--exclude-exe", "^/usr/bin/"},
	},
	"podAnnotations":   map[string]any{"example.com/team": "platform"},
	"podLabels":        map[string]any{"team": "platform"},
	"imagePullSecrets": []any{map[string]any{"name": "registry"}},
	"affinity": map[string]any{"nodeAffinity": map[string]any{
		"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{
			"nodeSelectorTerms": []any{map[string]any{"matchExpressions": []any{
				map[string]any{"key": "leakhound", "operator": "NotIn", "values": []any{"off"}},
			}}},
		},
	}},
	"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}},
	"prometheusRule": map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}},
}

func TestPlainManifests(t *testing.T) {
	objs := plainManifests(t)
	checkObjects(t, "deploy/kubernetes", objs, wantCaps)
	one[*corev1.Namespace](t, "deploy/kubernetes", objs)
	checkMonitoring(t, "deploy/kubernetes", objs)
}

func TestChartDefault(t *testing.T) {
	objs := renderChart(t, nil)
	checkObjects(t, "chart (default values)", objs, wantCaps)
	for _, o := range objs {
		switch o.(type) {
		// The dashboard's ConfigMap is inert without Grafana's sidecar: on by default.
		case *corev1.ServiceAccount, *corev1.Service, *appsv1.DaemonSet, *corev1.ConfigMap:
		default:
			t.Errorf("chart (default values) renders a %T: optional objects must be off by default", o)
		}
	}
}

func TestChartAllOn(t *testing.T) {
	objs := renderChart(t, allOn)
	src := "chart (all on)"
	checkObjects(t, src, objs, wantCapsReadOnly)
	one[*corev1.Namespace](t, src, objs)
	checkMonitoring(t, src, objs)

	args := one[*appsv1.DaemonSet](t, src, objs).Spec.Template.Spec.Containers[0].Args
	for _, want := range [][]string{
		{"--interval", "5s"}, {"--window", "30m"}, {"--report-every", "30s"}, {"--top-k", "10"},
		{"--include-exe", "^/app/"}, {"--exclude-exe", "/pause$"},
		{"--include-namespace", "shop"}, {"--include-namespace", "billing"},
		{"--exclude-namespace", "kube-system"}, {"--include-container", "3f2a"},
		{"--exclude-exe", "^/usr/bin/"}, {"--read-only"}, {"--native"}, {"--goroutine-events"},
	} {
		if !containsRun(args, want) {
			t.Errorf("%s: args %q lack %q", src, args, want)
		}
	}
}

// The plain manifests are the chart with its default values.
func TestPlainMatchesChart(t *testing.T) {
	plain := plainManifests(t)
	def := renderChart(t, nil)
	on := renderChart(t, allOn)
	same := func(what string, a, b any) {
		t.Helper()
		if !apiequality.Semantic.DeepEqual(a, b) {
			t.Errorf("deploy/kubernetes and the chart differ in the %s (- plain, + chart):\n%s", what, diff.Diff(a, b))
		}
	}
	same("DaemonSet spec", one[*appsv1.DaemonSet](t, "plain", plain).Spec, one[*appsv1.DaemonSet](t, "chart", def).Spec)
	same("Service spec", one[*corev1.Service](t, "plain", plain).Spec, one[*corev1.Service](t, "chart", def).Spec)
	same("ServiceAccount token mount",
		one[*corev1.ServiceAccount](t, "plain", plain).AutomountServiceAccountToken,
		one[*corev1.ServiceAccount](t, "chart", def).AutomountServiceAccountToken)
	same("Grafana dashboard ConfigMap data",
		one[*corev1.ConfigMap](t, "plain", plain).Data, one[*corev1.ConfigMap](t, "chart", def).Data)
	// The optional objects, rendered with everything on.
	same("Namespace labels", one[*corev1.Namespace](t, "plain", plain).Labels, one[*corev1.Namespace](t, "chart", on).Labels)
	same("ServiceMonitor spec",
		one[*monitoringv1.ServiceMonitor](t, "plain", plain).Spec, one[*monitoringv1.ServiceMonitor](t, "chart", on).Spec)
	same("PrometheusRule spec",
		one[*monitoringv1.PrometheusRule](t, "plain", plain).Spec, one[*monitoringv1.PrometheusRule](t, "chart", on).Spec)
}

// The decoder behind every test above refuses what the API server would.
func TestStrictDecodingRejects(t *testing.T) {
	const sa = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: leakhound\n"
	const ds = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: leakhound\nspec:\n  template:\n    spec:\n"
	if _, err := decodeAll("valid", []byte(sa+"automountServiceAccountToken: false\n")); err != nil {
		t.Fatalf("a valid ServiceAccount fails to decode: %v", err)
	}
	for name, doc := range map[string]string{
		"unknown field":      sa + "automountToken: false\n",
		"wrongly cased":      sa + "automountserviceaccounttoken: false\n",
		"duplicate field":    sa + "  name: other\n",
		"nested unknown":     ds + "      hostPid: true\n",
		"unknown in a list":  ds + "      containers:\n        - name: a\n          securityContex: {}\n",
		"unregistered kind":  "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: x\n",
		"wrong apiVersion":   strings.Replace(ds, "apps/v1", "extensions/v1beta1", 1),
		"wrong type":         sa + "automountServiceAccountToken: \"no\"\n",
		"unknown CRD field":  "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: x\nspec:\n  endpoint: []\n",
		"second doc unknown": sa + "---\n" + sa + "secret: x\n",
	} {
		if _, err := decodeAll(name, []byte(doc)); err == nil {
			t.Errorf("%s: decoded without error:\n%s", name, doc)
		}
	}
}

// checkObjects checks one source's core objects: each alone of its kind, in
// the namespace, pointing at each other, and the DaemonSet least-privileged.
func checkObjects(t *testing.T, src string, objs []runtime.Object, caps []string) {
	t.Helper()
	for _, o := range objs {
		checkMeta(t, src, o)
	}
	sa := one[*corev1.ServiceAccount](t, src, objs)
	svc := one[*corev1.Service](t, src, objs)
	ds := one[*appsv1.DaemonSet](t, src, objs)
	if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Errorf("%s: ServiceAccount %s mounts its token: the daemon needs none", src, sa.Name)
	}
	if ds.Spec.Template.Spec.ServiceAccountName != sa.Name {
		t.Errorf("%s: DaemonSet runs as %q, not the ServiceAccount %q", src, ds.Spec.Template.Spec.ServiceAccountName, sa.Name)
	}
	checkDaemonSet(t, src, ds, caps)
	checkService(t, src, svc, ds)
}

func checkMeta(t *testing.T, src string, o runtime.Object) {
	t.Helper()
	m, err := meta.Accessor(o)
	if err != nil {
		t.Fatal(err)
	}
	_, isNS := o.(*corev1.Namespace)
	nameFn := apivalidation.NameIsDNSSubdomain
	if _, isSvc := o.(*corev1.Service); isSvc || isNS {
		nameFn = apivalidation.NameIsDNSLabel
	}
	what := fmt.Sprintf("%s: %T %s", src, o, m.GetName())
	for _, e := range apivalidation.ValidateObjectMetaAccessor(m, !isNS, nameFn, nil) {
		t.Errorf("%s: %v", what, e)
	}
	if isNS {
		if m.GetName() != namespace {
			t.Errorf("%s: want the namespace %s", what, namespace)
		}
	} else if m.GetNamespace() != namespace {
		t.Errorf("%s: namespace %q, want %q", what, m.GetNamespace(), namespace)
	}
}

func checkDaemonSet(t *testing.T, src string, ds *appsv1.DaemonSet, caps []string) {
	t.Helper()
	tpl := ds.Spec.Template
	pod := tpl.Spec
	where := src + ": DaemonSet " + ds.Name
	errorf := func(format string, args ...any) { t.Helper(); t.Errorf(where+": "+format, args...) }

	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(tpl.Labels)) {
		errorf("selector %v does not select its pods' labels %v (%v)", ds.Spec.Selector, tpl.Labels, err)
	}
	for _, e := range apivalidation.ValidateAnnotations(tpl.Annotations, nil) {
		errorf("pod annotations: %v", e)
	}
	if !pod.HostPID {
		errorf("hostPID must be true: the daemon watches the node's processes by their host PIDs")
	}
	if pod.HostNetwork || pod.HostIPC {
		errorf("hostNetwork/hostIPC are not needed")
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		errorf("automountServiceAccountToken must be false")
	}
	if !slices.ContainsFunc(pod.Tolerations, func(tol corev1.Toleration) bool {
		return tol.Key == "" && tol.Operator == corev1.TolerationOpExists && tol.Effect == ""
	}) {
		errorf("no toleration of every taint (operator: Exists): some nodes would go unwatched")
	}
	if pod.SecurityContext != nil && len(pod.SecurityContext.Sysctls) > 0 {
		errorf("sysctls are not needed")
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
		if v.HostPath != nil {
			errorf("volume %s is a hostPath: nothing of the host's is needed beyond /proc and /sys", v.Name)
		}
	}
	if len(pod.InitContainers)+len(pod.EphemeralContainers) != 0 || len(pod.Containers) != 1 {
		errorf("want exactly one container")
		return
	}
	c := pod.Containers[0]
	checkSecurityContext(t, where+", container "+c.Name, c.SecurityContext, caps)
	if len(c.Command) != 0 {
		errorf("command %q overrides the image's ENTRYPOINT (leakhound)", c.Command)
	}

	// Metrics on the pod IP, at the port the probes, annotations and Service name.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
		for _, msg := range validation.IsValidPortName(p.Name) {
			errorf("port name %q: %s", p.Name, msg)
		}
	}
	port, ok := ports["metrics"]
	if !ok {
		errorf("no container port named metrics")
	}
	if len(c.Args) == 0 || c.Args[0] != "daemon" {
		errorf("args %q: want the daemon subcommand first", c.Args)
	}
	listen := flagValue(c.Args, "--listen")
	host, p, err := net.SplitHostPort(listen)
	if err != nil || host != "0.0.0.0" || p != strconv.Itoa(int(port)) {
		errorf("--listen %q: want 0.0.0.0:%d (the default is loopback, out of Prometheus's reach)", listen, port)
	}
	checkFlagsExist(t, where, c.Args)
	for name, probe := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != "/healthz" ||
			!namesPort(probe.HTTPGet.Port, ports, port) {
			errorf("%s probe: want GET /healthz on the metrics port", name)
		}
	}
	if a := tpl.Annotations; a["prometheus.io/scrape"] == "true" {
		if a["prometheus.io/port"] != strconv.Itoa(int(port)) || a["prometheus.io/path"] != "/metrics" {
			errorf("prometheus.io annotations %v: want port %d, path /metrics", a, port)
		}
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := c.Resources.Requests[res]
		lim, hasLim := c.Resources.Limits[res]
		if !hasReq || !hasLim || req.Cmp(lim) > 0 {
			errorf("%s: want a request no larger than a limit, got %v and %v", res, c.Resources.Requests, c.Resources.Limits)
		}
	}
	checkMemoryBudget(t, where, c)

	// The node label of every series (the dashboard's node variable): the
	// daemon reads NODE_NAME (--node-name's variable), set from the pod's node.
	if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "NODE_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil &&
			e.ValueFrom.FieldRef.FieldPath == "spec.nodeName"
	}) {
		errorf("no NODE_NAME from the downward API's spec.nodeName: the metrics would have no node label")
	}
	if !strings.Contains(repoFile(t, "agent/cli/daemon_cmd.cpp"), `envname("NODE_NAME")`) {
		errorf("leakhound daemon no longer reads NODE_NAME (agent/cli/daemon_cmd.cpp)")
	}

	// The read-only root file system leaves one writable place, the sampler
	// journal's directory, which must be where the agent writes it.
	stateDir := journalDir(t)
	for _, e := range c.Env {
		if e.Name == "LEAKHOUND_STATE_DIR" {
			stateDir = e.Value
		}
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			errorf("volume mount %s names no volume", m.Name)
			continue
		}
		if m.MountPath == stateDir && !m.ReadOnly && v.EmptyDir != nil {
			mounted = true
		}
	}
	if !mounted {
		errorf("no writable emptyDir at %s, where the sampler journal goes", stateDir)
	}
}

func checkSecurityContext(t *testing.T, where string, sc *corev1.SecurityContext, caps []string) {
	t.Helper()
	if sc == nil {
		t.Errorf("%s: no securityContext", where)
		return
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("%s: privileged: true; the capabilities are enough", where)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation must be false", where)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: readOnlyRootFilesystem must be true", where)
	}
	if sc.ProcMount != nil && *sc.ProcMount != corev1.DefaultProcMount {
		t.Errorf("%s: procMount %s: the default masks are kept", where, *sc.ProcMount)
	}
	if sc.Capabilities == nil {
		t.Errorf("%s: no capabilities: want drop ALL, add %v", where, caps)
		return
	}
	if drop := sc.Capabilities.Drop; len(drop) != 1 || drop[0] != "ALL" {
		t.Errorf("%s: capabilities drop %v, want [ALL]", where, drop)
	}
	var add []string
	for _, c := range sc.Capabilities.Add {
		add = append(add, string(c))
	}
	slices.Sort(add)
	if !slices.Equal(add, caps) {
		t.Errorf("%s: capabilities add %v, want exactly %v", where, add, caps)
	}
}

func checkService(t *testing.T, src string, svc *corev1.Service, ds *appsv1.DaemonSet) {
	t.Helper()
	where := src + ": Service " + svc.Name
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("%s: want headless (clusterIP: None)", where)
	}
	podLabels := labels.Set(ds.Spec.Template.Labels)
	if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
		t.Errorf("%s: selector %v does not select the DaemonSet's pods %v", where, svc.Spec.Selector, podLabels)
	}
	ports := map[string]int32{}
	for _, p := range ds.Spec.Template.Spec.Containers[0].Ports {
		ports[p.Name] = p.ContainerPort
	}
	for _, p := range svc.Spec.Ports {
		if p.TargetPort.Type != intstr.String || ports[p.TargetPort.StrVal] != p.Port {
			t.Errorf("%s: port %s targets %s, want a named container port of the same number", where, p.Name, p.TargetPort.String())
		}
	}
}

// checkMonitoring checks the ServiceMonitor and the PrometheusRule.
func checkMonitoring(t *testing.T, src string, objs []runtime.Object) {
	t.Helper()
	svc := one[*corev1.Service](t, src, objs)
	sm := one[*monitoringv1.ServiceMonitor](t, src, objs)
	where := src + ": ServiceMonitor " + sm.Name
	sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(svc.Labels)) {
		t.Errorf("%s: selector %v does not select the Service's labels %v", where, sm.Spec.Selector, svc.Labels)
	}
	if ns := sm.Spec.NamespaceSelector; !ns.Any && len(ns.MatchNames) > 0 && !slices.Contains(ns.MatchNames, svc.Namespace) {
		t.Errorf("%s: namespaceSelector %v excludes %s", where, ns.MatchNames, svc.Namespace)
	}
	if len(sm.Spec.Endpoints) == 0 {
		t.Errorf("%s: no endpoint", where)
	}
	for _, e := range sm.Spec.Endpoints {
		if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == e.Port }) {
			t.Errorf("%s: endpoint port %q is no port of the Service", where, e.Port)
		}
		if e.Path != "" && e.Path != "/metrics" {
			t.Errorf("%s: path %q, want /metrics", where, e.Path)
		}
	}
	checkRule(t, src, one[*monitoringv1.PrometheusRule](t, src, objs))
}

// The alert names series and labels that agent/daemon/metrics.cpp exports, and
// promtool (Prometheus's own parser) accepts the rule group.
func checkRule(t *testing.T, src string, pr *monitoringv1.PrometheusRule) {
	t.Helper()
	where := src + ": PrometheusRule " + pr.Name
	metrics := repoFile(t, "agent/daemon/metrics.cpp")
	// Labels the scrape adds: instance and job.
	scrapeLabels := []string{"instance", "job"}
	hasLabel := func(l string) bool {
		return slices.Contains(scrapeLabels, l) || strings.Contains(metrics, `{"`+l+`",`)
	}
	found := false
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			expr := r.Expr.String()
			for _, m := range regexp.MustCompile(`\bleakhound_[a-z_]+`).FindAllString(expr, -1) {
				if !strings.Contains(metrics, `"`+m+`"`) {
					t.Errorf("%s: %s: the daemon exports no metric %s", where, r.Alert, m)
				}
			}
			for _, m := range regexp.MustCompile(`(\w+)\s*=~?\s*"`).FindAllStringSubmatch(expr, -1) {
				if !hasLabel(m[1]) {
					t.Errorf("%s: %s: the daemon's metrics have no label %s", where, r.Alert, m[1])
				}
			}
			for _, text := range r.Annotations {
				for _, m := range regexp.MustCompile(`\$labels\.(\w+)`).FindAllStringSubmatch(text, -1) {
					if !hasLabel(m[1]) {
						t.Errorf("%s: %s: annotation names the label %s, which no series has", where, r.Alert, m[1])
					}
				}
			}
			if strings.Contains(expr, `leakhound_leak_verdicts{verdict="leak"} > 0`) && r.For != nil && *r.For == "15m" {
				found = true
			}
		}
	}
	if !found {
		t.Errorf(`%s: no alert on leakhound_leak_verdicts{verdict="leak"} > 0 for 15m`, where)
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (Debian package prometheus, installed by scripts/setup.sh): %v", err)
	}
	rules, err := yaml.Marshal(map[string]any{"groups": pr.Spec.Groups})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(file, rules, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("%s: promtool check rules: %v\n%s\n%s", where, err, out, rules)
	}
}

// The daemon sheds work to stay under --memory-budget (its RSS and BPF maps,
// checked every --interval): the budget must sit below the container's memory
// limit with room for what one interval can add (an attach), or the limit
// OOM-kills the daemon before it sheds anything.
func checkMemoryBudget(t *testing.T, where string, c corev1.Container) {
	t.Helper()
	lim, ok := c.Resources.Limits[corev1.ResourceMemory]
	if !ok {
		return
	}
	b := flagValue(c.Args, "--memory-budget")
	q, err := resource.ParseQuantity(b)
	switch {
	case b == "" || err != nil:
		t.Errorf("%s: memory limit %s but no --memory-budget below it (%q, %v)", where, lim.String(), b, err)
	case q.Value() <= 0 || q.Value()*100 > lim.Value()*maxBudgetPercent:
		t.Errorf("%s: --memory-budget %s: want at most %d%% of the memory limit %s", where, b, maxBudgetPercent, lim.String())
	case q.Value()*100 < lim.Value()*minBudgetPercent:
		t.Errorf("%s: --memory-budget %s: under %d%% of the memory limit %s, the daemon sheds work it has room for",
			where, b, minBudgetPercent, lim.String())
	}
}

const maxBudgetPercent, minBudgetPercent = 85, 50

// The chart derives --memory-budget from the memory limit, unless told.
func TestChartMemoryBudget(t *testing.T) {
	for _, tc := range []struct {
		limit, budget, want string
	}{
		{"", "", "192Mi"}, // the defaults: 240Mi
		{"1Gi", "", "819Mi"},
		{"500M", "", "381Mi"},
		{"1Gi", "700Mi", "700Mi"},
	} {
		vals := map[string]any{}
		if tc.limit != "" {
			vals["resources"] = map[string]any{"requests": map[string]any{"cpu": "25m", "memory": "128Mi"},
				"limits": map[string]any{"cpu": "500m", "memory": tc.limit}}
		}
		if tc.budget != "" {
			vals["daemon"] = map[string]any{"memoryBudget": tc.budget}
		}
		src := fmt.Sprintf("chart (limit %q, budget %q)", tc.limit, tc.budget)
		objs := renderChart(t, vals)
		checkObjects(t, src, objs, wantCaps)
		args := one[*appsv1.DaemonSet](t, src, objs).Spec.Template.Spec.Containers[0].Args
		if got := flagValue(args, "--memory-budget"); got != tc.want {
			t.Errorf("%s: --memory-budget %q, want %q", src, got, tc.want)
		}
	}
}

// Every flag given to the daemon is one that agent/cli/daemon_cmd.cpp defines.
func checkFlagsExist(t *testing.T, where string, args []string) {
	t.Helper()
	known := map[string]bool{}
	for _, m := range regexp.MustCompile(`add_(?:option|flag)\("([^"]+)"`).FindAllStringSubmatch(repoFile(t, "agent/cli/daemon_cmd.cpp"), -1) {
		for _, name := range strings.Split(m[1], ",") {
			known[name] = true
		}
	}
	if len(known) == 0 {
		t.Fatal("no flag found in agent/cli/daemon_cmd.cpp")
	}
	for _, a := range args[1:] {
		if strings.HasPrefix(a, "-") && !known[a] {
			t.Errorf("%s: leakhound daemon has no flag %s", where, a)
		}
	}
}

// journalDir is the default of journal_dir() in agent/goruntime/write_journal.cpp.
func journalDir(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)std::string journal_dir\(\) \{.*?return "([^"]+)";`).FindStringSubmatch(repoFile(t, "agent/goruntime/write_journal.cpp"))
	if m == nil {
		t.Fatal("journal_dir()'s default not found in agent/goruntime/write_journal.cpp")
	}
	return m[1]
}

func namesPort(p intstr.IntOrString, ports map[string]int32, want int32) bool {
	if p.Type == intstr.String {
		n, ok := ports[p.StrVal]
		return ok && n == want
	}
	return p.IntVal == want
}

func flagValue(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

// containsRun reports whether want occurs in args as consecutive elements.
func containsRun(args, want []string) bool {
	for i := 0; i+len(want) <= len(args); i++ {
		if slices.Equal(args[i:i+len(want)], want) {
			return true
		}
	}
	return false
}
