package proxy

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"frontdoor/internal/testkit"
)

// namedBackend answers with its name.
func namedBackend(t *testing.T, name string, healthy *bool, mu *sync.Mutex) *backend {
	return startBackend(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && healthy != nil {
			mu.Lock()
			ok := *healthy
			mu.Unlock()
			if !ok {
				w.WriteHeader(503)
				return
			}
		}
		if r.URL.Path == "/slow" {
			time.Sleep(300 * time.Millisecond)
		}
		io.WriteString(w, name)
	}))
}

func countAnswers(t *testing.T, rc *rawConn, n int, path string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i := 0; i < n; i++ {
		rc.send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := rc.response("GET")
		if resp.StatusCode != 200 {
			got[fmt.Sprint(resp.StatusCode)]++
			continue
		}
		got[body]++
	}
	return got
}

func TestBalancingWeightsAndFailures(t *testing.T) {
	a, b := namedBackend(t, "a", nil, nil), namedBackend(t, "b", nil, nil)
	cfg := Config{
		Workers:   1,
		Upstreams: []Upstream{{Name: "app", Servers: []UpstreamServer{{Addr: a.addr, Weight: 3}, {Addr: b.addr, Weight: 1}}, MaxFails: 1, FailTimeout: time.Second}},
		Sites:     []Site{{Routes: []Route{{Prefix: "/", Upstream: "app"}}}},
	}
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	got := countAnswers(t, rc, 400, "/")
	if got["a"] != 300 || got["b"] != 100 {
		t.Fatalf("weighted round robin 3:1 over 400 requests: %v", got)
	}
	// b goes away: one failure takes it out, its requests go to a.
	b.srv.Close()
	got = countAnswers(t, rc, 50, "/")
	if got["a"] < 49 {
		t.Fatalf("with b down: %v (at most the one request that found it down may fail)", got)
	}
}

func TestLeastConnections(t *testing.T) {
	a, b := namedBackend(t, "a", nil, nil), namedBackend(t, "b", nil, nil)
	cfg := Config{
		Workers:   1,
		Upstreams: []Upstream{{Name: "app", Balance: "least_conn", Servers: []UpstreamServer{{Addr: a.addr}, {Addr: b.addr}}}},
		Sites:     []Site{{Routes: []Route{{Prefix: "/", Upstream: "app"}}}},
	}
	te := startEngine(t, cfg)
	// A slow request holds one server; the next requests go to the other.
	slow := dial(t, te.addr)
	slow.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	rc := dial(t, te.addr)
	got := countAnswers(t, rc, 5, "/")
	_, first := slow.response("GET")
	other := map[string]string{"a": "b", "b": "a"}[first]
	if got[other] != 5 {
		t.Fatalf("while %s was busy, least_conn sent %v", first, got)
	}
}

func TestHealthChecks(t *testing.T) {
	var mu sync.Mutex
	aHealthy, bHealthy := true, true
	a, b := namedBackend(t, "a", &aHealthy, &mu), namedBackend(t, "b", &bHealthy, &mu)
	cfg := Config{
		Workers: 1,
		Upstreams: []Upstream{{Name: "app", Servers: []UpstreamServer{{Addr: a.addr}, {Addr: b.addr}},
			HealthCheck: &HealthCheck{Path: "/health", Interval: 100 * time.Millisecond, Timeout: time.Second}}},
		Sites: []Site{{Routes: []Route{{Prefix: "/", Upstream: "app"}}}},
	}
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	mu.Lock()
	aHealthy = false
	mu.Unlock()
	testkit.WaitFor(t, 3*time.Second, "a to be marked unhealthy", func() bool {
		got := countAnswers(t, rc, 4, "/")
		return got["b"] == 4
	})
	mu.Lock()
	bHealthy = false
	mu.Unlock()
	testkit.WaitFor(t, 3*time.Second, "503 with no healthy server", func() bool {
		rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, _ := rc.response("GET")
		return resp.StatusCode == 503
	})
	mu.Lock()
	aHealthy = true
	mu.Unlock()
	testkit.WaitFor(t, 3*time.Second, "a to come back", func() bool {
		got := countAnswers(t, rc, 2, "/")
		return got["a"] == 2
	})
}

func TestCompression(t *testing.T) {
	text := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 400) // 18 KB
	be := startBackend(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/text":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("ETag", `"v1"`)
			w.Header().Set("Content-Length", fmt.Sprint(len(text)))
		case "/chunked":
			w.Header().Set("Content-Type", "application/json")
			w.(http.Flusher).Flush() // no length: chunked
		case "/notransform":
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Cache-Control", "public, no-transform")
		case "/image":
			w.Header().Set("Content-Type", "image/png")
		case "/small":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "tiny")
			return
		}
		io.WriteString(w, text)
	}))
	cfg := proxySite(be.addr)
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	for _, tc := range []struct {
		path, ae, want string
	}{
		{"/text", "gzip, deflate, br, zstd", "zstd"},
		{"/text", "gzip", "gzip"},
		{"/chunked", "gzip", "gzip"},
		{"/text", "", ""},
		{"/text", "zstd;q=0, gzip;q=0", ""},
		{"/notransform", "gzip", ""},
		{"/image", "gzip", ""},
		{"/small", "gzip", ""},
	} {
		extra := ""
		if tc.ae != "" {
			extra = "Accept-Encoding: " + tc.ae + "\r\n"
		}
		rc.send("GET " + tc.path + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n")
		resp, body := rc.response("GET")
		if got := resp.Header.Get("Content-Encoding"); got != tc.want {
			t.Fatalf("%s with %q: Content-Encoding %q, want %q", tc.path, tc.ae, got, tc.want)
		}
		var plain []byte
		switch tc.want {
		case "gzip":
			zr, err := gzip.NewReader(strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			plain, _ = io.ReadAll(zr)
		case "zstd":
			zr, _ := zstd.NewReader(strings.NewReader(body))
			plain, _ = io.ReadAll(zr)
			zr.Close()
		default:
			plain = []byte(body)
		}
		want := text
		if tc.path == "/small" {
			want = "tiny"
		}
		if !bytes.Equal(plain, []byte(want)) {
			t.Fatalf("%s with %q: body does not decode to the original (%d bytes)", tc.path, tc.ae, len(plain))
		}
		if tc.want != "" {
			if len(body) >= len(text)/2 || resp.Header.Get("Vary") != "Accept-Encoding" {
				t.Fatalf("%s: %d compressed bytes, Vary %q", tc.path, len(body), resp.Header.Get("Vary"))
			}
			if tc.path == "/text" && resp.Header.Get("Etag") != `W/"v1"` {
				t.Fatalf("ETag %q, want weak", resp.Header.Get("Etag"))
			}
		} else if tc.path == "/text" && resp.Header.Get("Etag") != `"v1"` {
			t.Fatalf("ETag %q of the application's own bytes, want it strong as it was", resp.Header.Get("Etag"))
		}
	}
}
