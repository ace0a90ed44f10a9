package proxy

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"frontdoor/internal/testkit"
)

// wsDial performs a WebSocket handshake (RFC 6455) through the engine.
func wsDial(t testing.TB, addr, path string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	key := make([]byte, 16)
	rand.Read(key)
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, base64.StdEncoding.EncodeToString(key))
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") || resp.Header.Get("Sec-WebSocket-Accept") == "" {
		t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
	return c, br
}

// wsSend writes one masked text frame.
func wsSend(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	var mask [4]byte
	rand.Read(mask[:])
	frame := []byte{0x81}
	switch n := len(msg); {
	case n < 126:
		frame = append(frame, 0x80|byte(n))
	default:
		frame = append(frame, 0x80|126, byte(n>>8), byte(n))
	}
	frame = append(frame, mask[:]...)
	for i := 0; i < len(msg); i++ {
		frame = append(frame, msg[i]^mask[i%4])
	}
	if _, err := c.Write(frame); err != nil {
		t.Fatal(err)
	}
}

// wsRecv reads one unmasked frame from the server.
func wsRecv(t testing.TB, c net.Conn, br *bufio.Reader) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatal(err)
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		var l [2]byte
		io.ReadFull(br, l[:])
		n = int(binary.BigEndian.Uint16(l[:]))
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatal(err)
	}
	return string(payload)
}

func TestDjangoWebSocketAndSSE(t *testing.T) {
	dir := copyExample(t)
	app := startDjango(t, dir, djangoOptions{asgi: true})
	te := startEngine(t, djangoSite(app))

	c, br := wsDial(t, te.addr, "/ws/echo/")
	for _, msg := range []string{"hello", strings.Repeat("x", 300), "bye"} {
		wsSend(t, c, msg)
		if got := wsRecv(t, c, br); !strings.Contains(got, msg) {
			t.Fatalf("echo of %q: %q", msg, got)
		}
	}
	be := "unix:" + app.sock
	if req, tunnels := te.e.InFlight(be); req != 0 || tunnels != 1 {
		t.Fatalf("InFlight during a tunnel: %d requests, %d tunnels; want 0, 1", req, tunnels)
	}
	c.Close()
	testkit.WaitFor(t, 5*time.Second, "the tunnel to close", func() bool { _, n := te.e.InFlight(be); return n == 0 })

	// Server-sent events arrive one by one, as the app sends them.
	sc, err := net.Dial("tcp", te.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	sc.Write([]byte("GET /sse/?n=3&ms=400 HTTP/1.1\r\nHost: localhost\r\n\r\n"))
	sbr := bufio.NewReader(sc)
	resp, err := http.ReadResponse(sbr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q", ct)
	}
	body := bufio.NewReader(resp.Body)
	var arrivals []time.Duration
	start := time.Now()
	for len(arrivals) < 3 {
		line, err := body.ReadString('\n')
		if err != nil {
			t.Fatalf("after %d events: %v", len(arrivals), err)
		}
		if strings.HasPrefix(line, "data:") {
			arrivals = append(arrivals, time.Since(start))
		}
	}
	// Events are 400 ms apart at the source; buffered, all would arrive at once.
	if arrivals[1]-arrivals[0] < 250*time.Millisecond || arrivals[2]-arrivals[1] < 250*time.Millisecond {
		t.Fatalf("events not streamed one by one: %v", arrivals)
	}
}

func TestDjangoFaults(t *testing.T) {
	dir := copyExample(t)
	fdsBefore := fdCount(t)

	t.Run("pool connection closed by the app", func(t *testing.T) {
		// gunicorn closes idle keep-alive connections after 1 s; the
		// engine's pool must notice (or retry) and no request may fail.
		app := startDjango(t, dir, djangoOptions{keepAlive: 1})
		cfg := djangoSite(app)
		cfg.Proxy.PoolIdle = 30 * time.Second
		te := startEngine(t, cfg)
		rc := dial(t, te.addr)
		for i := 0; i < 4; i++ {
			rc.send("GET /healthz/ HTTP/1.1\r\nHost: localhost\r\n\r\n")
			if resp, _ := rc.response("GET"); resp.StatusCode != 200 {
				t.Fatalf("request %d: %d", i, resp.StatusCode)
			}
			time.Sleep(1500 * time.Millisecond)
		}
		// POST too (not idempotent): the pool must not hand out a closed one.
		rc.send("POST /echo/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nhi")
		if resp, _ := rc.response("POST"); resp.StatusCode != 200 {
			t.Fatalf("POST after the app closed pooled connections: %d", resp.StatusCode)
		}
	})

	t.Run("app killed mid-response", func(t *testing.T) {
		app := startDjango(t, dir, djangoOptions{workers: 1})
		te := startEngine(t, djangoSite(app))
		c, err := net.Dial("tcp", te.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// 2 GiB: the app is still writing when it is killed.
		c.Write([]byte("GET /big/?size=2147483648 HTTP/1.1\r\nHost: localhost\r\n\r\n"))
		br := bufio.NewReader(c)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("head: %v", err)
		}
		io.CopyN(io.Discard, resp.Body, 1<<20)
		app.kill()
		// The client must see the end (connection closed early), not hang.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := io.Copy(io.Discard, resp.Body)
		if err == nil || strings.Contains(err.Error(), "timeout") {
			t.Fatalf("truncated body ended with %v after %d more bytes", err, n)
		}
	})

	t.Run("app down", func(t *testing.T) {
		app := startDjango(t, dir, djangoOptions{})
		te := startEngine(t, djangoSite(app))
		app.kill()
		rc := dial(t, te.addr)
		rc.send("GET /echo/ HTTP/1.1\r\nHost: localhost\r\n\r\n")
		resp, body := rc.response("GET")
		if resp.StatusCode != 502 && resp.StatusCode != 503 {
			t.Fatalf("app down: %d %q", resp.StatusCode, body)
		}
		// Static files are still served by the edge.
		rc.send("GET /static/pages/site.css HTTP/1.1\r\nHost: localhost\r\n\r\n")
		if resp, _ := rc.response("GET"); resp.StatusCode != 200 {
			t.Fatalf("static while the app is down: %d", resp.StatusCode)
		}
	})

	// Every engine and app of the subtests is gone: no descriptor leaked.
	deadline := time.Now().Add(5 * time.Second)
	for fdCount(t) > fdsBefore && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := fdCount(t); n > fdsBefore {
		t.Fatalf("%d descriptors open after the faults, %d before:\n%s", n, fdsBefore, fdList())
	}
	_ = syscall.Getpid
}
