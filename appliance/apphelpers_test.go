package appliance

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"frontdoor/internal/pgtest"
	"frontdoor/internal/testkit"
)

// Helpers of the tests that run the supervised Django example through the
// real binary.

const (
	systemPython  = "/usr/bin/python3"
	mysiteExample = "../examples/mysite"
)

// needDjango skips a test when Debian's Python lacks what the example
// needs (CI: apt-get install python3-django gunicorn python3-uvicorn
// python3-psycopg2).
func needDjango(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs gunicorn and Django; skipped with -short")
	}
	cmd := exec.Command(systemPython, "-c", "import django, gunicorn")
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("%s cannot import django and gunicorn (apt-get install python3-django gunicorn): %v: %s", systemPython, err, out)
	}
}

// copyMysite copies the example project (without build outputs) into a
// fresh directory and returns the copy's path.
func copyMysite(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "mysite")
	err := filepath.WalkDir(mysiteExample, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch d.Name() {
		case "__pycache__", "staticfiles", "media", "db.sqlite3", ".env":
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(mysiteExample, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatalf("copy the example project: %v", err)
	}
	testkit.GiveToAppUser(t, dst)
	return dst
}

// appendTo appends text to a file.
func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// serverTable is a [server] table for a test daemon: a loopback HTTP
// address, and the state file and runtime directory under dir.
func serverTable(addr, dir string) string {
	return fmt.Sprintf("\n[server]\nhttp = [%q]\nstate = %q\nruntime_dir = %q\naccess_log = \"off\"\nworkers = 2\n",
		addr, filepath.Join(dir, "state.db"), filepath.Join(dir, "run"))
}

// daemon is a frontdoor started by a test, with the paths it uses.
type daemon struct {
	*process
	dir    string // holds the configuration, state and runtime directory
	config string
	socket string
}

// startDaemon runs `frontdoor run` on the configuration at
// dir/frontdoor.toml, with env added to the test's environment.
func startDaemon(t *testing.T, dir, addr string, env ...string) *daemon {
	t.Helper()
	d := &daemon{dir: dir, config: filepath.Join(dir, "frontdoor.toml"), socket: filepath.Join(dir, "run", AdminSocketName)}
	p := &process{stderr: &syncBuffer{}, addr: addr}
	p.cmd = exec.Command(binPath, "run", "--config", d.config)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr, p.cmd.Stdout = p.stderr, io.Discard
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.guardHostPaths(t)
	failOnRecoveredPanic(t, p.stderr)
	t.Cleanup(p.end)
	d.process = p
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("frontdoor's log:\n%s", lastLogLines(d.stderr.String(), 60))
		}
	})
	return d
}

func lastLogLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// client is an in-process client of the daemon's admin socket.
func (d *daemon) client() *AdminClient { return NewAdminClient(d.socket) }

// status returns the daemon's status, failing the test if it cannot.
func (d *daemon) status(t *testing.T) StatusReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, _, err := d.client().Status(ctx)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	return rep
}

// tryStatus returns the status, or false while the daemon is not answering.
func (d *daemon) tryStatus() (StatusReport, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rep, _, err := d.client().Status(ctx)
	return rep, err == nil
}

// cli runs a command of the binary and returns its combined output.
func cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(binPath, args...).CombinedOutput()
	return string(out), err
}

// await polls cond until it holds, failing the test after timeout.
func await(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// rawResponse is what one request on a fresh connection got.
type rawResponse struct {
	status  int
	headers string
	body    string
}

// rawGet sends one GET on a new connection and reads the whole response.
// Any failure to get a complete response — refused, reset, closed before
// the status line — is an error: the tests count those as failed requests.
func rawGet(addr, path, host string) (rawResponse, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return rawResponse{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host); err != nil {
		return rawResponse{}, err
	}
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		return rawResponse{}, fmt.Errorf("no status line: %w", err)
	}
	fields := strings.Fields(line)
	if len(fields) < 2 {
		return rawResponse{}, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(fields[1])
	if err != nil {
		return rawResponse{}, fmt.Errorf("bad status line %q", line)
	}
	var head strings.Builder
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return rawResponse{}, fmt.Errorf("headers cut: %w", err)
		}
		if l == "\r\n" {
			break
		}
		head.WriteString(l)
	}
	body, err := io.ReadAll(br)
	if err != nil {
		return rawResponse{}, fmt.Errorf("body cut: %w", err)
	}
	return rawResponse{status: status, headers: head.String(), body: string(body)}, nil
}

// startPG starts a throwaway PostgreSQL (pgtest.Start) and skips the test
// without psycopg2, which the example project needs to reach it (CI:
// apt-get install postgresql python3-psycopg2).
func startPG(t *testing.T) *pgtest.Server {
	t.Helper()
	if out, err := exec.Command(systemPython, "-c", "import psycopg2").CombinedOutput(); err != nil {
		t.Skipf("psycopg2 missing (apt-get install python3-psycopg2): %s", out)
	}
	return pgtest.Start(t)
}

// mysiteOnPG starts a throwaway PostgreSQL and copies the example project
// to run on it (DATABASE_URL in its .env, through the server's socket
// directory), with an empty static root, all owned by the app user. It
// returns the server, the project and its static root.
func mysiteOnPG(t *testing.T) (pg *pgtest.Server, project, static string) {
	t.Helper()
	pg = startPG(t)
	project = copyMysite(t)
	dbURL := fmt.Sprintf("postgres://postgres:unused@%s:%d/postgres", url.PathEscape(pg.Dir), pg.Port)
	if err := os.WriteFile(filepath.Join(project, ".env"), []byte("DATABASE_URL="+dbURL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	static = filepath.Join(project, "staticfiles")
	if err := os.Mkdir(static, 0o755); err != nil {
		t.Fatal(err)
	}
	testkit.GiveToAppUser(t, project)
	return pg, project, static
}
