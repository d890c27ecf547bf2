package k8s

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// What scripts/setup.sh installs for the tests, fuzzing and benchmarks only: the
// image's builder stage installs the rest, and nothing else.
var testOnly = map[string]string{
	"git":                "the clang_format test (git ls-files)",
	"llvm":               "llvm-symbolizer for sanitizer reports (fuzzing)",
	"libgtest-dev":       "unit tests",
	"googletest":         "unit tests",
	"clang-format":       "the clang_format test",
	"clang-tidy":         "scripts/clang-tidy.sh (the clang_tidy lint test)",
	"jq":                 "scripts/clang-tidy.sh (reads compile_commands.json)",
	"qemu-user-static":   "goruntime/arm64_stacks_test (runs the arm64 targets)",
	"python3":            "end-to-end and schema tests",
	"util-linux":         "end-to-end tests (setpriv)",
	"strace":             "the read-only test",
	"musl-tools":         "C test targets built against musl",
	"libclang-rt-14-dev": "fuzzing (sanitizer runtimes)",
	"libfuzzer-14-dev":   "fuzzing",
	"bpftrace":           "benchmarks (bench/native_overhead)",
	"prometheus":         "daemon_e2e's Prometheus, promtool here",
	"golang-go":          "Go test targets and this test",
	"chromium":           "html_e2e's headless browser",
	"fonts-dejavu-core":  "html_e2e's screenshots",
	"libsass1":           "bench/agent_footprint (Debian trixie's hugo)",
}

type stage struct {
	from  string
	lines []string // instructions, continuation lines joined
	apt   []string // packages named by apt-get install
}

func dockerfileStages(t *testing.T) []stage {
	t.Helper()
	text := strings.ReplaceAll(repoFile(t, "deploy/Dockerfile"), "\\\n", " ")
	var stages []stage
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if from, ok := strings.CutPrefix(line, "FROM "); ok {
			stages = append(stages, stage{from: strings.Join(strings.Fields(from), " ")})
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("deploy/Dockerfile: %q before FROM", line)
		}
		s := &stages[len(stages)-1]
		s.lines = append(s.lines, strings.Join(strings.Fields(line), " "))
		for _, cmd := range strings.Split(line, "&&") {
			f := strings.Fields(cmd)
			if i := slices.Index(f, "install"); i > 0 && f[i-1] == "apt-get" {
				for _, p := range f[i+1:] {
					if !strings.HasPrefix(p, "-") {
						s.apt = append(s.apt, p)
					}
				}
			}
		}
	}
	if len(stages) != 2 {
		t.Fatalf("deploy/Dockerfile: %d stages, want builder and runtime", len(stages))
	}
	return stages
}

func setupPackages(t *testing.T) []string {
	t.Helper()
	// Comments are bash's, not packages (and may hold parentheses).
	text := regexp.MustCompile(`(?m)(^|\s)#.*$`).ReplaceAllString(repoFile(t, "scripts/setup.sh"), "")
	m := regexp.MustCompile(`(?s)\nPKGS=\((.*?)\)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("no PKGS=( ... ) in scripts/setup.sh")
	}
	return strings.Fields(m[1])
}

func TestDockerfileBuilder(t *testing.T) {
	b := dockerfileStages(t)[0]
	if b.from != "debian:bookworm AS builder" {
		t.Errorf("builder stage: FROM %s, want debian:bookworm AS builder", b.from)
	}
	pkgs := setupPackages(t)
	var want []string
	for _, p := range pkgs {
		if _, ok := testOnly[p]; !ok {
			want = append(want, p)
		}
	}
	for p := range testOnly {
		if !slices.Contains(pkgs, p) {
			t.Errorf("%s is listed as test-only here but scripts/setup.sh no longer installs it", p)
		}
	}
	got := slices.Clone(b.apt)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("builder stage installs %v\nwant scripts/setup.sh's PKGS less the test-only ones: %v", got, want)
	}
	for _, cmd := range []string{
		"cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLEAKHOUND_TESTS=OFF",
		"cmake --build build",
	} {
		if !slices.ContainsFunc(b.lines, func(l string) bool { return strings.Contains(l, cmd) }) {
			t.Errorf("builder stage does not run %q", cmd)
		}
	}
}

func TestDockerfileRuntime(t *testing.T) {
	r := dockerfileStages(t)[1]
	if r.from != "debian:bookworm-slim" {
		t.Errorf("runtime stage: FROM %s, want debian:bookworm-slim", r.from)
	}
	if !slices.Contains(r.lines, `ENTRYPOINT ["/usr/local/bin/leakhound"]`) ||
		!slices.ContainsFunc(r.lines, func(l string) bool {
			return strings.HasSuffix(l, " /usr/local/bin/leakhound") && strings.HasPrefix(l, "COPY --from=builder ")
		}) {
		t.Errorf("runtime stage: want the binary copied to /usr/local/bin/leakhound and ENTRYPOINT [\"/usr/local/bin/leakhound\"]")
	}

	// The runtime packages are exactly those that own the shared libraries the
	// built binary links (DT_NEEDED): a new library fails here, not in a pod.
	bin := os.Getenv("LEAKHOUND_BINARY")
	if bin == "" {
		t.Skip("LEAKHOUND_BINARY (the built leakhound, set by ctest) is not set")
	}
	osRelease, _ := os.ReadFile("/etc/os-release")
	if !strings.Contains(string(osRelease), "VERSION_CODENAME=bookworm") {
		t.Skip("not Debian 12 (bookworm): this machine's library packages are not the image's")
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	needed, err := f.ImportedLibraries()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	paths := lddPaths(t, bin)
	var want []string
	for _, lib := range needed {
		p, ok := paths[lib]
		if !ok {
			t.Fatalf("ldd %s does not resolve %s", bin, lib)
		}
		for _, pkg := range owners(t, p) {
			if !slices.Contains(want, pkg) {
				want = append(want, pkg)
			}
		}
	}
	got := slices.Clone(r.apt)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("runtime stage installs %v\nwant the packages of %s's libraries %v: %v", got, bin, needed, want)
	}
}

// lddPaths maps each library name ldd resolves for bin to its path.
func lddPaths(t *testing.T, bin string) map[string]string {
	t.Helper()
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", bin, err)
	}
	paths := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s*(\S+) => (/\S+)`).FindAllStringSubmatch(string(out), -1) {
		paths[m[1]] = m[2]
	}
	return paths
}

// owners returns the Debian packages (without architecture) that own path,
// looked up as dpkg recorded it: /lib and /usr/lib are one with merged /usr.
func owners(t *testing.T, path string) []string {
	t.Helper()
	candidates := []string{path}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		candidates = append(candidates, real)
	}
	for _, c := range slices.Clone(candidates) {
		if rest, ok := strings.CutPrefix(c, "/usr"); ok {
			candidates = append(candidates, rest)
		} else {
			candidates = append(candidates, "/usr"+c)
		}
	}
	for _, c := range candidates {
		out, err := exec.Command("dpkg-query", "-S", c).Output()
		if err != nil {
			continue
		}
		line, _, _ := strings.Cut(string(out), "\n")
		names, _, _ := strings.Cut(line, ": ")
		var pkgs []string
		for _, n := range strings.Split(names, ", ") {
			n, _, _ = strings.Cut(n, ":")
			pkgs = append(pkgs, n)
		}
		return pkgs
	}
	t.Fatalf("no Debian package owns %s", path)
	return nil
}
