package appliance

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"frontdoor/internal/testkit"
)

// binPath is the frontdoor binary built once for the tests that run it as a
// real process.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "frontdoor-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "frontdoor")
	build := exec.Command("go", "build", "-o", binPath, "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build frontdoor: %v\n%s", err, out)
		os.Exit(1)
	}
	// Tests run the binary as nobody too: it must be reachable. They use
	// it where it is, never a copy made while tests run in parallel: a
	// process forked meanwhile holds the copy's write descriptor until it
	// execs, and exec of the copy fails with ETXTBSY.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a loopback address nobody listens on, reserved for
// frontdoor until the test ends (testkit.FreePort tells how).
func freePort(t *testing.T) string {
	t.Helper()
	return testkit.FreeAddr(t)
}

// failOnRecoveredPanic fails t, at its end, when frontdoor's log shows a
// panic its engine recovered from: a worker answers 500 and closes the
// connection, which a test looking at other things would not notice.
func failOnRecoveredPanic(t *testing.T, stderr *syncBuffer) {
	t.Cleanup(func() {
		if log := stderr.String(); strings.Contains(log, "panic while handling a connection") {
			t.Errorf("frontdoor recovered from a panic in a handler:\n%s", log)
		}
	})
}

// process is a frontdoor started by a test.
type process struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	addr   string
}

// hostPaths are the host's own directories of frontdoor, as the daemon
// logs them (the admin socket's path, the state file): a test's daemon
// must use its temporary directory instead (issue 11).
var hostPaths = []string{"path=/run/frontdoor/", "state=/var/lib/frontdoor/", "path=/etc/frontdoor/"}

// guardHostPaths fails the test, when it ends, if the daemon's log shows it
// used the host's directories — a configuration that left runtime_dir or
// state to their defaults.
func (p *process) guardHostPaths(t *testing.T) {
	t.Cleanup(func() {
		log := p.stderr.String()
		for _, h := range hostPaths {
			if strings.Contains(log, h) {
				t.Errorf("the test's daemon used the host's %s (set state and runtime_dir under t.TempDir()):\n%s", strings.TrimPrefix(strings.TrimPrefix(h, "path="), "state="), log)
			}
		}
	})
}

func startFrontdoor(t *testing.T, args ...string) *process {
	t.Helper()
	p := &process{stderr: &syncBuffer{}}
	p.cmd = exec.Command(binPath, args...)
	p.cmd.Stderr = p.stderr
	p.cmd.Stdout = io.Discard
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.guardHostPaths(t)
	failOnRecoveredPanic(t, p.stderr)
	t.Cleanup(p.end)
	return p
}

// end stops frontdoor as systemd would: SIGTERM, so that it stops its
// application's whole process groups (a SIGKILL leaves the grandchildren
// a task queue forks writing into the test's directory), then SIGKILL
// after 15 s.
func (p *process) end() {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// get fetches url, retrying until deadline while frontdoor starts.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func writeConfig(t *testing.T, path, addr, root string) {
	t.Helper()
	text := fmt.Sprintf(`[server]
http = [%q]
access_log = "off"
state = %q
runtime_dir = %q

[[site]]
  [[site.route]]
  path = "/"
  static = %q
`, addr, filepath.Join(filepath.Dir(path), "state", "state.db"), filepath.Join(filepath.Dir(path), "run"), root)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRunReloadAndStop(t *testing.T) {
	dir := t.TempDir()
	one, two := filepath.Join(dir, "one"), filepath.Join(dir, "two")
	os.Mkdir(one, 0o755)
	os.Mkdir(two, 0o755)
	os.WriteFile(filepath.Join(one, "v.txt"), []byte("one"), 0o644)
	os.WriteFile(filepath.Join(two, "v.txt"), []byte("two"), 0o644)
	addr := freePort(t)
	cfgPath := filepath.Join(dir, "frontdoor.toml")
	writeConfig(t, cfgPath, addr, one)
	p := startFrontdoor(t, "run", "--config", cfgPath)
	url := "http://" + addr + "/v.txt"
	if _, body := get(t, url); body != "one" {
		t.Fatalf("served %q", body)
	}

	// A broken configuration: refused, named in the log, old one serves.
	os.WriteFile(cfgPath, []byte("[server]\nworkerz = 1\n"), 0o644)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(p.stderr.String(), "workerz") })
	if !strings.Contains(p.stderr.String(), cfgPath+":2") {
		t.Errorf("reload error does not name file and line:\n%s", p.stderr.String())
	}
	if _, body := get(t, url); body != "one" {
		t.Fatalf("after a refused reload, served %q", body)
	}

	// A good one: applied.
	writeConfig(t, cfgPath, addr, two)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { _, body := get(t, url); return body == "two" })

	// SIGTERM: exit 0.
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("frontdoor did not stop after SIGTERM")
	}
}

func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "frontdoor.toml")
	os.WriteFile(cfgPath, []byte("[server]\nhttp = [\"localhost:80\"]\n\n[[site]]\n[[site.route]]\npath = \"/\"\nstatic = \"/nonexistent\"\n"), 0o644)
	out, err := exec.Command(binPath, "check", "--config", cfgPath).CombinedOutput()
	if err == nil {
		t.Fatalf("check accepted a bad configuration:\n%s", out)
	}
	for _, want := range []string{cfgPath + ":2: server.http[0]", cfgPath + ":7: site[0].route[0].static", "fix:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	writeConfig(t, cfgPath, "127.0.0.1:0", dir)
	if out, err := exec.Command(binPath, "check", "--config", cfgPath).CombinedOutput(); err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("check refused a good configuration: %v\n%s", err, out)
	}
	// The file may be named without --config, and then it is the one checked.
	if out, err := exec.Command(binPath, "check", cfgPath).CombinedOutput(); err != nil || !strings.HasPrefix(string(out), cfgPath+": ok") {
		t.Fatalf("check FILE: %v\n%s", err, out)
	}
	missing := filepath.Join(dir, "missing.toml")
	if out, err := exec.Command(binPath, "check", missing).CombinedOutput(); err == nil || !strings.Contains(string(out), missing) {
		t.Fatalf("check of a missing FILE: %v\n%s", err, out)
	}
	if out, err := exec.Command(binPath, "check", cfgPath, "--config", missing).CombinedOutput(); err == nil || !strings.Contains(string(out), "two files") {
		t.Fatalf("check FILE --config OTHER: %v\n%s", err, out)
	}
}

// TestBindErrorNamesTheLine: an address another program holds makes run
// fail with the file, the line of the address and a fix.
func TestBindErrorNamesTheLine(t *testing.T) {
	dir := t.TempDir()
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cfgPath := filepath.Join(dir, "frontdoor.toml")
	writeConfig(t, cfgPath, held.Addr().String(), dir)
	out, err := exec.Command(binPath, "run", "--config", cfgPath).CombinedOutput()
	want := fmt.Sprintf("%s:2: server.http[0]: cannot listen on %q: address already in use (fix: another program listens there", cfgPath, held.Addr().String())
	if err == nil || !strings.Contains(string(out), want) {
		t.Fatalf("run on a held address: %v; want %q in:\n%s", err, want, out)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
