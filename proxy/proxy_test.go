package proxy

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// backend is a Go HTTP server standing in for an application in the
// engine's unit tests (the Django tests are in appliance/).
type backend struct {
	addr  string // as the engine names it: "unix:/path" or "host:port"
	conns atomic.Int64
	srv   *http.Server
}

func startBackend(t testing.TB, unixSocket bool, h http.Handler) *backend {
	t.Helper()
	var l net.Listener
	var err error
	b := &backend{}
	if unixSocket {
		path := filepath.Join(t.TempDir(), "app.sock")
		l, err = net.Listen("unix", path)
		b.addr = "unix:" + path
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
		if err == nil {
			b.addr = l.Addr().String()
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	b.srv = &http.Server{Handler: h, ConnState: func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			b.conns.Add(1)
		}
	}}
	go b.srv.Serve(l)
	t.Cleanup(func() { b.srv.Close() })
	return b
}

func proxySite(addrs ...string) Config {
	var servers []UpstreamServer
	for _, a := range addrs {
		servers = append(servers, UpstreamServer{Addr: a})
	}
	return Config{
		Upstreams: []Upstream{{Name: "app", Servers: servers}},
		Sites:     []Site{{Routes: []Route{{Prefix: "/", Upstream: "app"}}}},
	}
}

// echoHandler answers with what it received, as JSON.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	sum := sha256.Sum256(body)
	hdr := map[string]string{}
	for k := range r.Header {
		hdr[k] = strings.Join(r.Header.Values(k), ", ")
	}
	json.NewEncoder(w).Encode(map[string]any{
		"method": r.Method, "uri": r.RequestURI, "host": r.Host, "headers": hdr,
		"length": len(body), "sha256": hex.EncodeToString(sum[:]), "cl": r.ContentLength,
		"te": r.TransferEncoding,
	})
}

type echoed struct {
	Method  string            `json:"method"`
	URI     string            `json:"uri"`
	Host    string            `json:"host"`
	Headers map[string]string `json:"headers"`
	Length  int               `json:"length"`
	SHA256  string            `json:"sha256"`
	CL      int64             `json:"cl"`
	TE      []string          `json:"te"`
}

func decodeEcho(t testing.TB, body string) echoed {
	t.Helper()
	var e echoed
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not JSON from the echo backend: %q", body)
	}
	return e
}

func TestProxyBasics(t *testing.T) {
	for _, unixSocket := range []bool{false, true} {
		t.Run(fmt.Sprintf("unix=%v", unixSocket), func(t *testing.T) {
			be := startBackend(t, unixSocket, http.HandlerFunc(echoHandler))
			te := startEngine(t, proxySite(be.addr))
			rc := dial(t, te.addr)

			rc.send("GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n")
			resp, body := rc.response("GET")
			e := decodeEcho(t, body)
			if resp.StatusCode != 200 || e.Method != "GET" || e.URI != "/a/b?c=d" || e.Host != "example.com" {
				t.Fatalf("GET: %d %+v", resp.StatusCode, e)
			}
			if e.Headers["X-Forwarded-For"] != "127.0.0.1" || e.Headers["X-Forwarded-Proto"] != "http" ||
				e.Headers["X-Forwarded-Host"] != "example.com" || e.Headers["X-Real-Ip"] != "127.0.0.1" ||
				len(e.Headers["X-Request-Id"]) != 32 || e.Headers["User-Agent"] != "t" {
				t.Fatalf("forwarding headers: %v", e.Headers)
			}
			if resp.Header.Get("X-Request-Id") != e.Headers["X-Request-Id"] || resp.Header.Get("Server") != "frontdoor" {
				t.Fatalf("response headers: %v", resp.Header)
			}

			// A body with Content-Length, and a chunked one forwarded with a length.
			rc.send("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world")
			_, body = rc.response("POST")
			if e := decodeEcho(t, body); e.Length != 11 || e.CL != 11 {
				t.Fatalf("CL body: %+v", e)
			}
			rc.send("POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
			_, body = rc.response("POST")
			if e := decodeEcho(t, body); e.Length != 11 || e.CL != 11 || len(e.TE) != 0 {
				t.Fatalf("chunked body not re-framed with a length: %+v", e)
			}
			// Hop-by-hop headers and spoofed forwarding headers are dropped.
			rc.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: X-Secret\r\nX-Secret: 1\r\nKeep-Alive: 5\r\nX_Forwarded_For: 6.6.6.6\r\n" +
				"X-Forwarded-For: 6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Request-ID: my-id.1\r\n\r\n")
			_, body = rc.response("GET")
			e = decodeEcho(t, body)
			for _, h := range []string{"X-Secret", "Keep-Alive", "X_forwarded_for", "Connection"} {
				if _, ok := e.Headers[h]; ok {
					t.Errorf("%s forwarded", h)
				}
			}
			if e.Headers["X-Forwarded-For"] != "127.0.0.1" || e.Headers["X-Real-Ip"] != "127.0.0.1" ||
				e.Headers["X-Forwarded-Proto"] != "http" || e.Headers["X-Request-Id"] != "my-id.1" {
				t.Errorf("untrusted forwarding headers: %v", e.Headers)
			}
			// HEAD
			rc.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp, body := rc.response("HEAD"); resp.StatusCode != 200 || body != "" {
				t.Fatalf("HEAD: %d %q", resp.StatusCode, body)
			}
		})
	}
}

func TestProxyKeepAlivePool(t *testing.T) {
	be := startBackend(t, true, http.HandlerFunc(echoHandler))
	cfg := proxySite(be.addr)
	cfg.Workers = 1
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	for i := 0; i < 200; i++ {
		rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, _ := rc.response("GET"); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	if n := be.conns.Load(); n > 2 {
		t.Fatalf("200 sequential requests used %d upstream connections, want the pool to reuse one", n)
	}
}

func TestProxyTrustedProxies(t *testing.T) {
	be := startBackend(t, false, http.HandlerFunc(echoHandler))
	cfg := proxySite(be.addr)
	cfg.Proxy.TrustedProxies = []string{"127.0.0.0/8"}
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7, 10.0.0.1\r\nX-Forwarded-Proto: https\r\n\r\n")
	_, body := rc.response("GET")
	e := decodeEcho(t, body)
	if e.Headers["X-Forwarded-For"] != "203.0.113.7, 10.0.0.1, 127.0.0.1" || e.Headers["X-Forwarded-Proto"] != "https" {
		t.Fatalf("trusted chain: %v", e.Headers)
	}
	// 10.0.0.1 is not trusted here, so it is the client.
	if e.Headers["X-Real-Ip"] != "10.0.0.1" {
		t.Fatalf("X-Real-IP %q, want 10.0.0.1", e.Headers["X-Real-Ip"])
	}
}

func TestProxyErrors(t *testing.T) {
	// Nothing listens on the upstream: 502, as HTML or JSON.
	dead := filepath.Join(t.TempDir(), "dead.sock")
	te := startEngine(t, proxySite("unix:"+dead))
	rc := dial(t, te.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := rc.response("GET")
	if resp.StatusCode != 502 || !strings.Contains(body, "502 Bad Gateway") || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("dead upstream: %d %q", resp.StatusCode, body)
	}
	// The failure took the only server out for fail_timeout (passive
	// marking): now there is none to try, 503 — as JSON for API clients.
	rc.send("GET / HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n")
	resp, body = rc.response("GET")
	var j map[string]any
	if resp.StatusCode != 503 || json.Unmarshal([]byte(body), &j) != nil || j["status"] != float64(503) ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("JSON error: %d %q", resp.StatusCode, body)
	}
	// A dynamic group without servers (the app is starting): 503 + Retry-After.
	cfg := proxySite()
	te2 := startEngine(t, cfg)
	rc2 := dial(t, te2.addr)
	rc2.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, _ = rc2.response("GET")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("no servers: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// ... and serves once the supervisor names one.
	be := startBackend(t, true, http.HandlerFunc(echoHandler))
	if err := te2.e.SetUpstreamServers("app", []string{be.addr}); err != nil {
		t.Fatal(err)
	}
	rc2.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ = rc2.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("after SetUpstreamServers: %d", resp.StatusCode)
	}
}

func TestProxyTimeout(t *testing.T) {
	be := startBackend(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(3 * time.Second)
	}))
	cfg := proxySite(be.addr)
	cfg.Proxy.ResponseTimeout = 500 * time.Millisecond
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	start := time.Now()
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, _ := rc.response("GET")
	if resp.StatusCode != 504 || time.Since(start) > 2*time.Second {
		t.Fatalf("slow upstream: %d after %v", resp.StatusCode, time.Since(start))
	}
}

// TestProxyStreamsChunkedResponses: each event reaches the client while
// the application is still waiting to send the next. The application
// sends one event and then waits until the client confirms it got it, so
// a proxy that held the body back (until the end, or until some buffer
// filled) never delivers it: no timing is involved.
func TestProxyStreamsChunkedResponses(t *testing.T) {
	const events = 3
	received := make(chan int, events)
	be := startBackend(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < events; i++ {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-received:
			case <-r.Context().Done():
				return
			case <-time.After(30 * time.Second):
				return
			}
		}
	}))
	te := startEngine(t, proxySite(be.addr))
	c, err := net.Dial("tcp", te.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("GET /sse HTTP/1.1\r\nHost: x\r\n\r\n"))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := bufio.NewReader(resp.Body)
	for i := 0; i < events; i++ {
		line, err := body.ReadString('\n')
		if want := fmt.Sprintf("data: %d\n", i); line != want || err != nil {
			t.Fatalf("event %d: %q %v, want %q: held back while the application waited for the client", i, line, err, want)
		}
		if blank, _ := body.ReadString('\n'); blank != "\n" {
			t.Fatalf("event %d not terminated: %q", i, blank)
		}
		received <- i
	}
	if rest, err := io.ReadAll(body); err != nil || len(rest) != 0 {
		t.Fatalf("after the last event: %q %v", rest, err)
	}
}

func TestProxyLargeResponseReleasesUpstreamEarly(t *testing.T) {
	const size = 16 << 20
	var served atomic.Bool
	be := startBackend(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Write(make([]byte, size))
		served.Store(true)
	}))
	te := startEngine(t, proxySite(be.addr))
	c, err := net.Dial("tcp", te.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A small receive buffer (a very small one makes loopback TCP crawl
	// on delayed acknowledgements) so that most of the response cannot
	// sit in socket buffers.
	c.(*net.TCPConn).SetReadBuffer(64 << 10)
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	// Read nothing: the engine must take the whole response off the
	// application anyway (to memory and a temporary file).
	deadline := time.Now().Add(5 * time.Second)
	for !served.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the backend never finished writing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		if req, _ := te.e.InFlight(be.addr); req == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("upstream still busy while the client reads nothing")
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	if n != size {
		t.Fatalf("got %d bytes, want %d", n, size)
	}
}

func TestProxyEmptyBodies(t *testing.T) {
	be := startBackend(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			w.Header().Set("Content-Length", "0")
			w.Header().Set("Location", "/")
			w.WriteHeader(302)
		case "/nocontent":
			w.WriteHeader(204)
		}
	}))
	te := startEngine(t, proxySite(be.addr))
	rc := dial(t, te.addr)
	for i := 0; i < 3; i++ {
		for _, p := range []string{"/redirect", "/nocontent"} {
			start := time.Now()
			rc.send("GET " + p + " HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, _ := rc.response("GET")
			if resp.StatusCode != 302 && resp.StatusCode != 204 || time.Since(start) > time.Second {
				t.Fatalf("%s: %d after %v", p, resp.StatusCode, time.Since(start))
			}
		}
	}
}

// TestHoldWhileTheAppBoots: with a hold, a request for a group without
// servers waits for one (and is served once it comes) instead of getting
// 503; after the hold, 503.
func TestHoldWhileTheAppBoots(t *testing.T) {
	te := startEngine(t, proxySite())
	if err := te.e.SetUpstreamHold("app", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	be := startBackend(t, true, http.HandlerFunc(echoHandler))
	rc := dial(t, te.addr)
	start := time.Now()
	rc.send("POST /booting HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
	go func() {
		time.Sleep(300 * time.Millisecond)
		te.e.SetUpstreamServers("app", []string{be.addr})
	}()
	resp, body := rc.response("POST")
	if resp.StatusCode != 200 || decodeEcho(t, body).Length != 2 {
		t.Fatalf("held request: %d %q", resp.StatusCode, body)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 1500*time.Millisecond {
		t.Fatalf("answered after %v, want about when the server came", d)
	}
	// The server goes; the hold is still on: a request waits it out, then 503.
	te.e.SetUpstreamServers("app", nil)
	te.e.SetUpstreamHold("app", 500*time.Millisecond)
	start = time.Now()
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, _ = rc.response("GET")
	if resp.StatusCode != 503 || time.Since(start) < 450*time.Millisecond {
		t.Fatalf("after the hold: %d after %v", resp.StatusCode, time.Since(start))
	}
	// Hold off: 503 at once.
	te.e.SetUpstreamHold("app", 0)
	start = time.Now()
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := rc.response("GET"); resp.StatusCode != 503 || time.Since(start) > 200*time.Millisecond {
		t.Fatalf("without a hold: %d after %v", resp.StatusCode, time.Since(start))
	}
}
