package proxy

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMaintenance: a group in maintenance answers 503 with Retry-After and
// the page given, for every method, without a request reaching its
// server; the site's static route keeps serving; the mode survives a
// Reload; off, requests reach the server again. Answering allocates
// nothing.
func TestMaintenance(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.css"), "body{}")
	be := startBackend(t, true, http.HandlerFunc(echoHandler))
	cfg := proxySite(be.addr)
	cfg.Sites[0].Routes = append(cfg.Sites[0].Routes, Route{Prefix: "/static/", Static: &Static{Root: root}})
	te := startEngine(t, cfg)
	page := []byte("<!doctype html><title>Back soon</title><p>We are moving house.</p>\n")
	if err := te.e.SetUpstreamMaintenance("app", page, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	rc := dial(t, te.addr)
	check := func(when string) {
		t.Helper()
		rc.send("GET /orders/ HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := rc.response("GET")
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "600" || body != string(page) ||
			resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: GET = %d, Retry-After %q, %q", when, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		rc.send("POST /orders/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
		if resp, _ := rc.response("POST"); resp.StatusCode != 503 {
			t.Fatalf("%s: POST = %d", when, resp.StatusCode)
		}
		rc.send("HEAD /orders/ HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := rc.response("HEAD"); resp.StatusCode != 503 || body != "" {
			t.Fatalf("%s: HEAD = %d with %d bytes", when, resp.StatusCode, len(body))
		}
		rc.send("GET /static/a.css HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "body{}" {
			t.Fatalf("%s: the static route = %d %q", when, resp.StatusCode, body)
		}
	}
	check("in maintenance")
	if n := be.conns.Load(); n != 0 {
		t.Errorf("the server got %d connections during maintenance", n)
	}
	allocs := allocsPerRoundTrip(t, te.addr, "GET /orders/ HTTP/1.1\r\nHost: x\r\n\r\n", "</p>\n")
	if allocs != 0 {
		t.Errorf("a maintenance answer allocates %.1f times", allocs)
	}

	// A reload (the configuration has no servers for the group: the
	// application's are given at run time) keeps the mode.
	reloaded := proxySite()
	reloaded.Sites[0].Routes = cfg.Sites[0].Routes
	if err := te.e.Reload(reloaded); err != nil {
		t.Fatal(err)
	}
	check("after a reload")

	if err := te.e.SetUpstreamMaintenance("app", nil, 0); err != nil {
		t.Fatal(err)
	}
	rc.send("GET /orders/ HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || !strings.Contains(body, `"uri":"/orders/"`) {
		t.Fatalf("after maintenance: %d %q", resp.StatusCode, body)
	}
	if err := te.e.SetUpstreamMaintenance("nosuch", page, 0); err == nil {
		t.Errorf("maintenance of a group that does not exist")
	}
}

// TestMaintenanceAnswersHeldRequests: a request waiting for a booting
// application gets the maintenance page when maintenance begins.
func TestMaintenanceAnswersHeldRequests(t *testing.T) {
	te := startEngine(t, proxySite())
	if err := te.e.SetUpstreamHold("app", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	rc := dial(t, te.addr)
	rc.send("GET /held HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(200 * time.Millisecond) // the request is held meanwhile
	if err := te.e.SetUpstreamMaintenance("app", []byte("later\n"), time.Minute); err != nil {
		t.Fatal(err)
	}
	resp, body := rc.response("GET")
	if resp.StatusCode != 503 || body != "later\n" || resp.Header.Get("Retry-After") != "60" {
		t.Fatalf("held request = %d %q", resp.StatusCode, body)
	}
}
