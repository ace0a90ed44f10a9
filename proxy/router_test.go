package proxy

import (
	"os"
	"strings"
	"testing"
)

// testRouter compiles sites whose routes proxy to "app" (no directories
// to open) and closes the router when the test ends.
func testRouter(t *testing.T, sites []Site) *router {
	t.Helper()
	r, err := newRouter(sites)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.close)
	return r
}

func appRoutes(prefixes ...string) []Route {
	var rs []Route
	for _, p := range prefixes {
		rs = append(rs, Route{Prefix: p, Upstream: "app"})
	}
	return rs
}

// TestLookupSite: a Host value finds its site by exact name, then by the
// longest wildcard suffix, then the catch-all; case, a port and a final
// dot do not matter.
func TestLookupSite(t *testing.T) {
	r := testRouter(t, []Site{
		{Hosts: []string{"example.com", "AZ.Example.com."}, Routes: appRoutes("/")},
		{Hosts: []string{"*.example.org"}, Routes: appRoutes("/")},
		{Hosts: []string{"*.b.example.org"}, Routes: appRoutes("/")},
		{Hosts: []string{"[::1]"}, Routes: appRoutes("/")},
		{Routes: appRoutes("/")}, // the catch-all
	})
	exact, wild, deeper, v6, fallback := r.exact["example.com"], r.wildcard[1].site, r.wildcard[0].site, r.exact["[::1]"], r.fallback
	if wild.name != "*.example.org" || deeper.name != "*.b.example.org" {
		t.Fatalf("wildcards not longest first: %q, %q", r.wildcard[0].suffix, r.wildcard[1].suffix)
	}
	scratch := make([]byte, 256)
	for _, c := range []struct {
		host string
		want *site
	}{
		{"example.com", exact},
		{"EXAMPLE.COM", exact},
		{"example.com.", exact},
		{"example.com:8080", exact},
		{"Example.Com.:443", exact},
		{"az.example.com", exact},
		{"AZ.EXAMPLE.COM", exact},
		{"a.example.org", wild},
		{"A.C.B.EXAMPLE.ORG", deeper},
		{"b.example.org", wild},
		{"a.b.example.org", deeper},
		{"example.org", fallback},
		{".example.org", fallback}, // the suffix alone is no name under it
		{"xexample.org", fallback},
		{"[::1]", v6},
		{"[::1]:8443", v6},
		{"[::1", fallback},
		{"", fallback},
		{":80", fallback},
		{".", fallback},
		{"other.example", fallback},
		{strings.Repeat("a", 257), fallback},
		{strings.Repeat("a", 244) + ".example.org", wild},     // 256 bytes: as long as scratch
		{strings.Repeat("a", 245) + ".example.org", fallback}, // 257 bytes: longer than scratch, never matched by name
	} {
		got := r.lookupSite([]byte(c.host), scratch)
		if got != c.want {
			t.Errorf("lookupSite(%.40q) = %q, want %q", c.host, siteName(got), siteName(c.want))
		}
	}
	// Without a catch-all, an unknown name finds nothing.
	r2 := testRouter(t, []Site{{Hosts: []string{"example.com"}, Routes: appRoutes("/")}})
	if got := r2.lookupSite([]byte("other.example"), scratch); got != nil {
		t.Errorf("no catch-all: lookupSite found %q", got.name)
	}
	// "*" is a catch-all too.
	r3 := testRouter(t, []Site{{Hosts: []string{"*"}, Routes: appRoutes("/")}})
	if got := r3.lookupSite([]byte("anything"), scratch); got == nil {
		t.Error(`host "*" does not catch all`)
	}
}

func siteName(s *site) string {
	if s == nil {
		return "<none>"
	}
	return s.name
}

// TestRouteMatch: the longest prefix wins, and a prefix matches whole path
// segments only.
func TestRouteMatch(t *testing.T) {
	r := testRouter(t, []Site{{Routes: appRoutes("/", "/static", "/static/admin/", "/media/")}})
	s := r.fallback
	for _, c := range []struct{ path, want string }{
		{"/", "/"},
		{"/index.html", "/"},
		{"/static", "/static"},
		{"/static/", "/static"},
		{"/static/app.css", "/static"},
		{"/staticfiles/app.css", "/"},
		{"/static/admin/", "/static/admin/"},
		{"/static/admin/x.css", "/static/admin/"},
		{"/static/admin", "/static"}, // "/static/admin/" needs its slash
		{"/media/", "/media/"},
		{"/media", "/"},
		{"/mediax", "/"},
	} {
		rt := s.match([]byte(c.path))
		if rt == nil || rt.prefix != c.want {
			got := "<none>"
			if rt != nil {
				got = rt.prefix
			}
			t.Errorf("match(%q) = %q, want %q", c.path, got, c.want)
		}
	}
	r2 := testRouter(t, []Site{{Routes: appRoutes("/api/")}})
	if rt := r2.fallback.match([]byte("/other")); rt != nil {
		t.Errorf("a path under no prefix matched %q", rt.prefix)
	}
}

// TestRouterRefusesBadSites: a directory that cannot be opened is refused
// with an error that names the site, the route and the directory. (The
// rules of a Config, checked before the router is built, are
// TestValidateNamesTheFieldAtFault's.)
func TestRouterRefusesBadSites(t *testing.T) {
	root := t.TempDir()
	missing := []Site{{Hosts: []string{"a"}, Routes: []Route{
		{Prefix: "/", Upstream: "app"},
		{Prefix: "/static/", Static: &Static{Root: root + "/missing"}},
	}}}
	r, err := newRouter(missing)
	if err == nil {
		r.close()
		t.Fatal("a missing static root was accepted")
	}
	for _, want := range []string{"site 0 (a)", `route 1 ("/static/")`, "static root " + root + "/missing"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v, want it to say %q", err, want)
		}
	}
	for _, www := range []string{"", "to_apex", "to_www"} {
		testRouter(t, []Site{{Hosts: []string{"a"}, RedirectWWW: www, Routes: appRoutes("/")}})
	}
}

func TestHostWithoutPort(t *testing.T) {
	for in, want := range map[string]string{
		"a":            "a",
		"a:80":         "a",
		"a.b:8080":     "a.b",
		"[::1]":        "[::1]",
		"[::1]:443":    "[::1]",
		"[fe80::1:2]:": "[fe80::1:2]",
		"[::1":         "[::1",
		"":             "",
		":80":          "",
	} {
		if got := string(hostWithoutPort([]byte(in))); got != want {
			t.Errorf("hostWithoutPort(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRouterCloseReleasesDirectories: closing a router closes the
// directory of every static route, once: closing it again closes nothing
// else.
func TestRouterCloseReleasesDirectories(t *testing.T) {
	roots := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	before := fdCount(t)
	r, err := newRouter([]Site{{Routes: []Route{
		{Prefix: "/a/", Static: &Static{Root: roots[0]}},
		{Prefix: "/b/", Static: &Static{Root: roots[1]}},
		{Prefix: "/app/", Upstream: "app"},
		{Prefix: "/", Static: &Static{Root: roots[2]}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if n := fdCount(t) - before; n != 3 {
		t.Fatalf("%d descriptors for three static roots", n)
	}
	r.close()
	if n := fdCount(t); n != before {
		t.Fatalf("%d descriptors after close, %d before the router", n, before)
	}
	// A second close must close nothing: not a descriptor opened since
	// under a number a root had, not any other.
	f, err := os.Open(roots[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	open := fdCount(t)
	r.close()
	if n := fdCount(t); n != open {
		t.Fatalf("a second close closed %d descriptors", open-n)
	}
	if _, err := f.Stat(); err != nil {
		t.Fatalf("a second close closed a descriptor that was not the router's: %v", err)
	}
}
