package proxy

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"frontdoor/internal/testkit"
)

// TestRequestBodies: a body of exactly max_body is taken and forwarded
// with a Content-Length, one byte more is refused with 413 before the
// application sees anything, chunked or not; transfer codings other than
// chunked are refused with 501; an empty body keeps its Content-Length: 0.
func TestRequestBodies(t *testing.T) {
	var seen atomic.Int64
	be := startBackend(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %d %q %q", r.Method, len(body), r.Header.Get("Content-Length"), r.TransferEncoding)
	}))
	cfg := proxySite(be.addr)
	cfg.Limits.MaxBodyBytes = 10
	te := startEngine(t, cfg)
	chunked := func(parts ...string) string {
		var b strings.Builder
		for _, p := range parts {
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(p), p)
		}
		return b.String() + "0\r\n\r\n"
	}
	for _, c := range []struct {
		name, request string
		status        int
		body          string // what the application says it got
		reached       bool
	}{
		{"length at the limit", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789", 200, `POST 10 "10" []`, true},
		{"length over the limit", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n0123456789a", 413, "", false},
		{"chunked at the limit", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked("01234", "56789"), 200, `POST 10 "10" []`, true},
		{"chunked over the limit", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked("01234", "56789", "a"), 413, "", false},
		{"empty chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(), 200, `POST 0 "0" []`, true},
		{"empty length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 200, `POST 0 "0" []`, true},
		{"no body at all", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200, `GET 0 "" []`, true},
		{"gzip before chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + chunked("x"), 501, "", false},
		{"malformed chunk", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nx\r\n0\r\n\r\n", 400, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := seen.Load()
			rc := dial(t, te.addr)
			rc.send(c.request)
			method, _, _ := strings.Cut(c.request, " ")
			resp, body := rc.response(method)
			if resp.StatusCode != c.status || (c.status == 200 && body != c.body) {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, clip([]byte(body), 80), c.status, c.body)
			}
			if reached := seen.Load() > before; reached != c.reached {
				t.Fatalf("the application saw the request: %v, want %v", reached, c.reached)
			}
			if c.status != 200 && !rc.closed(2*time.Second) {
				t.Fatal("connection kept after a refused body")
			}
		})
	}
}

// TestExpectContinueOnlyToAWaitingClient: a client that waits for the
// go-ahead gets "100 Continue" before it sends its body; one that sent
// the body along gets no 100 in front of the answer.
func TestExpectContinueOnlyToAWaitingClient(t *testing.T) {
	be := startBackend(t, true, http.HandlerFunc(echoHandler))
	te := startEngine(t, proxySite(be.addr))
	rc := dial(t, te.addr)
	rc.send("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := rc.br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("go-ahead: %q %v", line, err)
	}
	if blank, _ := rc.br.ReadString('\n'); blank != "\r\n" {
		t.Fatalf("after the go-ahead: %q", blank)
	}
	rc.send("hello")
	if resp, body := rc.response("POST"); resp.StatusCode != 200 || decodeEcho(t, body).Length != 5 || decodeEcho(t, body).Headers["Expect"] != "" {
		t.Fatalf("after the body: %d %q", resp.StatusCode, body)
	}
	rc.send("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello")
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err = rc.br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 200 OK\r\n" {
		t.Fatalf("body sent along: first line %q %v, want the answer itself", line, err)
	}
}

// TestRetryOnAStaleConnection: when a pooled connection turns out closed
// (the application dropped it while idle), a request that is safe to send
// twice is sent again, once, on a fresh connection; one that is not safe
// and was already written gets 502 rather than being sent twice.
func TestRetryOnAStaleConnection(t *testing.T) {
	var requests atomic.Int64
	// Each connection answers its first request, then reads the second
	// and closes without answering: a keep-alive connection the
	// application dropped just as it was reused.
	addr := serveTCP(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			requests.Add(1)
			if i == 1 {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	cfg := proxySite(addr)
	cfg.Workers = 1
	te := startEngine(t, cfg)
	for _, c := range []struct {
		method string
		status int
		tries  int64 // requests the application received for it
	}{
		{"GET", 200, 2}, {"HEAD", 200, 2}, {"PUT", 200, 2}, {"DELETE", 200, 2}, {"OPTIONS", 200, 2},
		{"POST", 502, 1}, {"PATCH", 502, 1},
	} {
		t.Run(c.method, func(t *testing.T) {
			rc := dial(t, te.addr)
			// A first request leaves one connection in the pool.
			rc.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp, _ := rc.response("GET"); resp.StatusCode != 200 {
				t.Fatalf("first request: %d", resp.StatusCode)
			}
			before := requests.Load()
			body := "Content-Length: 2\r\n\r\nhi"
			if c.method == "GET" || c.method == "HEAD" {
				body = "\r\n"
			}
			rc.send(c.method + " /again HTTP/1.1\r\nHost: x\r\n" + body)
			resp, _ := rc.response(c.method)
			if resp.StatusCode != c.status {
				t.Fatalf("%s on a stale connection: %d, want %d", c.method, resp.StatusCode, c.status)
			}
			if got := requests.Load() - before; got != c.tries {
				t.Fatalf("the application received it %d times, want %d", got, c.tries)
			}
		})
	}
}

// TestNoRetryAfterAPartialHead: an application that began its answer on
// a reused connection (part of the head) and then closed it did not drop
// an idle connection: it took the request. The request is not sent
// again, even a GET: the client gets 502.
func TestNoRetryAfterAPartialHead(t *testing.T) {
	var requests atomic.Int64
	addr := serveTCP(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			_, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			requests.Add(1)
			if i == 1 {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-")
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	cfg := proxySite(addr)
	cfg.Workers = 1
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	rc.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := rc.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("first request: %d", resp.StatusCode)
	}
	rc.send("GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := rc.response("GET"); resp.StatusCode != 502 {
		t.Fatalf("a head cut short on a reused connection: %d, want 502", resp.StatusCode)
	}
	if n := requests.Load(); n != 2 {
		t.Fatalf("the application received %d requests, want 2 (no retry)", n)
	}
}

// TestFailingServerIsTakenOut: a server that takes a connection and drops
// it without answering fails the request (502: a fresh connection is not
// retried) and, at max_fails 1, is out of the rotation for fail_timeout:
// the requests after it all go to the other server. The operator's log
// names the server that failed.
func TestFailingServerIsTakenOut(t *testing.T) {
	var dropped atomic.Int64
	dropper := serveTCP(t, func(c net.Conn) {
		dropped.Add(1)
		c.Close()
	})
	good := startBackend(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "good") }))
	cfg := proxySite(dropper, good.addr)
	cfg.Upstreams[0].MaxFails = 1
	cfg.Upstreams[0].FailTimeout = time.Minute
	cfg.Workers = 1
	var logw lockedWriter
	cfg.Logger = slog.New(slog.NewTextHandler(&logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	var statuses []int
	for range 4 {
		rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, _ := rc.response("GET")
		statuses = append(statuses, resp.StatusCode)
	}
	if fmt.Sprint(statuses) != "[502 200 200 200]" || dropped.Load() != 1 {
		t.Fatalf("statuses %v, %d connections to the failing server; want [502 200 200 200] and one", statuses, dropped.Load())
	}
	if log := logw.String(); !strings.Contains(log, "upstream failed") || !strings.Contains(log, dropper) {
		t.Fatalf("the log does not name the failing server %s:\n%s", dropper, log)
	}
}

// heldRequests counts the requests waiting for a server, on each worker's
// own goroutine.
func (te *testEngine) heldRequests() int {
	var n atomic.Int64
	te.e.onEachWorker(func(w *worker) { n.Add(int64(len(w.held))) })
	return int(n.Load())
}

// TestHeldUntilAServerComes: with a hold, a request for a group without
// servers waits (it is seen waiting, and no answer comes) until a server
// is named, then it is served; without a hold it gets 503 at once.
func TestHeldUntilAServerComes(t *testing.T) {
	be := startBackend(t, true, http.HandlerFunc(echoHandler))
	te := startEngine(t, proxySite())
	rc := dial(t, te.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := rc.response("GET"); resp.StatusCode != 503 {
		t.Fatalf("no server, no hold: %d", resp.StatusCode)
	}
	if err := te.e.SetUpstreamHold("app", time.Minute); err != nil {
		t.Fatal(err)
	}
	rc.send("POST /booting HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
	testkit.WaitFor(t, 5*time.Second, "the request to be held", func() bool { return te.heldRequests() == 1 })
	if err := te.e.SetUpstreamServers("app", []string{be.addr}); err != nil {
		t.Fatal(err)
	}
	resp, body := rc.response("POST")
	if resp.StatusCode != 200 || decodeEcho(t, body).Length != 2 {
		t.Fatalf("held request: %d %q", resp.StatusCode, body)
	}
	if n := te.heldRequests(); n != 0 {
		t.Fatalf("%d requests still held after they were served", n)
	}
}

// TestTrickledUploadIsRefused: a client that sends its body a byte at a
// time, each well within body_idle, is refused with 408 once the first
// body_idle has passed, since its average is far below body_min_rate;
// the application never sees the request. (TestBodyMinRate tests the
// rule's arithmetic; this, that the engine applies it.)
func TestTrickledUploadIsRefused(t *testing.T) {
	var seen atomic.Int64
	be := startBackend(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		io.Copy(io.Discard, r.Body)
	}))
	cfg := proxySite(be.addr)
	cfg.Timeouts.BodyIdle = 400 * time.Millisecond
	cfg.Timeouts.BodyMinRate = 1 << 20
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	rc.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
	stop := make(chan struct{})
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := rc.c.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	defer func() { close(stop); <-trickled }()
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil || resp.StatusCode != 408 {
		t.Fatalf("a byte every 20 ms against body_min_rate 1 MiB/s: %v %v, want 408", resp, err)
	}
	if n := seen.Load(); n != 0 {
		t.Fatalf("the application saw %d requests", n)
	}

	// The engine is now older than body_idle. A fast upload of a body the
	// engine reads in many pieces is taken: its rate counts from the
	// body's first byte, not from the engine's start (at a third of its
	// first read buffer over the engine's age, it would be refused).
	body := spoolPayload(1 << 20)
	fast := dial(t, te.addr)
	go fast.c.Write(append([]byte(fmt.Sprintf("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", len(body))), body...))
	if resp, _ := fast.response("POST"); resp.StatusCode != 200 || seen.Load() != 1 {
		t.Fatalf("a fast upload of 1 MiB to an engine older than body_idle: %d (the application saw %d requests), want 200", resp.StatusCode, seen.Load())
	}
}

// TestBodyMinRate: once the first body_idle has passed, an upload slower
// than body_min_rate on average is too slow; at the rate exactly, or
// before then, or with the rule off, it is not.
func TestBodyMinRate(t *testing.T) {
	const idle = 10 * time.Second
	for _, c := range []struct {
		name    string
		rate    int64
		elapsed time.Duration
		bytes   int64
		slow    bool
	}{
		{"before the first idle period", 1000, idle - 1, 0, false},
		{"at the end of the first idle period", 1000, idle, 0, true},
		{"two bytes in the first idle period", 1000, idle, 2, true},
		{"just below the rate", 1000, idle, 9999, true},
		{"just at the rate", 1000, idle, 10000, false},
		{"below the rate", 1000, 20 * time.Second, 19999, true},
		{"at the rate", 1000, 20 * time.Second, 20000, false},
		{"above the rate", 1000, 20 * time.Second, 30000, false},
		{"rule off", 0, time.Hour, 0, false},
	} {
		if got := uploadTooSlow(c.bytes, int64(c.elapsed), c.rate, int64(idle)); got != c.slow {
			t.Errorf("%s: too slow %v, want %v", c.name, got, c.slow)
		}
	}
}

// TestResponseTimeoutOnAReusedConnection: an application that answers a
// request and then never answers the next one, on the same (pooled)
// connection or the fresh one of the retry, is cut by response_timeout:
// 504, not a hang.
func TestResponseTimeoutOnAReusedConnection(t *testing.T) {
	addr := serveTCP(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			if req.URL.Path == "/first" {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
		}
	})
	cfg := proxySite(addr)
	cfg.Workers = 1
	cfg.Proxy.ResponseTimeout = 300 * time.Millisecond
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	rc.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := rc.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("first: %d", resp.StatusCode)
	}
	rc.send("GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := rc.response("GET"); resp.StatusCode != 504 {
		t.Fatalf("an application silent on a reused connection: %d, want 504", resp.StatusCode)
	}
}

// TestConnectTimeout: an application whose listen queue is full (it
// accepts nothing, so the kernel drops new connection attempts) gets its
// requests answered 504 once connect_timeout has passed, not after the
// much longer response_timeout.
func TestConnectTimeout(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil { // a queue of one connection
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
	filler, err := net.Dial("tcp", addr) // fills the queue
	if err != nil {
		t.Fatal(err)
	}
	defer filler.Close()

	cfg := proxySite(addr)
	cfg.Proxy.ConnectTimeout = 300 * time.Millisecond
	cfg.Proxy.ResponseTimeout = time.Minute
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	rc.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(rc.br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatalf("no answer while the connection attempt hangs: %v", err)
	}
	if resp.StatusCode != 504 {
		t.Fatalf("status %d, want 504", resp.StatusCode)
	}
}

// TestBusyUnixSocketIsRetried: an application on a unix socket whose
// listen queue is full (connect fails with EAGAIN: every worker busy) is
// retried until connect_timeout, counted from the request's first
// connect: a request the application never takes gets 504 then, and one
// whose application frees its queue in time is served — also on an
// engine older than connect_timeout.
func TestBusyUnixSocketIsRetried(t *testing.T) {
	sock := t.TempDir() + "/app.sock"
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeFd := true
	defer func() {
		if closeFd {
			unix.Close(fd)
		}
	}()
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil { // a queue of one connection
		t.Fatal(err)
	}
	filler, err := net.Dial("unix", sock) // fills the queue
	if err != nil {
		t.Fatal(err)
	}
	defer filler.Close()

	cfg := proxySite("unix:" + sock)
	cfg.Upstreams[0].MaxFails = 1000 // the 504 below does not take the server out
	cfg.Sites[0].Routes = []Route{{Prefix: "/app/", Upstream: "app"}}
	cfg.Workers = 1
	cfg.Proxy.ConnectTimeout = 500 * time.Millisecond
	cfg.Proxy.ResponseTimeout = time.Minute
	te := startEngine(t, cfg)
	var routed atomic.Value
	hook := func(path []byte) { routed.Store(string(path)) }
	te.e.beforeServe.Store(&hook)

	rc := dial(t, te.addr)
	rc.send("GET /app/never HTTP/1.1\r\nHost: x\r\n\r\n")
	rc.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if resp, _ := rc.response("GET"); resp.StatusCode != 504 {
		t.Fatalf("an application whose queue stays full: %d, want 504", resp.StatusCode)
	}

	// The engine is now older than connect_timeout. A request routed and
	// refused once (the barrier: the only worker answers another request
	// after it), then the queue freed: the retry gets through.
	rc = dial(t, te.addr)
	rc.send("GET /app/later HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, "the request to be routed", func() bool { return routed.Load() == "/app/later" })
	barrier := dial(t, te.addr)
	barrier.send("GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := barrier.response("GET"); resp.StatusCode != 404 {
		t.Fatalf("barrier: %d", resp.StatusCode)
	}
	queued, _, err := unix.Accept(fd)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(queued) // the filler: the queue has room again
	l, err := net.FileListener(os.NewFile(uintptr(fd), sock))
	closeFd = false
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "served") })}
	go srv.Serve(l)
	defer srv.Close()
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "served" {
		t.Fatalf("after the application freed its queue: %d %q, want 200 (retried)", resp.StatusCode, clip([]byte(body), 40))
	}
}

// TestUnavailableWithABody: a request with a body for a group without
// servers gets 503 and the connection closes (its body was never read);
// the bytes of the body are never read as a request.
func TestUnavailableWithABody(t *testing.T) {
	te := startEngine(t, proxySite())
	rc := dial(t, te.addr)
	rc.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 29\r\n\r\nGET /smuggled HTTP/1.1\r\nH: x\r\n")
	resp, _ := rc.response("POST")
	if resp.StatusCode != 503 || !resp.Close {
		t.Fatalf("%d close %v, want 503 and the connection closed", resp.StatusCode, resp.Close)
	}
	if !rc.closed(2 * time.Second) {
		t.Fatal("connection kept: the body would be read as the next request")
	}
}

// TestLargeRequestBody: a body many times larger than buffer_memory is
// taken into the temporary file and reaches the application intact.
func TestLargeRequestBody(t *testing.T) {
	be := startBackend(t, true, http.HandlerFunc(echoHandler))
	cfg := proxySite(be.addr)
	cfg.Proxy.TempDir = t.TempDir()
	te := startEngine(t, cfg)
	body := spoolPayload(1 << 20)
	rc := dial(t, te.addr)
	go rc.c.Write(append([]byte(fmt.Sprintf("PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", len(body))), body...))
	resp, got := rc.response("PUT")
	e := decodeEcho(t, got)
	sum := sha256.Sum256(body)
	if resp.StatusCode != 200 || e.Length != len(body) || e.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("%d: the application got %d bytes (sha256 %s)", resp.StatusCode, e.Length, e.SHA256)
	}
}
