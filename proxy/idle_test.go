package proxy

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An idle worker's loop is parked and makes no turn (proxy/loop): its
// own deadlines — the access log's flush, the end of a drain — wake it
// through its dueTimer. These tests count turns and lines, never time.

// turns sums the turns of the engine's loops.
func (e *Engine) turns() uint64 {
	var n uint64
	for _, w := range e.workers {
		n += w.loop.Turns()
	}
	return n
}

// TestIdleWorkersMakeNoTurn: with a keep-alive connection held open (its
// timer armed for 75 s) and the access log on, the workers turn once to
// write the log line a second after the request, then not at all.
func TestIdleWorkersMakeNoTurn(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	cfg := staticSite(root)
	var log lockedWriter
	cfg.AccessLog = &log
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	rc.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := rc.response("GET"); body != "alpha" {
		t.Fatalf("body %q", body)
	}
	// Nothing else happens: the line is written when due, by the timer.
	// It is due a second after the request; the next timer of the idle
	// worker, the connection's head deadline, is 10 s after it.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(log.String(), `"/a.txt"`); {
		if time.Now().After(deadline) {
			t.Fatal("the access log line of an idle worker was never written")
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := te.e.turns()
	time.Sleep(1500 * time.Millisecond) // longer than the one-second heartbeat the loops once had
	if n := te.e.turns() - before; n != 0 {
		t.Fatalf("idle workers made %d turns", n)
	}
}

// TestDrainEndsAtTheGraceDeadline: a shutdown whose grace period ends
// while a connection still holds half a request head finishes at the end
// of the grace period, though nothing happens on the connection (its
// head deadline is 10 s away).
func TestDrainEndsAtTheGraceDeadline(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	cfg := staticSite(root)
	cfg.Workers = 1
	cfg.Timeouts.ShutdownGrace = 200 * time.Millisecond
	l, err := Listen("127.0.0.1:0", "http")
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(cfg, []Listener{l})
	if err != nil {
		t.Fatal(err)
	}
	e.Start()
	rc := dial(t, l.Addr)
	rc.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	rc.response("GET") // accepted and served
	rc.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with a grace of 200 ms: %v", err)
	}
	if !rc.closed(time.Second) {
		t.Fatal("the connection with half a head is still open after the shutdown")
	}
}
