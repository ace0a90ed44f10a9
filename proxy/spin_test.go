package proxy

import (
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestStartLeavesAPForOtherGoroutines(t *testing.T) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := staticSite(dir)
	cfg.Workers = 1
	te := startEngine(t, cfg)
	if got := runtime.GOMAXPROCS(0); got < 2 {
		t.Fatalf("GOMAXPROCS is %d with one worker, want at least 2", got)
	}
	c := dial(t, te.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := c.response("GET"); resp.StatusCode != http.StatusOK || body != "hello" {
		t.Fatalf("status %d body %q, want 200 hello", resp.StatusCode, body)
	}
}
