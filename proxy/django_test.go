package proxy

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests in this file run the example Django project (examples/mysite)
// under real gunicorn or uvicorn, with Debian's /usr/bin/python3, behind
// the engine.

const debianPython = "/usr/bin/python3"

// djangoApp is a running application server for one test.
type djangoApp struct {
	dir    string // the project copy
	sock   string
	cmd    *exec.Cmd
	stderr *lockedBuffer
}

type djangoOptions struct {
	asgi        bool   // gunicorn with uvicorn workers, mysite.asgi
	workers     int    // default 2
	workerClass string // default gthread (keep-alive capable)
	keepAlive   int    // gunicorn --keep-alive seconds (default 10)
}

// lockedBuffer collects a child's output for assertions.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// copyExample copies examples/mysite into a fresh directory and prepares
// it (migrate, collectstatic).
func copyExample(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs Django's migrate, collectstatic and gunicorn; skipped with -short")
	}
	if out, err := exec.Command(debianPython, "-c", "import django, gunicorn, uvicorn").CombinedOutput(); err != nil {
		t.Fatalf("Debian's Django, gunicorn and uvicorn are needed (scripts/ensure-deps test installs them): %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "mysite")
	if out, err := exec.Command("cp", "-r", "../examples/mysite", dir).CombinedOutput(); err != nil {
		t.Fatalf("copy example: %v\n%s", err, out)
	}
	for _, step := range [][]string{{"migrate", "--noinput"}, {"collectstatic", "--noinput"}} {
		cmd := exec.Command(debianPython, append([]string{"manage.py"}, step...)...)
		cmd.Dir = dir
		cmd.Env = djangoEnv(dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("manage.py %s: %v\n%s", step[0], err, out)
		}
	}
	return dir
}

func djangoEnv(dir string) []string {
	return append(os.Environ(), "DJANGO_ALLOWED_HOSTS=*", "PYTHONDONTWRITEBYTECODE=1", "MYSITE_LOG_LEVEL=INFO")
}

func startDjango(t testing.TB, dir string, o djangoOptions) *djangoApp {
	t.Helper()
	if testing.Short() {
		t.Skip("starts gunicorn and Django; skipped with -short")
	}
	if o.workers == 0 {
		o.workers = 2
	}
	if o.workerClass == "" {
		o.workerClass = "gthread"
	}
	if o.keepAlive == 0 {
		o.keepAlive = 10
	}
	app := &djangoApp{dir: dir, sock: filepath.Join(t.TempDir(), "app.sock"), stderr: &lockedBuffer{}}
	args := []string{"-m", "gunicorn", "-b", "unix:" + app.sock, "--workers", strconv.Itoa(o.workers),
		"--keep-alive", strconv.Itoa(o.keepAlive), "--graceful-timeout", "2"}
	if o.asgi {
		args = append(args, "-k", "uvicorn.workers.UvicornWorker", "mysite.asgi:application")
	} else {
		args = append(args, "-k", o.workerClass, "mysite.wsgi:application")
	}
	app.cmd = exec.Command(debianPython, args...)
	app.cmd.Dir = dir
	app.cmd.Env = djangoEnv(dir)
	app.cmd.Stderr = app.stderr
	app.cmd.Stdout = app.stderr
	app.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := app.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.kill)
	deadline := time.Now().Add(20 * time.Second)
	client := unixClient(app.sock)
	for {
		resp, err := client.Get("http://localhost/healthz/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gunicorn did not answer on %s: %v\n%s", app.sock, err, app.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return app
}

// kill stops the whole process group at once.
func (a *djangoApp) kill() {
	if a.cmd.Process != nil {
		syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
		a.cmd.Wait()
	}
}

func unixClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}

// djangoSite proxies everything to the app and serves its static files and
// protected downloads from the edge.
func djangoSite(app *djangoApp) Config {
	return Config{
		Upstreams: []Upstream{{Name: "app", Servers: []UpstreamServer{{Addr: "unix:" + app.sock}}}},
		Sites: []Site{{Routes: []Route{
			{Prefix: "/", Upstream: "app"},
			{Prefix: "/static/", Static: &Static{Root: filepath.Join(app.dir, "staticfiles")}},
			{Prefix: "/_protected/", Static: &Static{Root: filepath.Join(app.dir, "protected"), Internal: true}},
		}}},
	}
}

func fdCount(t testing.TB) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func mustHTTP(t testing.TB, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp, b.String()
}

func newRequest(t testing.TB, method, url string, body []byte, hdr map[string]string) *http.Request {
	t.Helper()
	var r *http.Request
	var err error
	if body != nil {
		r, err = http.NewRequest(method, url, bytes.NewReader(body))
	} else {
		r, err = http.NewRequest(method, url, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			r.Host = v
			continue
		}
		r.Header.Set(k, v)
	}
	return r
}

var _ = fmt.Sprintf
var _ = strings.Contains

// fdList describes this process's open descriptors (for failure messages).
func fdList() string {
	entries, _ := os.ReadDir("/proc/self/fd")
	var b strings.Builder
	for _, e := range entries {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		fmt.Fprintf(&b, "%s -> %s\n", e.Name(), target)
	}
	return b.String()
}
