package proxy

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPanicIsConfinedToItsConnection(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	cfg := staticSite(root)
	cfg.Workers = 1
	te := startEngine(t, cfg)
	hook := func(path []byte) {
		if string(path) == "/boom" {
			panic("handler bug")
		}
	}
	te.e.beforeServe.Store(&hook)
	te.panicsProvoked = 1
	other := dial(t, te.addr)
	other.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	other.response("GET")

	rc := dial(t, te.addr)
	rc.send("GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := rc.response("GET"); resp.StatusCode != 500 {
		t.Fatalf("panicking request: %d, want 500", resp.StatusCode)
	}
	if !rc.closed(2 * time.Second) {
		t.Fatal("connection of the panicking request not closed")
	}
	if n := te.e.Stats().Panics; n != 1 {
		t.Fatalf("Stats().Panics = %d after one panic", n)
	}
	// Had the test not declared it, the panic would fail the test.
	te.panicsProvoked = 0
	if err := te.panicCheck(0); err == nil || !strings.Contains(err.Error(), "handler bug") {
		t.Fatalf("an undeclared panic passes the check: %v", err)
	}
	te.panicsProvoked = 1
	// The worker lives on: the other keep-alive connection and new ones work.
	other.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := other.response("GET"); resp.StatusCode != 200 || body != "alpha" {
		t.Fatalf("after the panic: %d %q", resp.StatusCode, body)
	}
	again := dial(t, te.addr)
	again.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := again.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("new connection after the panic: %d", resp.StatusCode)
	}
}

func TestReloadSwapsConfiguration(t *testing.T) {
	one, two := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(one, "v.txt"), "one")
	writeFile(t, filepath.Join(two, "v.txt"), "two")
	te := startEngine(t, staticSite(one))
	rc := dial(t, te.addr)
	rc.send("GET /v.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := rc.response("GET"); body != "one" {
		t.Fatalf("before reload: %q", body)
	}
	// A bad configuration is refused and the old one keeps serving.
	if err := te.e.Reload(staticSite(filepath.Join(two, "missing"))); err == nil {
		t.Fatal("reload with a missing root accepted")
	}
	rc.send("GET /v.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := rc.response("GET"); body != "one" {
		t.Fatalf("after refused reload: %q", body)
	}
	if err := te.e.Reload(staticSite(two)); err != nil {
		t.Fatal(err)
	}
	// The same keep-alive connection sees the new configuration.
	rc.send("GET /v.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := rc.response("GET"); body != "two" {
		t.Fatalf("after reload: %q", body)
	}
}

func TestShutdownFinishesInFlightAndStopsAccepting(t *testing.T) {
	root := t.TempDir()
	data := make([]byte, 4<<20)
	writeFile(t, filepath.Join(root, "big.bin"), string(data))
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	l, err := Listen("127.0.0.1:0", "http")
	if err != nil {
		t.Fatal(err)
	}
	cfg := staticSite(root)
	cfg.Workers = 1
	e, err := New(cfg, []Listener{l})
	if err != nil {
		t.Fatal(err)
	}
	(&testEngine{e: e}).watchPanics(t)
	e.Start()
	idle := dial(t, l.Addr)
	idle.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	idle.response("GET")
	// A download in flight, read only after shutdown begins.
	busy := dial(t, l.Addr)
	busy.send("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(100 * time.Millisecond) // let the server fill the socket
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- e.Shutdown(ctx)
	}()
	if !idle.closed(3 * time.Second) {
		t.Fatal("idle connection not closed at shutdown")
	}
	resp, body := busy.response("GET")
	if resp.StatusCode != 200 || len(body) != len(data) {
		t.Fatalf("in-flight download: %d, %d bytes", resp.StatusCode, len(body))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", l.Addr); err == nil {
		c.Close()
		t.Fatal("still accepting after shutdown")
	}
}
