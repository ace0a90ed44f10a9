package proxy

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHostRedirects: the www/apex redirect and the redirect to HTTPS, with
// the status that keeps a method and body (308) when it matters, the port
// of the request kept on plain HTTP and replaced by the HTTPS port, and
// the target (path and query) kept.
func TestHostRedirects(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	static := []Route{{Prefix: "/", Static: &Static{Root: root}}}
	tests := []struct {
		name      string
		site      Site
		httpsPort int
		request   string
		status    int
		location  string
	}{
		{"to_apex", Site{RedirectWWW: "to_apex"}, 0, "GET /a.txt?q=1 HTTP/1.1\r\nHost: www.example.com\r\n\r\n", 301, "http://example.com/a.txt?q=1"},
		{"to_apex any case, port kept", Site{RedirectWWW: "to_apex"}, 0, "GET / HTTP/1.1\r\nHost: WWW.Example.com:8080\r\n\r\n", 301, "http://Example.com:8080/"},
		{"to_apex on the apex", Site{RedirectWWW: "to_apex"}, 0, "GET /a.txt HTTP/1.1\r\nHost: example.com\r\n\r\n", 200, ""},
		{"to_apex on www. alone", Site{RedirectWWW: "to_apex"}, 0, "GET /a.txt HTTP/1.1\r\nHost: www.\r\n\r\n", 200, ""},
		{"to_apex on wwwx.", Site{RedirectWWW: "to_apex"}, 0, "GET /a.txt HTTP/1.1\r\nHost: wwwx.example.com\r\n\r\n", 200, ""},
		{"to_www", Site{RedirectWWW: "to_www"}, 0, "GET /a.txt HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", 301, "http://www.example.com:8080/a.txt"},
		{"to_www on www", Site{RedirectWWW: "to_www"}, 0, "GET /a.txt HTTP/1.1\r\nHost: www.example.com\r\n\r\n", 200, ""},
		{"to_www on www. alone", Site{RedirectWWW: "to_www"}, 0, "GET /a.txt HTTP/1.1\r\nHost: www.\r\n\r\n", 301, "http://www.www./a.txt"},
		{"POST keeps its method", Site{RedirectWWW: "to_apex"}, 0, "POST /form HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 0\r\n\r\n", 308, "http://example.com/form"},
		{"HEAD is redirected like GET", Site{RedirectWWW: "to_apex"}, 0, "HEAD /a.txt HTTP/1.1\r\nHost: www.example.com\r\n\r\n", 301, "http://example.com/a.txt"},
		{"to HTTPS", Site{HTTPSRedirect: true}, 0, "GET /a.txt?q HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", 301, "https://example.com/a.txt?q"},
		{"to HTTPS on its port", Site{HTTPSRedirect: true}, 8443, "GET /a.txt HTTP/1.1\r\nHost: example.com\r\n\r\n", 301, "https://example.com:8443/a.txt"},
		{"to HTTPS on 443", Site{HTTPSRedirect: true}, 443, "GET /a.txt HTTP/1.1\r\nHost: example.com\r\n\r\n", 301, "https://example.com/a.txt"},
		{"to HTTPS and the apex at once", Site{HTTPSRedirect: true, RedirectWWW: "to_apex"}, 0, "PUT /x HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 0\r\n\r\n", 308, "https://example.com/x"},
		{"the ACME challenge prefix alone is no challenge", Site{HTTPSRedirect: true}, 0,
			"GET /.well-known/acme-challenge/ HTTP/1.1\r\nHost: example.com\r\n\r\n", 301, "https://example.com/.well-known/acme-challenge/"},
		{"a challenge is never redirected", Site{HTTPSRedirect: true}, 0,
			"GET /.well-known/acme-challenge/tok HTTP/1.1\r\nHost: example.com\r\n\r\n", 200, ""},
		{"an unknown challenge is not found", Site{HTTPSRedirect: true}, 0,
			"GET /.well-known/acme-challenge/other HTTP/1.1\r\nHost: example.com\r\n\r\n", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			site := tc.site
			site.Routes = static
			cfg := Config{Sites: []Site{site}, HTTPSPort: tc.httpsPort, Workers: 1,
				ACMEChallenge: func(host, path string) ([]byte, bool) {
					return []byte("key of " + host), path == "/.well-known/acme-challenge/tok"
				}}
			te := startEngine(t, cfg)
			rc := dial(t, te.addr)
			rc.send(tc.request)
			method, _, _ := strings.Cut(tc.request, " ")
			resp, body := rc.response(method)
			if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location {
				t.Fatalf("%d Location %q, want %d %q", resp.StatusCode, resp.Header.Get("Location"), tc.status, tc.location)
			}
			if strings.Contains(tc.name, "challenge is never") && body != "key of example.com" {
				t.Fatalf("challenge answered %q", body)
			}
			// The connection goes on (the bodies here are empty).
			rc.send("GET /a.txt HTTP/1.1\r\nHost: example.com\r\n\r\n")
			if resp, _ := rc.response("GET"); resp.StatusCode != 200 && resp.StatusCode != 301 {
				t.Fatalf("next request: %d", resp.StatusCode)
			}
		})
	}
}

// TestErrorResponses: error pages as HTML or, for API clients, JSON with
// the request ID; none with a body after HEAD; a refusal with a body to
// read closes the connection; a kept-alive HTTP/1.0 connection says so.
func TestErrorResponses(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	be := startBackend(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("app"))
	}))
	cfg := proxySite("unix:" + filepath.Join(t.TempDir(), "nobody.sock"))
	cfg.Upstreams = append(cfg.Upstreams, Upstream{Name: "live", Servers: []UpstreamServer{{Addr: be.addr}}})
	cfg.Sites = []Site{{Hosts: []string{"x"}, Routes: []Route{
		{Prefix: "/static/", Static: &Static{Root: root}},
		{Prefix: "/live/", Upstream: "live"},
		{Prefix: "/", Upstream: "app"},
	}}}
	cfg.Workers = 1
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)

	// HEAD of a missing file: the head of a 404, no body (else the next
	// response would not parse).
	rc.send("HEAD /static/missing HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := rc.response("HEAD"); resp.StatusCode != 404 || body != "" || resp.ContentLength <= 0 {
		t.Fatalf("HEAD of a missing file: %d length %d body %q", resp.StatusCode, resp.ContentLength, body)
	}
	rc.send("GET /static/missing HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := rc.response("GET")
	if resp.StatusCode != 404 || !strings.Contains(body, "404 Not Found") || resp.Header.Get("Cache-Control") != "no-store" ||
		resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || resp.Close {
		t.Fatalf("GET of a missing file: %d %v %q", resp.StatusCode, resp.Header, body)
	}

	// The application is down: JSON for a client that asks for JSON only.
	for _, c := range []struct {
		accept string
		json   bool
	}{
		{"application/json", true},
		{"application/json, text/plain", true},
		{"application/json, text/html", false},
		{"text/html", false},
		{"", false},
	} {
		req := "GET /api HTTP/1.1\r\nHost: x\r\n"
		if c.accept != "" {
			req += "Accept: " + c.accept + "\r\n"
		}
		rc.send(req + "\r\n")
		resp, body := rc.response("GET")
		if resp.StatusCode != 502 && resp.StatusCode != 503 {
			t.Fatalf("Accept %q: %d", c.accept, resp.StatusCode)
		}
		isJSON := resp.Header.Get("Content-Type") == "application/json"
		if isJSON != c.json {
			t.Errorf("Accept %q: Content-Type %q", c.accept, resp.Header.Get("Content-Type"))
			continue
		}
		if !isJSON {
			continue
		}
		var j struct {
			Error     string `json:"error"`
			Status    int    `json:"status"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal([]byte(body), &j); err != nil || j.Status != resp.StatusCode || j.Error == "" || j.Message == "" {
			t.Errorf("JSON error %q: %+v %v", body, j, err)
		}
		if len(j.RequestID) != 32 || strings.Trim(j.RequestID, "0123456789abcdef") != "" {
			t.Errorf("JSON error names request %q, want the ID frontdoor gave it", j.RequestID)
		}
	}
	rc.send("HEAD /api HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n")
	if resp, body := rc.response("HEAD"); body != "" || resp.ContentLength <= 0 {
		t.Fatalf("HEAD with a JSON error: %d length %d body %q", resp.StatusCode, resp.ContentLength, body)
	}
	rc.send("GET /live/ HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "app" {
		t.Fatalf("after the errors, on the same connection: %d %q", resp.StatusCode, body)
	}

	// An error for a request whose body was not read closes the connection.
	rc.send("POST /static/a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	if resp, _ := rc.response("POST"); resp.StatusCode != 405 || !resp.Close {
		t.Fatalf("POST to a file: %d close %v", resp.StatusCode, resp.Close)
	}
	if !rc.closed(2 * time.Second) {
		t.Fatal("connection kept after an unread body")
	}

	// HTTP/1.0 with keep-alive is told so, also on an error.
	rc = dial(t, te.addr)
	rc.send("GET /static/missing HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
	if resp, _ := rc.response("GET"); resp.StatusCode != 404 || resp.Header.Get("Connection") != "keep-alive" {
		t.Fatalf("HTTP/1.0 keep-alive: %d Connection %q", resp.StatusCode, resp.Header.Get("Connection"))
	}
	// An unknown host: 421; an internal route: 404.
	rc.send("GET / HTTP/1.0\r\nHost: other\r\nConnection: keep-alive\r\n\r\n")
	if resp, _ := rc.response("GET"); resp.StatusCode != 421 {
		t.Fatalf("unknown host: %d", resp.StatusCode)
	}
}

// TestNoSiteConfigured: an engine without sites answers every request
// with the page that says how to configure one.
func TestNoSiteConfigured(t *testing.T) {
	te := startEngine(t, Config{})
	rc := dial(t, te.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := rc.response("GET")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "60" || !strings.Contains(body, "frontdoor init") || resp.Close {
		t.Fatalf("%d %v %q", resp.StatusCode, resp.Header, body)
	}
	rc.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	if resp, _ := rc.response("POST"); resp.StatusCode != 503 || !resp.Close {
		t.Fatalf("with a body: %d close %v", resp.StatusCode, resp.Close)
	}
}
