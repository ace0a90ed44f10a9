package proxy

import (
	"context"
	"log/slog"
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

// TestGroupSetBeforeStart: a hold and a maintenance page set between New
// and Start are in force for the first connection the workers accept —
// one that waited in the listen queue meanwhile, as a connection that
// socket-activated frontdoor does. (Before, such a change waited for
// worker loops that did not run yet, so frontdoor set its holds after
// Start and answered the first requests 503.)
func TestGroupSetBeforeStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(e *Engine) error
		want func(resp *http.Response, body string) bool
	}{
		{"hold", func(e *Engine) error { return e.SetUpstreamHold("app", 10*time.Second) },
			func(resp *http.Response, body string) bool {
				return resp.StatusCode == 200 && strings.Contains(body, `"uri":"/first"`)
			}},
		{"maintenance", func(e *Engine) error { return e.SetUpstreamMaintenance("app", []byte("later\n"), time.Minute) },
			func(resp *http.Response, body string) bool { return resp.StatusCode == 503 && body == "later\n" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Listen("127.0.0.1:0", "http")
			if err != nil {
				t.Fatal(err)
			}
			cfg := proxySite()
			cfg.Workers = 2
			cfg.Logger = slog.New(slog.DiscardHandler)
			e, err := New(cfg, []Listener{l})
			if err != nil {
				t.Fatal(err)
			}
			// The client is in the listen queue before the engine runs.
			rc := dial(t, l.Addr)
			rc.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
			set := make(chan error, 1)
			go func() { set <- tc.set(e) }()
			select {
			case err := <-set:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the change before Start did not return: it waits for worker loops that do not run yet")
			}
			e.Start()
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				e.Shutdown(ctx)
			})
			// The application comes a while after frontdoor started.
			be := startBackend(t, true, http.HandlerFunc(echoHandler))
			served := make(chan error, 1)
			go func() {
				time.Sleep(300 * time.Millisecond)
				served <- e.SetUpstreamServers("app", []string{be.addr})
			}()
			if resp, body := rc.response("GET"); !tc.want(resp, body) {
				t.Errorf("the first request = %d %q", resp.StatusCode, body)
			}
			if err := <-served; err != nil { // before the engine stops
				t.Error(err)
			}
		})
	}
}

// TestGroupChangeAfterShutdown: a group's change once the engine has
// stopped is refused at once; it used to post to the closed loops (a
// write to a descriptor number another file may have taken since — a
// later test's connection got those bytes as a request) and wait forever.
func TestGroupChangeAfterShutdown(t *testing.T) {
	l, err := Listen("127.0.0.1:0", "http")
	if err != nil {
		t.Fatal(err)
	}
	cfg := proxySite()
	cfg.Logger = slog.New(slog.DiscardHandler)
	e, err := New(cfg, []Listener{l})
	if err != nil {
		t.Fatal(err)
	}
	e.Start()
	if err := e.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	<-e.Done()
	changed := make(chan error, 1)
	go func() { changed <- e.SetUpstreamHold("app", time.Second) }()
	select {
	case err := <-changed:
		if err == nil || !strings.Contains(err.Error(), "the engine has stopped") {
			t.Errorf("a change after Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a change after Shutdown did not return")
	}
}

// TestHeldRequestWaitsForItsOwnGroup: with two apps booting, a request
// held for one keeps waiting when the other becomes ready, and is served
// when its own does. (It was answered 503 as soon as any group changed:
// the first request after a start of frontdoor with several apps.)
func TestHeldRequestWaitsForItsOwnGroup(t *testing.T) {
	cfg := Config{
		Upstreams: []Upstream{{Name: "shop"}, {Name: "blog"}},
		Sites: []Site{
			{Hosts: []string{"shop"}, Routes: []Route{{Prefix: "/", Upstream: "shop"}}},
			{Hosts: []string{"blog"}, Routes: []Route{{Prefix: "/", Upstream: "blog"}}},
		},
	}
	te := startEngine(t, cfg)
	for _, g := range []string{"shop", "blog"} {
		if err := te.e.SetUpstreamHold(g, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	rc := dial(t, te.addr)
	rc.send("GET /first HTTP/1.1\r\nHost: blog\r\n\r\n")
	be := startBackend(t, true, http.HandlerFunc(echoHandler))
	time.Sleep(200 * time.Millisecond) // the request is held meanwhile
	if err := te.e.SetUpstreamServers("shop", []string{be.addr}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := te.e.SetUpstreamServers("blog", []string{be.addr}); err != nil {
		t.Fatal(err)
	}
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || !strings.Contains(body, `"uri":"/first"`) {
		t.Errorf("blog's held request after shop became ready, then blog = %d %q", resp.StatusCode, body)
	}
}

// A reload while the application is still booting keeps its start hold,
// like its servers and maintenance mode (all given at run time): the
// request held before it and one arriving after it wait for the
// application and are served, not answered 503.
func TestReloadKeepsTheStartHold(t *testing.T) {
	te := startEngine(t, proxySite())
	if err := te.e.SetUpstreamHold("app", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	before := dial(t, te.addr)
	before.send("GET /before HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(200 * time.Millisecond) // the request is held meanwhile
	if err := te.e.Reload(proxySite()); err != nil {
		t.Fatal(err)
	}
	after := dial(t, te.addr)
	after.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(200 * time.Millisecond)
	be := startBackend(t, true, http.HandlerFunc(echoHandler))
	if err := te.e.SetUpstreamServers("app", []string{be.addr}); err != nil {
		t.Fatal(err)
	}
	for name, rc := range map[string]*rawConn{"before": before, "after": after} {
		if resp, body := rc.response("GET"); resp.StatusCode != 200 || !strings.Contains(body, `"uri":"/`+name+`"`) {
			t.Errorf("the request sent %s the reload = %d %q, want the application's answer", name, resp.StatusCode, body)
		}
	}
}
