package proxy

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"frontdoor/internal/desynctest"
)

// TestMutationsThroughEngine sends every case of frontdoor's own smuggling
// table (internal/desynctest.Mutations, also run against the parser alone
// in proxy/http1) through the running engine to rawOrigin, with the
// client's next request behind it, and checks the answer, whether the
// connection closes, what the origin received, and what became of the
// bytes behind the request.
func TestMutationsThroughEngine(t *testing.T) {
	ms := desynctest.Mutations()
	o := startRawOrigin(t)
	o.checkClosedClean(t)
	cfg := proxySite(o.addr)
	cfg.Limits.MaxBodyBytes = desynctest.MutationMaxBody
	te := startEngine(t, cfg)
	groups := map[string]int{}
	for _, m := range ms {
		t.Run(m.Group+"/"+m.Name, func(t *testing.T) {
			defer func() {
				if !t.Failed() {
					groups[m.Group]++
				}
			}()
			method, _, _ := strings.Cut(strings.TrimLeft(m.Raw, "\r\n"), " ")
			mark := o.mark()
			resps, closed := exchangeRaw(t, te.addr, []byte(m.Raw+desynctest.FollowUp), method, 3*time.Second)
			reqs, problems, pending := o.since(mark)
			checkOriginSide(t, reqs, problems, pending, resps)
			if len(resps) == 0 {
				t.Fatalf("no answer (closed=%v)", closed)
			}
			first := resps[0]
			if m.Status == 200 {
				if first.Seq == 0 || first.Status != 200 {
					t.Fatalf("not served by the origin: %d %q", first.Status, clip([]byte(first.Body), 120))
				}
				if got := string(reqs[0].Body); got != m.Body {
					t.Fatalf("origin got body %q, want %q", clip([]byte(got), 80), m.Body)
				}
			} else if first.Seq != 0 || first.Status != m.Status {
				t.Fatalf("answer %d (from the origin: %v), want %d from frontdoor", first.Status, first.Seq != 0, m.Status)
			}
			if m.Close {
				if !closed || len(resps) != 1 || !first.Close {
					t.Fatalf("the connection must close after the answer: closed=%v answers=%d Connection: close=%v", closed, len(resps), first.Close)
				}
				if len(first.Trailing) > 0 && !(method == "HEAD" && strings.HasPrefix(string(first.Trailing), "<!doctype html>")) {
					t.Fatalf("bytes after the answer: %q", clip(first.Trailing, 200))
				}
				return
			}
			if len(resps) != 2 || !closed {
				t.Fatalf("want two answers and the close the follow-up asks for, got %d (closed=%v): %+v", len(resps), closed, resps)
			}
			second := resps[1]
			switch {
			case m.Then == 0 && (second.Seq == 0 || reqs[len(reqs)-1].Target != "/next"):
				t.Fatalf("the follow-up request was not served on its own: %d from origin request %d", second.Status, second.Seq)
			case m.Then != 0 && (second.Seq != 0 || second.Status != m.Then):
				t.Fatalf("the bytes behind the request: answer %d (from the origin: %v), want %d", second.Status, second.Seq != 0, m.Then)
			}
		})
	}
	t.Logf("%d mutation cases through the engine, by group: %v", len(ms), groups)
}

// TestUnreadBodiesNeverBecomeRequests covers every way the engine answers
// a request without reading its body (errors, redirects, challenges, static
// files, limits): the body, here a complete request of its own, must be
// dropped with the connection, never read as the client's next request.
func TestUnreadBodiesNeverBecomeRequests(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	o := startRawOrigin(t)
	static := Route{Prefix: "/static/", Static: &Static{Root: root}}
	internal := Route{Prefix: "/internal/", Static: &Static{Root: root, Internal: true}}
	proxied := Route{Prefix: "/", Upstream: "app"}
	up := []Upstream{{Name: "app", Servers: []UpstreamServer{{Addr: o.addr}}}}
	sites := []Site{
		{Hosts: []string{"a"}, Routes: []Route{static, internal, proxied}},
		{Hosts: []string{"www.b"}, RedirectWWW: "to_apex", Routes: []Route{proxied}},
		{Hosts: []string{"c"}, HTTPSRedirect: true, Routes: []Route{proxied}},
	}
	challenge := func(host, path string) ([]byte, bool) { return []byte("token"), true }
	configs := map[string]Config{
		"sites":        {Upstreams: up, Sites: sites, ACMEChallenge: challenge},
		"unconfigured": {},
		"rate limited": {Upstreams: up, Sites: sites, Limits: Limits{Clients: ClientLimits{RequestsPerSecond: 1, Burst: 1}}},
	}
	engines := map[string]*testEngine{}
	for name, cfg := range configs {
		engines[name] = startEngine(t, cfg)
	}
	inner := "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
	tests := []struct {
		name, engine, method, target, host string
		want                               int
	}{
		{"static file, POST", "sites", "POST", "/static/a.txt", "a", 405},
		{"static file, OPTIONS", "sites", "OPTIONS", "/static/a.txt", "a", 405},
		{"internal route", "sites", "POST", "/internal/a.txt", "a", 404},
		{"unknown host", "sites", "POST", "/", "nowhere", 421},
		{"www redirect", "sites", "POST", "/", "www.b", 308},
		{"https redirect", "sites", "POST", "/", "c", 308},
		{"ACME challenge", "sites", "POST", "/.well-known/acme-challenge/x", "a", 200},
		{"no site configured", "unconfigured", "POST", "/", "a", 503},
		{"rate limited", "rate limited", "POST", "/", "a", 429},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			te := engines[tc.engine]
			raw := tc.method + " " + tc.target + " HTTP/1.1\r\nHost: " + tc.host + "\r\nContent-Length: " +
				strconv.Itoa(len(inner)) + "\r\n\r\n" + inner
			if tc.engine == "rate limited" {
				// Spend the burst on a request of its own first.
				exchangeRaw(t, te.addr, []byte("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), "GET", 3*time.Second)
			}
			mark := o.mark()
			resps, closed := exchangeRaw(t, te.addr, []byte(raw), tc.method, time.Second)
			reqs, problems, pending := o.since(mark)
			checkOriginSide(t, reqs, problems, pending, resps)
			if len(resps) != 1 || resps[0].Status != tc.want {
				t.Fatalf("answers %+v, want one %d", resps, tc.want)
			}
			if !closed || !resps[0].Close {
				t.Fatalf("the body was not read, yet the connection stays open (closed=%v, Connection: close=%v)", closed, resps[0].Close)
			}
		})
	}
}
