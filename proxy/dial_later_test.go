package proxy

import (
	"bytes"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestRequestTakesAConnectionGivenBackInTheSameTurn: a request that finds
// no idle upstream connection waits for the end of the worker's turn, and
// takes the connection that a response of the same turn gave back rather
// than dial another. Request B comes in before the response to request A
// in the same turn (the worker is held busy while both arrive); both go
// over the application's one connection (B used to open a second).
func TestRequestTakesAConnectionGivenBackInTheSameTurn(t *testing.T) {
	var accepted atomic.Int32
	arrived, answer, written := make(chan struct{}, 2), make(chan struct{}), make(chan struct{}, 2)
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
	addr := serveTCP(t, func(up net.Conn) {
		accepted.Add(1)
		defer up.Close()
		buf := make([]byte, 4096)
		have := 0
		for {
			for !bytes.Contains(buf[:have], []byte("\r\n\r\n")) {
				n, err := up.Read(buf[have:])
				if err != nil {
					return
				}
				have += n
			}
			end := bytes.Index(buf[:have], []byte("\r\n\r\n")) + 4
			have = copy(buf, buf[end:have])
			arrived <- struct{}{}
			<-answer
			up.Write(resp)
			written <- struct{}{}
		}
	})
	cfg := proxySite(addr)
	cfg.Workers = 1
	te := startEngine(t, cfg)
	e := te.e
	w := e.workers[0]

	a, b := dial(t, te.addr), dial(t, te.addr)
	awaitConnections(t, e, 2)
	a.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("request A did not reach the application")
	}
	// Held busy, the worker takes B's request and A's response in one
	// turn, B's first: over loopback both are in its sockets when the
	// writes return, in that order.
	entered, unblock := make(chan struct{}), make(chan struct{})
	w.loop.Post(nil, func() { close(entered); <-unblock })
	<-entered
	b.send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
	answer <- struct{}{}
	<-written
	close(unblock)
	if resp, body := a.response("GET"); resp.StatusCode != http.StatusOK || body != "ok\n" {
		t.Fatalf("A: %d %q", resp.StatusCode, body)
	}
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("request B did not reach the application")
	}
	answer <- struct{}{}
	if resp, body := b.response("GET"); resp.StatusCode != http.StatusOK || body != "ok\n" {
		t.Fatalf("B: %d %q", resp.StatusCode, body)
	}
	if n := accepted.Load(); n != 1 {
		t.Fatalf("the application accepted %d connections for two requests one after the other, want 1", n)
	}
}
