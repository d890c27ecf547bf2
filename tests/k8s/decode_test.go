package k8s

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const (
	release   = "leakhound"
	namespace = "leakhound"
)

// The repository root: go test runs in the package's directory.
var repo = func() string {
	abs, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return abs
}()

func repoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Only the kinds deploy/ is meant to hold: any other (a ClusterRole, say)
// fails to decode, which is how "no RBAC" is enforced.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, monitoringv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// The API server's strict field validation (kubectl apply --validate=strict):
// unknown, duplicate and wrongly cased fields are errors, and so is a kind
// or apiVersion the scheme does not know. Decodes into the typed objects.
var strict = serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()

// decodeAll decodes every YAML document of data, skipping empty ones.
func decodeAll(source string, data []byte) ([]runtime.Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []runtime.Object
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		if j, err := yaml.YAMLToJSON(doc); err == nil && string(j) == "null" {
			continue // only comments
		}
		obj, _, err := strict.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s, document %d: %w", source, i, err)
		}
		out = append(out, obj)
	}
}

// plainManifests decodes every YAML file under deploy/kubernetes.
func plainManifests(t *testing.T) []runtime.Object {
	t.Helper()
	root := filepath.Join(repo, "deploy", "kubernetes")
	var files []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no YAML file under %s", root)
	}
	var objs []runtime.Object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(repo, f)
		o, err := decodeAll(rel, data)
		if err != nil {
			t.Fatal(err)
		}
		if len(o) == 0 {
			t.Errorf("%s: no object", rel)
		}
		objs = append(objs, o...)
	}
	return objs
}

// renderChart renders deploy/helm/leakhound as `helm template leakhound -n
// leakhound` does (with Helm's own loader and engine, strict about missing
// values) and decodes every rendered manifest strictly.
func renderChart(t *testing.T, values map[string]any) []runtime.Object {
	t.Helper()
	chrt, err := loader.Load(filepath.Join(repo, "deploy", "helm", "leakhound"))
	if err != nil {
		t.Fatal(err)
	}
	if err := chrt.Validate(); err != nil {
		t.Fatal(err)
	}
	// The oldest Kubernetes the chart admits (helm's library default is 1.20).
	caps := *chartutil.DefaultCapabilities
	caps.KubeVersion = chartutil.KubeVersion{Version: "v1.25.0", Major: "1", Minor: "25"}
	if kv := chrt.Metadata.KubeVersion; kv != "" && !chartutil.IsCompatibleRange(kv, caps.KubeVersion.String()) {
		t.Fatalf("chart's kubeVersion %q excludes %s", kv, caps.KubeVersion.String())
	}
	opts := chartutil.ReleaseOptions{Name: release, Namespace: namespace, Revision: 1, IsInstall: true}
	vals, err := chartutil.ToRenderValues(chrt, values, opts, &caps)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.Engine{Strict: true}.Render(chrt, vals)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(out))
	for n := range out {
		names = append(names, n)
	}
	sort.Strings(names)
	var objs []runtime.Object
	for _, n := range names {
		if strings.HasSuffix(n, "NOTES.txt") {
			if strings.TrimSpace(out[n]) == "" {
				t.Errorf("%s renders empty", n)
			}
			continue
		}
		o, err := decodeAll(n, []byte(out[n]))
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o...)
	}
	return objs
}

// all returns the objects of type T.
func all[T runtime.Object](objs []runtime.Object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// one returns the only object of type T, failing when there is not exactly one.
func one[T runtime.Object](t *testing.T, source string, objs []runtime.Object) T {
	t.Helper()
	found := all[T](objs)
	if len(found) != 1 {
		var zero T
		t.Fatalf("%s: %d objects of type %T, want 1", source, len(found), zero)
	}
	return found[0]
}
