package proxy

import (
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// TestDotfilesAreNotServed: names with a segment starting with "." (.env,
// .git/config, a .htpasswd deep in a tree) are private by convention and
// get 404 like missing files, from a static route at the root, one under a
// prefix, and through X-Accel-Redirect; "/.well-known/" at the root of the
// URL space is public (RFC 8615); a route with Dotfiles serves them all.
func TestDotfilesAreNotServed(t *testing.T) {
	root := t.TempDir()
	for name, content := range map[string]string{
		"index.html":                  "home",
		"app.css":                     "css",
		".env":                        "SECRET_KEY=s3cr3t",
		".git/config":                 "[core] SECRET",
		"sub/.htpasswd":               "admin:SECRET",
		".well-known/security.txt":    "Contact: mailto:security@example.com",
		".well-known/.hidden":         "SECRET inside well-known",
		"dir.with.dots/file.name.txt": "dots inside names are fine",
	} {
		writeFile(t, filepath.Join(root, name), content)
	}
	// The application answers /download/NAME with X-Accel-Redirect to
	// /_files/NAME, an internal route on the same directory.
	addr := serveRawAnswers(t, func(req *http.Request) string {
		name := strings.TrimPrefix(req.URL.Path, "/download/")
		return "HTTP/1.1 200 OK\r\nX-Accel-Redirect: /_files/" + name + "\r\nContent-Length: 0\r\n\r\n"
	})
	cfg := Config{
		Upstreams: []Upstream{{Name: "app", Servers: []UpstreamServer{{Addr: addr}}}},
		Sites: []Site{
			{Hosts: []string{"default"}, Routes: []Route{
				{Prefix: "/", Static: &Static{Root: root}},
				{Prefix: "/assets/", Static: &Static{Root: root}},
				{Prefix: "/download/", Upstream: "app"},
				{Prefix: "/_files/", Static: &Static{Root: root, Internal: true}},
			}},
			{Hosts: []string{"allowed"}, Routes: []Route{
				{Prefix: "/", Static: &Static{Root: root, Dotfiles: true}},
			}},
		},
	}
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	for _, tc := range []struct {
		host, path string
		want       int
	}{
		{"default", "/", 200},
		{"default", "/app.css", 200},
		{"default", "/dir.with.dots/file.name.txt", 200},
		{"default", "/.env", 404},
		{"default", "/%2eenv", 404},
		{"default", "/./.env", 404},
		{"default", "/.git/config", 404},
		{"default", "/.git/", 404},
		{"default", "/.git", 404},
		{"default", "/sub/.htpasswd", 404},
		{"default", "/.well-known/security.txt", 200},
		{"default", "/.well-known/.hidden", 404},
		{"default", "/assets/app.css", 200},
		{"default", "/assets/.env", 404},
		{"default", "/assets/.well-known/security.txt", 404}, // not at the URL's root
		{"default", "/download/app.css", 200},
		{"default", "/download/.env", 404},
		{"allowed", "/.env", 200},
		{"allowed", "/.git/config", 200},
		{"allowed", "/sub/.htpasswd", 200},
		{"allowed", "/.well-known/.hidden", 200},
	} {
		rc.send("GET " + tc.path + " HTTP/1.1\r\nHost: " + tc.host + "\r\n\r\n")
		resp, body := rc.response("GET")
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.host, tc.path, resp.StatusCode, tc.want)
		}
		if tc.want != 200 && strings.Contains(body, "SECRET") {
			t.Errorf("%s %s leaked %q", tc.host, tc.path, body)
		}
	}
}

// TestTraceIsRefusedAtTheEdge: TRACE would echo the request back, cookies
// and credentials included (cross-site tracing). On a proxied route the
// edge answers 405 itself and the application never sees the request; the
// connection stays usable. Static routes answered 405 already.
func TestTraceIsRefusedAtTheEdge(t *testing.T) {
	var seen atomic.Int32
	addr := serveRawAnswers(t, func(req *http.Request) string {
		seen.Add(1)
		return "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(req.Method)) + "\r\n\r\n" + req.Method
	})
	te := startEngine(t, proxySite(addr))
	rc := dial(t, te.addr)
	rc.send("TRACE / HTTP/1.1\r\nHost: x\r\nCookie: session=s3cr3t\r\n\r\n")
	resp, body := rc.response("TRACE")
	if resp.StatusCode != 405 || resp.Header.Get("Allow") == "" || strings.Contains(body, "s3cr3t") {
		t.Fatalf("TRACE: %d Allow %q body %q, want 405 with Allow", resp.StatusCode, resp.Header.Get("Allow"), body)
	}
	if n := seen.Load(); n != 0 {
		t.Fatalf("the application saw %d requests", n)
	}
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "GET" {
		t.Fatalf("GET after TRACE: %d %q", resp.StatusCode, body)
	}
}
