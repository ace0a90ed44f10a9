package proxy

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// TestDrainAnswersARequestAlreadySent: a request that is in its socket when
// the engine starts draining (a restart), its input event not handled yet,
// is answered (with Connection: close), not dropped with the connection.
// The worker is held busy so that the drain's wake-up is queued before the
// request's input event, the order that made curl report "Empty reply from
// server" in about one e2e restart loop in four.
func TestDrainAnswersARequestAlreadySent(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	cfg := staticSite(root)
	cfg.Workers = 1
	te := startEngine(t, cfg)
	e := te.e
	w := e.workers[0]

	rc := dial(t, te.addr)
	awaitConnections(t, e, 1)
	entered, release := make(chan struct{}), make(chan struct{})
	w.loop.Post(nil, func() { close(entered); <-release })
	<-entered
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- e.Shutdown(ctx)
	}()
	// Shutdown has posted the drain when the worker holds one more task.
	for deadline := time.Now().Add(5 * time.Second); w.loop.PendingTasks() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("Shutdown posted nothing to the worker")
		}
		time.Sleep(time.Millisecond)
	}
	// Over loopback the bytes are in the server's socket when send returns.
	rc.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	close(release)

	resp, body := rc.response("GET")
	if resp.StatusCode != http.StatusOK || body != "alpha" || !resp.Close {
		t.Errorf("answer %d %q (Connection: close %v), want 200 alpha, closed", resp.StatusCode, body, resp.Close)
	}
	if err := <-stopped; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// TestDrainWaitsForAFreshConnectionsFirstRequest: a connection accepted
// just before a restart whose request has not arrived yet when the drain
// starts is answered when it does (with Connection: close), while an idle
// keep-alive connection is closed at once — its client retries on a new
// connection, a fresh connection's client does not.
func TestDrainWaitsForAFreshConnectionsFirstRequest(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	cfg := staticSite(root)
	cfg.Workers = 1
	te := startEngine(t, cfg)
	e := te.e

	kept := dial(t, te.addr)
	kept.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := kept.response("GET"); resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("keep-alive request: %d, close %v", resp.StatusCode, resp.Close)
	}
	fresh := dial(t, te.addr)
	awaitConnections(t, e, 2)
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- e.Shutdown(ctx)
	}()
	// The idle keep-alive connection closing says the drain has run.
	kept.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := kept.br.ReadByte(); err == nil {
		t.Fatalf("the idle keep-alive connection got %q instead of being closed by the drain", b)
	}
	// The rest of the drain (it closes connections in one task) is over
	// when a task posted now runs.
	drained := make(chan struct{})
	e.workers[0].loop.Post(nil, func() { close(drained) })
	select {
	case <-drained:
	case err := <-stopped:
		t.Fatalf("the engine stopped (%v) with a fresh connection waiting for its first request: the drain closed it", err)
	}
	fresh.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := fresh.response("GET")
	if resp.StatusCode != http.StatusOK || body != "alpha" || !resp.Close {
		t.Errorf("answer %d %q (Connection: close %v), want 200 alpha, closed", resp.StatusCode, body, resp.Close)
	}
	if err := <-stopped; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// TestDrainDoesNotWaitLongForAnUnusedConnection: a connection that never
// sends a request (a browser's preconnect) holds a restart up for
// drainFirstRequest, not for the whole request-head timeout or the grace.
func TestDrainDoesNotWaitLongForAnUnusedConnection(t *testing.T) {
	root := t.TempDir()
	cfg := staticSite(root)
	cfg.Workers = 1
	cfg.Timeouts.RequestHead = time.Minute
	te := startEngine(t, cfg)
	e := te.e
	unused := dial(t, te.addr)
	awaitConnections(t, e, 1)
	// Well above drainFirstRequest, well below the head timeout and grace.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with an unused connection open: %v", err)
	}
	if b, err := unused.br.ReadByte(); err == nil {
		t.Errorf("the unused connection got %q, want it closed", b)
	}
}
