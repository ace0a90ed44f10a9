package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestHTTP2Features: what works over HTTP/1.1 works on an HTTP/2 stream
// through the same code — an event stream relayed as it comes, a file
// named by X-Accel-Redirect, on-the-fly compression with Vary, a request
// with trailers, HEAD, ranges and conditional requests on files, and the
// host rules (421 for a name the TLS session was not made for).
func TestHTTP2Features(t *testing.T) {
	files, protected := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(files, "a.txt"), "0123456789")
	writeFile(t, filepath.Join(protected, "report.pdf"), "%PDF secret")
	page := strings.Repeat("<p>The quick brown fox jumps over the lazy dog.</p>\n", 200)
	release := make(chan struct{})
	be := startBackend(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/events":
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: first\n\n")
			w.(http.Flusher).Flush()
			<-release
			io.WriteString(w, "data: second\n\n")
		case "/download":
			w.Header().Set("X-Accel-Redirect", "/protected/report.pdf")
			w.Header().Set("Content-Type", "application/pdf")
		case "/page":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, page)
		case "/trailers":
			// Chunked over HTTP/1.1, with trailer fields after the body.
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Trailer", "X-Checksum, X-Rows")
			io.WriteString(w, page)
			w.(http.Flusher).Flush()
			w.Header().Set("X-Checksum", "abc")
			w.Header().Set("X-Rows", "200")
		default:
			echoHandler(w, r)
		}
	}))
	cfg := Config{
		Upstreams: []Upstream{{Name: "app", Servers: []UpstreamServer{{Addr: be.addr}}}},
		Sites: []Site{
			{Hosts: []string{"a.test"}, Routes: []Route{
				{Prefix: "/static/", Static: &Static{Root: files}},
				{Prefix: "/protected/", Static: &Static{Root: protected, Internal: true}},
				{Prefix: "/", Upstream: "app"},
			}},
			{Hosts: []string{"b.test"}, Routes: []Route{{Prefix: "/", Static: &Static{Root: files}}}},
		},
	}
	he := startH2Engine(t, cfg, "a.test", "b.test")
	client := he.client("a.test")
	get := func(path string, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		resp, body := mustHTTP(t, client, newRequest(t, "GET", "https://a.test"+path, nil, hdr))
		if resp.ProtoMajor != 2 {
			t.Fatalf("%s: %s, want HTTP/2", path, resp.Proto)
		}
		return resp, body
	}

	t.Run("event stream", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://a.test/events", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		line, err := br.ReadString('\n')
		if err != nil || line != "data: first\n" {
			t.Fatalf("the first event before the application sent the second: %q %v", line, err)
		}
		close(release)
		rest, _ := io.ReadAll(br)
		if string(rest) != "\ndata: second\n\n" {
			t.Fatalf("the rest of the stream: %q", rest)
		}
	})
	t.Run("X-Accel-Redirect", func(t *testing.T) {
		resp, body := get("/download", nil)
		if resp.StatusCode != 200 || body != "%PDF secret" || resp.Header.Get("Content-Type") != "application/pdf" {
			t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Header)
		}
		if resp, _ := get("/protected/report.pdf", nil); resp.StatusCode != 404 {
			t.Fatalf("the internal route answered a direct request: %d", resp.StatusCode)
		}
	})
	t.Run("compression", func(t *testing.T) {
		resp, body := get("/page", map[string]string{"Accept-Encoding": "br"})
		plain, _ := io.ReadAll(brotli.NewReader(strings.NewReader(body)))
		if resp.Header.Get("Content-Encoding") != "br" || resp.Header.Get("Vary") != "Accept-Encoding" || string(plain) != page {
			t.Fatalf("encoding %q, Vary %q, %d bytes that decode to %d", resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"), len(body), len(plain))
		}
	})
	t.Run("request trailers", func(t *testing.T) {
		req := newRequest(t, "POST", "https://a.test/echo", nil, nil)
		req.Body = io.NopCloser(strings.NewReader("body with trailers"))
		req.ContentLength = -1
		req.Trailer = http.Header{"X-Checksum": {"abc"}}
		resp, body := mustHTTP(t, client, req)
		if e := decodeEcho(t, body); resp.StatusCode != 200 || e.Length != len("body with trailers") || e.CL != int64(e.Length) {
			t.Fatalf("%d %+v", resp.StatusCode, e)
		}
	})
	t.Run("response trailers", func(t *testing.T) {
		// The application's trailer fields end the stream in a HEADERS
		// frame, whether the body is passed as it is or compressed.
		for _, enc := range []string{"identity", "br"} {
			resp, body := get("/trailers", map[string]string{"Accept-Encoding": enc})
			if enc == "br" {
				plain, _ := io.ReadAll(brotli.NewReader(strings.NewReader(body)))
				body = string(plain)
			}
			if body != page || resp.Trailer.Get("X-Checksum") != "abc" || resp.Trailer.Get("X-Rows") != "200" {
				t.Fatalf("%s: %d bytes (want %d), trailers %v", enc, len(body), len(page), resp.Trailer)
			}
		}
	})
	t.Run("HEAD, ranges, conditionals", func(t *testing.T) {
		resp, body := mustHTTP(t, client, newRequest(t, "HEAD", "https://a.test/static/a.txt", nil, nil))
		if resp.StatusCode != 200 || body != "" || resp.ContentLength != 10 {
			t.Fatalf("HEAD: %d %q %d", resp.StatusCode, body, resp.ContentLength)
		}
		resp, body = get("/static/a.txt", map[string]string{"Range": "bytes=2-4"})
		if resp.StatusCode != 206 || body != "234" || resp.Header.Get("Content-Range") != "bytes 2-4/10" {
			t.Fatalf("range: %d %q %v", resp.StatusCode, body, resp.Header)
		}
		etag := resp.Header.Get("ETag")
		if resp, body = get("/static/a.txt", map[string]string{"If-None-Match": etag}); resp.StatusCode != 304 || body != "" {
			t.Fatalf("conditional: %d %q", resp.StatusCode, body)
		}
	})
	t.Run("misdirected", func(t *testing.T) {
		resp, _ := get("/a.txt", map[string]string{"Host": "b.test"})
		if resp.StatusCode != 421 {
			t.Fatalf("a request for b.test on a.test's connection: %d, want 421", resp.StatusCode)
		}
		resp, body := mustHTTP(t, he.client("b.test"), newRequest(t, "GET", "https://b.test/a.txt", nil, nil))
		if resp.StatusCode != 200 || body != "0123456789" {
			t.Fatalf("b.test on its own connection: %d %q", resp.StatusCode, body)
		}
	})
}

// TestHTTP2GracefulShutdown: on Shutdown, an HTTP/2 connection gets a
// GOAWAY that admits the streams in flight, then a final one naming the
// last; the stream in flight is answered to its end, and the connection
// closes.
func TestHTTP2GracefulShutdown(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{})
	be := startBackend(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		io.WriteString(w, "finished")
	}))
	cfg := proxySite(be.addr)
	cfg.Workers = 1
	he := startH2Engine(t, cfg, "example.test")
	r := dialH2(t, he.addr)
	r.request(1, true, "GET", "/slow")
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached the application")
	}
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		stopped <- he.e.Shutdown(ctx)
	}()
	first := r.until(func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok }).(*http2.GoAwayFrame)
	if first.ErrCode != http2.ErrCodeNo || first.LastStreamID != 1<<31-1 {
		t.Fatalf("first GOAWAY: last %d %v, want 2^31-1 NO_ERROR", first.LastStreamID, first.ErrCode)
	}
	ping := r.until(func(f http2.Frame) bool { p, ok := f.(*http2.PingFrame); return ok && !p.IsAck() }).(*http2.PingFrame)
	r.fr.WritePing(true, ping.Data)
	final := r.until(func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok }).(*http2.GoAwayFrame)
	if final.LastStreamID != 1 {
		t.Fatalf("final GOAWAY names stream %d, want 1", final.LastStreamID)
	}
	close(release)
	var body bytes.Buffer
	r.until(func(f http2.Frame) bool {
		if d, ok := f.(*http2.DataFrame); ok && d.StreamID == 1 {
			body.Write(d.Data())
			return d.StreamEnded()
		}
		return false
	})
	if body.String() != "finished" {
		t.Fatalf("the stream in flight: %q", body.String())
	}
	if _, err := r.next(func(http2.Frame) bool { return false }); err == nil {
		t.Fatal("the connection stays open after its last stream")
	}
	r.c.Close() // the engine lingers until the client closes too
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// TestHTTP2GoAwayOnReload: a reload sends GOAWAY to HTTP/2 connections;
// the client's next request goes on a new connection, under the new
// configuration.
func TestHTTP2GoAwayOnReload(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	writeFile(t, filepath.Join(root, "new", "b.txt"), "beta")
	cfg := staticSite(root)
	he := startH2Engine(t, cfg, "example.test")
	r := dialH2(t, he.addr)
	r.request(1, true, "GET", "/a.txt")
	if s := r.status(1); s != "200" {
		t.Fatalf("before the reload: %s", s)
	}
	next := staticSite(filepath.Join(root, "new"))
	next.Logger, _ = errorLogger()
	if err := he.e.Reload(next); err != nil {
		t.Fatal(err)
	}
	if f := r.until(func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok }).(*http2.GoAwayFrame); f.ErrCode != http2.ErrCodeNo {
		t.Fatalf("GOAWAY %v on reload", f.ErrCode)
	}
	resp, body := mustHTTP(t, he.h2cClient(), newRequest(t, "GET", fmt.Sprintf("http://%s/b.txt", he.addr), nil, nil))
	if resp.ProtoMajor != 2 || body != "beta" {
		t.Fatalf("after the reload: %s %q", resp.Proto, body)
	}
}

// TestHTTP2WebSocketBesideIt: a TLS listener that offers h2 still tunnels
// WebSocket over HTTP/1.1 — what browsers do for a page loaded over
// HTTP/2 when the server offers no extended CONNECT: a second connection
// with ALPN http/1.1 and an Upgrade — while a client offering both gets
// h2.
func TestHTTP2WebSocketBesideIt(t *testing.T) {
	be := startBackend(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			io.WriteString(w, "page")
			return
		}
		conn, brw, _ := w.(http.Hijacker).Hijack()
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		io.Copy(conn, brw) // echo
	}))
	he := startH2Engine(t, proxySite(be.addr), "a.test")
	resp, body := mustHTTP(t, he.client("a.test"), newRequest(t, "GET", "https://a.test/", nil, nil))
	if resp.ProtoMajor != 2 || body != "page" {
		t.Fatalf("the page: %s %q", resp.Proto, body)
	}
	c, err := tls.Dial("tcp", he.httpsAddr, &tls.Config{ServerName: "a.test", RootCAs: he.ca.pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
		t.Fatalf("ALPN for the WebSocket connection: %q", p)
	}
	c.Write([]byte("GET /ws HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"))
	br := bufio.NewReader(c)
	resp, err = http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", err, resp)
	}
	msg := strings.Repeat("ping", 5000)
	go c.Write([]byte(msg))
	got := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
		t.Fatalf("echo over the tunnel: %v", err)
	}
}

// TestHTTP2WebSocketExtendedConnect: the engine offers extended CONNECT
// (SETTINGS_ENABLE_CONNECT_PROTOCOL), and a WebSocket opened with it (RFC
// 8441) reaches the application as the HTTP/1.1 handshake it expects —
// GET, Upgrade, a Sec-WebSocket-Key it answers — gets 200 on its stream,
// and carries bytes both ways through the flow-control windows (1 MiB each
// way); the client's END_STREAM half-closes the application's side, the
// application's close ends the stream, and the tunnel stops counting.
func TestHTTP2WebSocketExtendedConnect(t *testing.T) {
	handshake := make(chan http.Header, 1)
	be := startBackend(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("X-Method", r.Method)
		handshake <- h
		key := r.Header.Get("Sec-WebSocket-Key")
		sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		conn, brw, _ := w.(http.Hijacker).Hijack()
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			base64.StdEncoding.EncodeToString(sum[:]) + "\r\nSec-WebSocket-Protocol: chat\r\n\r\n")
		brw.Flush()
		io.Copy(conn, brw) // echo until the client's side ends
	}))
	cfg := proxySite(be.addr)
	cfg.Workers = 1
	he := startH2Engine(t, cfg, "example.test")

	c, err := net.Dial("tcp", he.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := &h2raw{t: t, c: c, fr: http2.NewFramer(c, c)}
	r.enc = hpack.NewEncoder(&r.hb)
	io.WriteString(c, http2.ClientPreface)
	r.fr.WriteSettings()
	settings := r.until(func(f http2.Frame) bool { s, ok := f.(*http2.SettingsFrame); return ok && !s.IsAck() }).(*http2.SettingsFrame)
	if v, ok := settings.Value(http2.SettingEnableConnectProtocol); !ok || v != 1 {
		t.Fatalf("SETTINGS_ENABLE_CONNECT_PROTOCOL not offered: %v", settings)
	}
	r.fr.WriteSettingsAck()
	r.hb.Reset()
	for _, f := range [][2]string{{":method", "CONNECT"}, {":protocol", "websocket"}, {":scheme", "http"}, {":authority", "example.test"},
		{":path", "/ws?room=1"}, {"sec-websocket-version", "13"}, {"sec-websocket-protocol", "chat"}} {
		r.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: r.hb.Bytes(), EndHeaders: true})
	if s := r.status(1); s != "200" {
		t.Fatalf("extended CONNECT: %s, want 200", s)
	}
	h := <-handshake
	key, _ := base64.StdEncoding.DecodeString(h.Get("Sec-WebSocket-Key"))
	if h.Get("X-Method") != "GET" || h.Get("Upgrade") != "websocket" || !strings.EqualFold(h.Get("Connection"), "Upgrade") ||
		len(key) != 16 || h.Get("Sec-Websocket-Version") != "13" || h.Get("Sec-Websocket-Protocol") != "chat" {
		t.Fatalf("the application's handshake: %v", h)
	}
	if _, tunnels := he.e.InFlight(be.addr); tunnels != 1 {
		t.Errorf("%d tunnels counted, want 1", tunnels)
	}
	// 1 MiB out and back, in 16 KiB frames, granting window as it comes.
	// The framer is not safe for concurrent writes: the sender and the
	// window updates share it under a lock.
	msg := make([]byte, 1<<20)
	rand.Read(msg)
	var writeMu sync.Mutex
	go func() {
		for off := 0; off < len(msg); off += 16 << 10 {
			writeMu.Lock()
			r.fr.WriteData(1, false, msg[off:off+16<<10])
			writeMu.Unlock()
		}
	}()
	var got bytes.Buffer
	r.until(func(f http2.Frame) bool {
		if d, ok := f.(*http2.DataFrame); ok && d.StreamID == 1 {
			got.Write(d.Data())
			if n := uint32(len(d.Data())); n > 0 {
				writeMu.Lock()
				r.fr.WriteWindowUpdate(0, n)
				r.fr.WriteWindowUpdate(1, n)
				writeMu.Unlock()
			}
		}
		return got.Len() >= len(msg)
	})
	if !bytes.Equal(got.Bytes(), msg) {
		t.Fatalf("echo: %d bytes back of %d, equal %v", got.Len(), len(msg), bytes.Equal(got.Bytes(), msg[:min(got.Len(), len(msg))]))
	}
	// The client ends its side: the application sees the end, closes,
	// and the stream ends.
	r.fr.WriteData(1, true, nil)
	r.until(func(f http2.Frame) bool {
		if d, ok := f.(*http2.DataFrame); ok && d.StreamID == 1 {
			return d.StreamEnded()
		}
		return false
	})
	waitFor(t, "the tunnel to stop counting", func() bool { _, n := he.e.InFlight(be.addr); return n == 0 })
}

// waitFor polls cond until it holds, for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
