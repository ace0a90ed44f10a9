package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testEngine runs an engine on a loopback port for one test.
type testEngine struct {
	e    *Engine
	addr string
	// panicsProvoked is how many panics the test causes on purpose; any
	// other recovered panic fails the test (watchPanics).
	panicsProvoked uint64
	// errLog holds the engine's error records (a recovered panic's value
	// and stack) when the test gave no logger of its own.
	errLog *lockedWriter
}

func startEngine(t testing.TB, cfg Config) *testEngine {
	t.Helper()
	l, err := Listen("127.0.0.1:0", "http")
	if err != nil {
		t.Fatal(err)
	}
	te := &testEngine{addr: l.Addr}
	if cfg.Logger == nil {
		cfg.Logger, te.errLog = errorLogger()
	}
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	e, err := New(cfg, []Listener{l})
	if err != nil {
		t.Fatal(err)
	}
	te.e = e
	te.watchPanics(t)
	e.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return te
}

// errorLogger is a logger that keeps only error records, for a failing
// test to show.
func errorLogger() (*slog.Logger, *lockedWriter) {
	var w lockedWriter
	return slog.New(slog.NewTextHandler(&w, &slog.HandlerOptions{Level: slog.LevelError})), &w
}

// watchPanics fails t when, at its end (after the engine's shutdown, so
// call it before registering that), the engine has recovered from more
// or fewer panics than the test provoked. The engine survives a panic in
// a handler by answering 500 and closing that connection, which most
// tests cannot tell from a refusal: without this check a crash on some
// path would pass them.
func (te *testEngine) watchPanics(t testing.TB) {
	t.Cleanup(func() {
		if err := te.panicCheck(0); err != nil {
			t.Error(err)
		}
	})
}

// panicCheck reports an error when the engine recovered from a number of
// panics other than since + te.panicsProvoked.
func (te *testEngine) panicCheck(since uint64) error {
	n := te.e.Stats().Panics - since
	if n == te.panicsProvoked {
		return nil
	}
	log := "(the test's own logger has the details)"
	if te.errLog != nil {
		log = te.errLog.String()
	}
	return fmt.Errorf("the engine recovered from %d panic(s), %d provoked by the test: a handler crashed\n%s",
		n, te.panicsProvoked, log)
}

// staticSite is a config serving root at "/".
func staticSite(root string) Config {
	return Config{Sites: []Site{{Routes: []Route{{Prefix: "/", Static: &Static{Root: root}}}}}}
}

// rawConn is a client connection that writes raw bytes and reads responses
// with net/http's reader.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dial(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (rc *rawConn) send(s string) {
	rc.t.Helper()
	if _, err := rc.c.Write([]byte(s)); err != nil {
		rc.t.Fatal(err)
	}
}

// response reads one response; method tells whether a body is expected.
func (rc *rawConn) response(method string) (*http.Response, string) {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(rc.br, &http.Request{Method: method})
	if err != nil {
		rc.t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		rc.t.Fatalf("read body: %v", err)
	}
	return resp, string(body)
}

// closed reports whether the server closed the connection (EOF) within d.
func (rc *rawConn) closed(d time.Duration) bool {
	rc.c.SetReadDeadline(time.Now().Add(d))
	_, err := rc.br.ReadByte()
	return err == io.EOF || (err != nil && strings.Contains(err.Error(), "reset"))
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestKeepAliveAndPipelining(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	writeFile(t, filepath.Join(root, "b.txt"), "bravo")
	te := startEngine(t, staticSite(root))
	rc := dial(t, te.addr)
	// Three pipelined requests in one write: answered in order.
	rc.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /b.txt HTTP/1.1\r\nHost: x\r\n\r\nHEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, want := range []struct{ method, body string }{{"GET", "alpha"}, {"GET", "bravo"}, {"HEAD", ""}} {
		resp, body := rc.response(want.method)
		if resp.StatusCode != 200 || body != want.body {
			t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, body, want.body)
		}
		if want.method == "HEAD" && resp.ContentLength != 5 {
			t.Fatalf("HEAD content length %d, want 5", resp.ContentLength)
		}
	}
	// The connection stays open for more.
	rc.send("GET /b.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "bravo" {
		t.Fatalf("after pipelining: %d %q", resp.StatusCode, body)
	}
	// Connection: close is honoured.
	rc.send("GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if resp, _ := rc.response("GET"); !resp.Close {
		t.Fatal("no Connection: close in the answer")
	}
	if !rc.closed(2 * time.Second) {
		t.Fatal("connection not closed after Connection: close")
	}
}

func TestHTTP10KeepAlive(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	te := startEngine(t, staticSite(root))
	rc := dial(t, te.addr)
	rc.send("GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	if resp, _ := rc.response("GET"); resp.Header.Get("Connection") != "keep-alive" {
		t.Fatalf("HTTP/1.0 keep-alive not confirmed: %q", resp.Header.Get("Connection"))
	}
	rc.send("GET /a.txt HTTP/1.0\r\n\r\n")
	rc.response("GET")
	if !rc.closed(2 * time.Second) {
		t.Fatal("HTTP/1.0 without keep-alive not closed")
	}
}

func TestBadRequestsAreRefusedAndClosed(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	te := startEngine(t, staticSite(root))
	tests := []struct {
		name string
		raw  string
		want int
	}{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"bare LF", "GET / HTTP/1.1\nHost: x\n\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400},
		{"missing host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"version", "GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505},
		{"long target", "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"big head", "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 17000) + "\r\n\r\n", 431},
		{"garbage", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := dial(t, te.addr)
			rc.send(tc.raw)
			resp, _ := rc.response("GET")
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if !resp.Close {
				t.Fatal("refusal without Connection: close")
			}
			if !rc.closed(3 * time.Second) {
				t.Fatal("connection not closed after refusal")
			}
		})
	}
}

func TestMethodNotAllowedOnStatic(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	te := startEngine(t, staticSite(root))
	rc := dial(t, te.addr)
	rc.send("POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	resp, _ := rc.response("POST")
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Fatalf("status %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestUnknownHostMisdirected(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	cfg := Config{Sites: []Site{{Hosts: []string{"example.com", "*.example.org"}, Routes: []Route{{Prefix: "/", Static: &Static{Root: root}}}}}}
	te := startEngine(t, cfg)
	for host, want := range map[string]int{"example.com": 200, "EXAMPLE.com:8080": 200, "a.example.org": 200, "example.org": 421, "other": 421} {
		rc := dial(t, te.addr)
		rc.send("GET /a.txt HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
		if resp, _ := rc.response("GET"); resp.StatusCode != want {
			t.Errorf("host %q: %d, want %d", host, resp.StatusCode, want)
		}
	}
}

func TestHeadDeadlineCutsSlowClient(t *testing.T) {
	root := t.TempDir()
	cfg := staticSite(root)
	cfg.Timeouts.RequestHead = 1500 * time.Millisecond
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	start := time.Now()
	req := "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 100) + "\r\n\r\n"
	// One byte every 200 ms: the head would take 24 s to arrive.
	go func() {
		for i := 0; i < len(req); i++ {
			if _, err := rc.c.Write([]byte{req[i]}); err != nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	resp, _ := rc.response("GET")
	elapsed := time.Since(start)
	if resp.StatusCode != 408 {
		t.Fatalf("status %d, want 408", resp.StatusCode)
	}
	if elapsed < 1400*time.Millisecond || elapsed > 4*time.Second {
		t.Fatalf("cut after %v, want about 1.5 s", elapsed)
	}
}

func TestKeepAliveTimeoutClosesIdle(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	cfg := staticSite(root)
	cfg.Timeouts.KeepAlive = time.Second
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	rc.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	rc.response("GET")
	start := time.Now()
	if !rc.closed(5 * time.Second) {
		t.Fatal("idle keep-alive connection not closed")
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("closed after %v, before the keep-alive timeout", d)
	}
}

// awaitConnections waits (at most 5 s) until e's workers hold n client
// connections: the ones the test dialled have been accepted.
func awaitConnections(t testing.TB, e *Engine, n int64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); e.Stats().Connections != n; {
		if time.Now().After(deadline) {
			t.Fatalf("the engine holds %d connections, want %d accepted", e.Stats().Connections, n)
		}
		time.Sleep(time.Millisecond)
	}
}
