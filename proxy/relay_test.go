package proxy

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// scriptedOrigin answers each request with the raw bytes script returns
// for it (its method and path), on as many keep-alive connections as the
// engine opens; conns counts them. An empty answer closes the connection.
type scriptedOrigin struct {
	addr  string
	conns atomic.Int64
}

func startScriptedOrigin(t *testing.T, script func(method, path string) string) *scriptedOrigin {
	t.Helper()
	o := &scriptedOrigin{}
	o.addr = serveTCP(t, func(c net.Conn) {
		defer c.Close()
		o.conns.Add(1)
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			answer := script(req.Method, req.URL.Path)
			if answer == "" {
				return
			}
			if _, err := io.WriteString(c, answer); err != nil {
				return
			}
			if strings.HasPrefix(req.URL.Path, "/close") {
				return
			}
		}
	})
	return o
}

// TestRelayFraming: each way an application frames a response reaches the
// client framed correctly, with the application's fields minus those that
// are hop-by-hop or frontdoor's own, and the upstream connection is reused
// exactly when its framing leaves it clean.
func TestRelayFraming(t *testing.T) {
	responses := map[string]string{
		"/length":      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
		"/empty":       "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"/nocontent":   "HTTP/1.1 204 No Content\r\n\r\n",
		"/notmodified": "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\nETag: \"e\"\r\n\r\n",
		"/head":        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
		"/chunked":     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
		"/close":       "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
		"/extra":       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiGARBAGE",
		"/interim":     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"/custom":      "HTTP/1.1 599 Custom Reason\r\nContent-Length: 1\r\n\r\nx",
		// Bytes where none belong: the connection must not be reused.
		"/nocontent-extra": "HTTP/1.1 204 No Content\r\n\r\nGARBAGE",
		"/empty-extra":     "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nGARBAGE",
		"/extra-big":       "HTTP/1.1 200 OK\r\nContent-Length: 40000\r\n\r\n" + strings.Repeat("b", 40000) + "GARBAGE",
		"/chunked-extra":   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\nGARBAGE",
		"/switch":          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"/fields": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\n" +
			"Date: Mon, 01 Jan 2001 00:00:00 GMT\r\nServer: gunicorn\r\nX-Accel-Buffering: yes\r\nX-Accel-Limit-Rate: 1\r\n" +
			"X-Accel: kept\r\nX-Accel-: kept too\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Request-ID: from-the-app\r\n\r\nok",
	}
	o := startScriptedOrigin(t, func(method, path string) string { return responses[path] })
	cfg := proxySite(o.addr)
	cfg.Workers = 1
	te := startEngine(t, cfg)

	tests := []struct {
		request string
		status  int
		body    string
		fields  map[string]string // "" means absent
		closes  bool              // the client connection ends after the response
		// reusable: the upstream connection serves the next request. Never
		// after a response that has no body (204, 304, HEAD): a body the
		// application sends anyway may come late (issue 11 item 8).
		reusable bool
	}{
		{"GET /length HTTP/1.1", 200, "hello", map[string]string{"Content-Length": "5", "Content-Type": "text/plain"}, false, true},
		{"GET /empty HTTP/1.1", 200, "", map[string]string{"Content-Length": "0"}, false, true},
		{"GET /nocontent HTTP/1.1", 204, "", map[string]string{"Content-Length": ""}, false, false},
		{"GET /notmodified HTTP/1.1", 304, "", map[string]string{"Content-Length": "9", "Etag": `"e"`}, false, false},
		{"HEAD /head HTTP/1.1", 200, "", map[string]string{"Content-Length": "5"}, false, false},
		{"GET /chunked HTTP/1.1", 200, "hello world", map[string]string{"Transfer-Encoding": "chunked"}, false, true},
		{"GET /chunked HTTP/1.0", 200, "hello world", map[string]string{"Transfer-Encoding": "", "Content-Length": ""}, true, true},
		{"GET /close HTTP/1.1", 200, "until the end", map[string]string{"Content-Length": ""}, true, false},
		{"GET /extra HTTP/1.1", 200, "hi", map[string]string{"Content-Length": "2"}, false, false},
		{"GET /interim HTTP/1.1", 200, "ok", map[string]string{"Link": ""}, false, true},
		{"GET /custom HTTP/1.1", 599, "x", nil, false, true},
		{"GET /nocontent-extra HTTP/1.1", 204, "", nil, false, false},
		{"GET /empty-extra HTTP/1.1", 200, "", nil, false, false},
		{"GET /extra-big HTTP/1.1", 200, strings.Repeat("b", 40000), nil, false, false},
		{"GET /chunked-extra HTTP/1.1", 200, "hi", nil, false, false},
		{"GET /chunked-extra HTTP/1.0", 200, "hi", nil, true, false},
		{"GET /switch HTTP/1.1", 502, "", nil, false, false}, // 101 to a request that asked for no upgrade
		{"GET /fields HTTP/1.1", 200, "ok", map[string]string{"X-Hop": "", "Keep-Alive": "", "Server": "frontdoor",
			"X-Accel-Buffering": "", "X-Accel-Limit-Rate": "", "X-Accel": "kept", "X-Accel-": "kept too", "X-Request-Id": "from-the-app"}, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.request, func(t *testing.T) {
			// One clean pooled connection to start with.
			rc := dial(t, te.addr)
			rc.send("GET /length HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp, _ := rc.response("GET"); resp.StatusCode != 200 {
				t.Fatalf("warm-up: %d", resp.StatusCode)
			}
			before := o.conns.Load()
			rc = dial(t, te.addr)
			method, _, _ := strings.Cut(tc.request, " ")
			rc.send(tc.request + "\r\nHost: x\r\n\r\n")
			resp, body := rc.response(method)
			if resp.StatusCode != tc.status || (tc.status != 502 && body != tc.body) {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, clip([]byte(body), 60), tc.status, tc.body)
			}
			for name, want := range tc.fields {
				got := strings.Join(resp.Header.Values(name), ", ")
				if name == "Transfer-Encoding" {
					got = strings.Join(resp.TransferEncoding, ", ")
				}
				if got != want {
					t.Errorf("%s: %q, want %q", name, got, want)
				}
			}
			if tc.request == "GET /fields HTTP/1.1" {
				if d := resp.Header.Get("Date"); d == "" || strings.Contains(d, "2001") {
					t.Errorf("Date %q: the application's, not frontdoor's", d)
				}
				if c := resp.Header.Values("Set-Cookie"); len(c) != 2 {
					t.Errorf("Set-Cookie fields: %q", c)
				}
			}
			if tc.status == 599 && resp.Status != "599 Custom Reason" {
				t.Errorf("status line %q: the application's reason lost", resp.Status)
			}
			if tc.closes {
				if !rc.closed(2 * time.Second) {
					t.Fatal("client connection not closed")
				}
				rc = dial(t, te.addr)
			}
			// The next request (on the same client connection when it
			// stays open) reuses the upstream connection only when the
			// framing left it clean.
			rc.send("GET /length HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "hello" {
				t.Fatalf("next request: %d %q", resp.StatusCode, body)
			}
			if opened := o.conns.Load() - before; opened != map[bool]int64{true: 0, false: 1}[tc.reusable] {
				t.Errorf("%d new upstream connections after it; want the one used reused: %v", opened, tc.reusable)
			}
		})
	}
}

// TestRelayCompressionChoices: with compression on, a streamed response
// (server-sent events, or X-Accel-Buffering: no) is passed as it is, any
// other compressible one is compressed, and its strong ETag becomes weak
// (a weak one, or one that is no quoted tag, even an empty one, stays as
// it is).
func TestRelayCompressionChoices(t *testing.T) {
	text := strings.Repeat("compress me, please. ", 200)
	head := func(fields string) string {
		return "HTTP/1.1 200 OK\r\n" + fields + "Content-Length: " + fmt.Sprint(len(text)) + "\r\n\r\n" + text
	}
	responses := map[string]string{
		"/events":     head("Content-Type: text/event-stream\r\n"),
		"/unbuffered": head("Content-Type: text/plain\r\nX-Accel-Buffering: No\r\n"),
		"/buffered":   head("Content-Type: text/plain\r\nX-Accel-Buffering: yes\r\nETag: \"strong\"\r\n"),
		"/weak":       head("Content-Type: text/plain\r\nETag: W/\"weak\"\r\n"),
		"/unquoted":   head("Content-Type: text/plain\r\nETag: bare\r\n"),
		"/emptytag":   head("Content-Type: text/plain\r\nETag:\r\n"),
	}
	o := startScriptedOrigin(t, func(method, path string) string { return responses[path] })
	cfg := proxySite(o.addr)
	cfg.Proxy.Compress = Compression{} // on, by default
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	for _, c := range []struct {
		path, encoding, etag string
	}{
		{"/events", "", ""},
		{"/unbuffered", "", ""},
		{"/buffered", "gzip", `W/"strong"`},
		{"/weak", "gzip", `W/"weak"`},
		{"/unquoted", "gzip", "bare"},
		{"/emptytag", "gzip", ""},
	} {
		rc.send("GET " + c.path + " HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
		resp, body := rc.response("GET")
		if got := resp.Header.Get("Content-Encoding"); got != c.encoding {
			t.Errorf("%s: Content-Encoding %q, want %q", c.path, got, c.encoding)
			continue
		}
		if c.encoding == "" {
			if body != text {
				t.Errorf("%s: body changed", c.path)
			}
			continue
		}
		zr, err := gzip.NewReader(strings.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		if plain, err := io.ReadAll(zr); err != nil || string(plain) != text {
			t.Errorf("%s: gzip body decodes to %d bytes, %v", c.path, len(plain), err)
		}
		if got := resp.Header.Get("Etag"); got != c.etag {
			t.Errorf("%s: ETag %q, want %q", c.path, got, c.etag)
		}
	}
}

// TestLargeResponseKeepsTheConnection: a response whose body comes after
// its head, in many reads (more than the read buffer), leaves the
// upstream connection clean once its Content-Length is read: the next
// requests reuse it.
func TestLargeResponseKeepsTheConnection(t *testing.T) {
	body := strings.Repeat("0123456789abcdef", 16<<10) // 256 KiB
	o := startScriptedOrigin(t, func(method, path string) string {
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	})
	cfg := proxySite(o.addr)
	cfg.Workers = 1
	cfg.Proxy.Compress.Off = true
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	for i := range 3 {
		rc.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, got := rc.response("GET"); resp.StatusCode != 200 || got != body {
			t.Fatalf("request %d: %d, %d bytes of %d", i, resp.StatusCode, len(got), len(body))
		}
	}
	if n := o.conns.Load(); n != 1 {
		t.Fatalf("%d upstream connections for 3 requests, want one reused", n)
	}
}

// TestStreamHoldsBackTheApplication: a streamed response (an event
// stream, never spooled) to a client that reads nothing is taken off the
// application only as far as buffer_memory and the sockets' buffers
// hold: then the application's writes wait. The application stops when
// a write has waited 300 ms; it must stop far short of its 64 MiB.
func TestStreamHoldsBackTheApplication(t *testing.T) {
	sock := t.TempDir() + "/app.sock"
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	const total = 64 << 20
	written := make(chan int, 1)
	go func() {
		n := 0
		defer func() { written <- n }()
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"); err != nil {
			return
		}
		event := []byte("data: " + strings.Repeat("x", 64<<10-8) + "\n\n")
		for n < total {
			c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
			m, err := c.Write(event)
			n += m
			if err != nil {
				return
			}
		}
	}()
	te := startEngine(t, proxySite("unix:"+sock))
	rc := dial(t, te.addr)
	rc.send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
	var n int
	select {
	case n = <-written:
	case <-time.After(20 * time.Second):
		t.Fatal("the application never stopped writing")
	}
	if n >= total/2 {
		t.Fatalf("the application wrote %d MiB into a stream nobody reads: the engine held it all", n>>20)
	}
	t.Logf("the application wrote %d KiB before its writes waited", n>>10)
}

// TestLargeCompressedResponse: a compressible response much larger than
// the read buffer, read from the application in many pieces, reaches a
// client that accepts gzip compressed, and decodes to the application's
// bytes.
func TestLargeCompressedResponse(t *testing.T) {
	var text strings.Builder
	for i := 0; text.Len() < 1<<20; i++ {
		fmt.Fprintf(&text, "line %d of a page worth compressing\n", i)
	}
	body := text.String()
	o := startScriptedOrigin(t, func(method, path string) string {
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	})
	te := startEngine(t, proxySite(o.addr))
	rc := dial(t, te.addr)
	rc.send("GET /page HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
	resp, got := rc.response("GET")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("%d, Content-Encoding %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(strings.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || string(plain) != body {
		t.Fatalf("decodes to %d bytes (%v), want the application's %d; first difference at %d", len(plain), err, len(body), firstDifference(plain, []byte(body)))
	}
}
