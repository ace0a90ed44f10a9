package pebbletest

import (
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Version is the pebble release the tests run against. Debian's pebble
// (2.4.0) has no renewal information (ARI), no profiles, no IP identifiers
// and no dns-persist-01, so the tests never use it.
const Version = "v2.10.3"

const pebbleModule = "github.com/letsencrypt/pebble/v2"

// binaries returns the paths of pebble and pebble-challtestsrv at Version.
// It looks in $PEBBLE_BIN_DIR, then in `go env GOBIN` and GOPATH/bin
// (where scripts/ensure-deps installs them), and otherwise installs them with
// `go install` (through the Go module proxy) into a cache directory shared
// by every test binary, under a file lock so that packages tested in
// parallel install once. Each binary's build information must name
// Version: a binary of another release is never used.
func binaries(t testing.TB) (pebble, challtestsrv string) {
	t.Helper()
	var dirs []string
	if d := os.Getenv("PEBBLE_BIN_DIR"); d != "" {
		dirs = append(dirs, d)
	}
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.SplitN(string(out), "\n", 2)
		if gobin := strings.TrimSpace(lines[0]); gobin != "" {
			dirs = append(dirs, gobin)
		}
		if len(lines) == 2 {
			for _, p := range filepath.SplitList(strings.TrimSpace(lines[1])) {
				dirs = append(dirs, filepath.Join(p, "bin"))
			}
		}
	}
	for _, d := range dirs {
		if p, c, ok := pairIn(d); ok {
			return p, c
		}
	}
	dir, err := cacheDir()
	if err != nil {
		t.Fatalf("pebbletest: %v", err)
	}
	if err := installInto(dir); err != nil {
		t.Fatalf("pebbletest: pebble %s is not installed and installing it failed: %v (run scripts/ensure-deps test)", Version, err)
	}
	p, c, ok := pairIn(dir)
	if !ok {
		t.Fatalf("pebbletest: installed pebble %s into %s but the binaries are not there", Version, dir)
	}
	return p, c
}

// pairIn reports both binaries in dir when they are of Version.
func pairIn(dir string) (pebble, challtestsrv string, ok bool) {
	pebble = filepath.Join(dir, "pebble")
	challtestsrv = filepath.Join(dir, "pebble-challtestsrv")
	return pebble, challtestsrv, isVersion(pebble) && isVersion(challtestsrv)
}

// isVersion reports whether the Go binary at path was built from
// pebble's module at Version.
func isVersion(path string) bool {
	info, err := buildinfo.ReadFile(path)
	return err == nil && info.Main.Path == pebbleModule && info.Main.Version == Version
}

func cacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "frontdoor-test-tools", "pebble-"+Version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	return dir, nil
}

// installInto runs `go install` for both commands with GOBIN=dir, holding
// an exclusive lock on dir/.lock; a process that gets the lock after
// another installed finds the binaries and does nothing.
func installInto(dir string) error {
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	if _, _, ok := pairIn(dir); ok {
		return nil
	}
	cmd := exec.Command("go", "install",
		pebbleModule+"/cmd/pebble@"+Version,
		pebbleModule+"/cmd/pebble-challtestsrv@"+Version)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go install: %w: %s", err, out)
	}
	return nil
}
