package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"frontdoor/internal/testkit"
)

// The example project every integration test runs (copied first).
const exampleProject = "../examples/mysite"

// requireDjango skips the test when Debian's Python lacks what the example
// project needs (CI installs python3-django gunicorn python3-uvicorn
// python3-websockets python3-psycopg2).
func requireDjango(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real gunicorn/Django processes; skipped with -short")
	}
	cmd := exec.Command(systemPython, "-c", "import django, gunicorn, uvicorn, websockets")
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Skipf("%s cannot import django/gunicorn/uvicorn/websockets (apt-get install python3-django gunicorn python3-uvicorn python3-websockets): %v: %s", systemPython, err, out)
	}
}

// copyProject copies the example project into a fresh temporary directory
// and returns the copy's path. Build outputs of earlier runs are left out.
func copyProject(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "mysite")
	err := filepath.WalkDir(exampleProject, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(exampleProject, p)
		switch d.Name() {
		case "__pycache__", "staticfiles", "media", "db.sqlite3", ".env":
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, _ := d.Info()
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copy the example project: %v", err)
	}
	testkit.GiveToAppUser(t, dst)
	return dst
}

// writeFile writes (or replaces) a file of the project copy.
func writeFile(t *testing.T, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// appendFile appends to a file of the project copy.
func appendFile(t *testing.T, dir, rel, content string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, rel), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer = testkit.SyncBuffer

// testEdge is a small recording Edge that also proxies the test's requests
// to the current upstream, counting them in flight the way the real edge
// must: the address is chosen and counted under one lock.
type testEdge struct {
	mu       sync.Mutex
	upstream string
	history  []string
	inflight map[string]int
	tunnels  map[string]int
	clients  map[string]*http.Client
}

func newTestEdge() *testEdge {
	return &testEdge{inflight: map[string]int{}, tunnels: map[string]int{}, clients: map[string]*http.Client{}}
}

func (e *testEdge) SetAppUpstream(addr string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.upstream = addr
	e.history = append(e.history, addr)
}

func (e *testEdge) InFlight(addr string) (int, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inflight[addr], e.tunnels[addr]
}

func (e *testEdge) current() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.upstream
}

func (e *testEdge) setTunnels(addr string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tunnels[addr] = n
}

// errNoUpstream is what the edge would turn into a 503 page.
var errNoUpstream = errors.New("503: app not ready")

// do sends a request for path to the current upstream and returns the
// status, the body and the address it went to.
func (e *testEdge) do(method, path string, body []byte) (int, string, string, error) {
	return e.doWithHeaders(method, path, body, nil)
}

// doWithHeaders is do with extra request headers.
func (e *testEdge) doWithHeaders(method, path string, body []byte, headers map[string]string) (int, string, string, error) {
	e.mu.Lock()
	addr := e.upstream
	if addr == "" {
		e.mu.Unlock()
		return 0, "", "", errNoUpstream
	}
	e.inflight[addr]++
	client := e.clients[addr]
	if client == nil {
		client = unixClient(strings.TrimPrefix(addr, "unix:"))
		e.clients[addr] = client
	}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.inflight[addr]--
		e.mu.Unlock()
	}()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://localhost"+path, rd)
	if err != nil {
		return 0, "", addr, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", addr, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data), addr, err
}

// unixClient is an HTTP client for a unix socket.
func unixClient(sock string) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
			MaxIdleConnsPerHost: 16,
		},
	}
}

// eventLog is a Recorder that keeps every event.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) Record(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) find(kind EventKind) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, e := range l.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// harness is a running Supervisor with its edge, events and logs.
type harness struct {
	t      *testing.T
	sup    *Supervisor
	edge   *testEdge
	events *eventLog
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// testConfig is a Config for the project copy at dir with test-sized values.
func testConfig(t *testing.T, dir string) Config {
	return Config{
		ProjectDir:   dir,
		Python:       systemPython,
		RuntimeDir:   filepath.Join(t.TempDir(), "run"),
		Workers:      2,
		Threads:      4,
		StopTimeout:  5 * time.Second,
		ReadyTimeout: 30 * time.Second,
		ReadyPath:    "/healthz/",
	}
}

// start runs a Supervisor for cfg until the test ends.
func start(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, edge: newTestEdge(), events: &eventLog{}, logs: &syncBuffer{}, done: make(chan error, 1)}
	cfg.Edge, cfg.Recorder = h.edge, h.events
	cfg.Logger = slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sup, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.sup = sup
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- sup.Run(ctx) }()
	t.Cleanup(func() {
		h.stop()
		if t.Failed() {
			t.Logf("supervisor log:\n%s", h.logs.String())
		}
	})
	return h
}

// stop ends Run and waits for it (once).
func (h *harness) stop() {
	h.once.Do(func() {
		h.cancel()
		select {
		case err := <-h.done:
			if err != nil {
				h.t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			h.t.Errorf("Run did not return 30 s after its context ended")
		}
	})
}

// waitUpstream waits until the edge points at an address other than not.
func (h *harness) waitUpstream(timeout time.Duration, not string) string {
	h.t.Helper()
	var addr string
	testkit.WaitFor(h.t, timeout, "an upstream other than "+fmt.Sprintf("%q", not), func() bool {
		addr = h.edge.current()
		return addr != "" && addr != not
	})
	return addr
}

// get fetches path through the edge and fails the test on any error.
func (h *harness) get(path string) (int, string) {
	h.t.Helper()
	status, body, _, err := h.edge.do("GET", path, nil)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	return status, body
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// descendants returns pid's descendants (from /proc), deepest last.
func descendants(pid int) []int {
	parent := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var p int
		if _, err := fmt.Sscanf(e.Name(), "%d", &p); err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		var state string
		var ppid int
		if _, err := fmt.Sscanf(s[i+2:], "%s %d", &state, &ppid); err == nil {
			parent[ppid] = append(parent[ppid], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range parent[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}
