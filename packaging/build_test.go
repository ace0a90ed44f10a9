package packaging

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// arches are the architectures build-deb makes packages for.
var arches = []string{"amd64", "arm64"}

// builtDebs is the result of one run of build-deb, shared by the tests.
type builtDebs struct {
	version string            // upstream version
	paths   map[string]string // arch -> .deb
	skip    string            // why the packages could not be built here
	err     error
}

var (
	buildOnce sync.Once
	built     builtDebs
	// workDir holds everything the tests build; removed by TestMain.
	workDir string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "frontdoor-packaging-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// debs builds the packages once (about 20 s, plus 30 s the first time nfpm
// is compiled) and returns them, skipping the test when nfpm cannot be
// built here.
func debs(t *testing.T) builtDebs {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the packages; skipped with -short")
	}
	buildOnce.Do(func() { built = buildDebs(t) })
	if built.skip != "" {
		t.Skip(built.skip)
	}
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built
}

func buildDebs(t *testing.T) builtDebs {
	nfpm := exec.Command("go", "-C", "tools", "tool", "-n", "nfpm")
	if out, err := nfpm.CombinedOutput(); err != nil {
		return builtDebs{skip: fmt.Sprintf("cannot build nfpm v2.45.2 through the Go toolchain (module proxy unreachable?): %v\n%s", err, out)}
	}
	version, err := exec.Command("./debversion").Output()
	if err != nil {
		return builtDebs{err: fmt.Errorf("debversion: %w", err)}
	}
	b := builtDebs{version: strings.TrimSpace(string(version)), paths: map[string]string{}}

	dist := filepath.Join(workDir, "dist")
	cmd := exec.Command("./build-deb")
	cmd.Env = append(os.Environ(), "DIST_DIR="+dist, "FRONTDOOR_VERSION="+b.version, "ARCHES="+strings.Join(arches, " "))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return builtDebs{err: fmt.Errorf("build-deb: %w\n%s", err, stderr.String())}
	}
	for _, line := range strings.Fields(string(out)) {
		for _, arch := range arches {
			if strings.HasSuffix(line, "_"+arch+".deb") {
				b.paths[arch] = line
			}
		}
	}
	for _, arch := range arches {
		want := filepath.Join(dist, fmt.Sprintf("frontdoor_%s-1_%s.deb", b.version, arch))
		if b.paths[arch] != want {
			return builtDebs{err: fmt.Errorf("build-deb printed %q, want %s among them", out, want)}
		}
	}
	return b
}

// run runs a command and returns its stdout, failing the test on an error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return string(out)
}

// needTool skips the test when a program is not installed.
func needTool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (Debian package %s)", name, debianPackage)
	}
	return path
}
