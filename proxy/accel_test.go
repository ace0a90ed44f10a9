package proxy

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// TestAccelConfinement has the application answer with X-Sendfile (a
// file system path) or X-Accel-Redirect (a URL path) and checks what the
// engine serves instead of the application's body: only files inside a
// static route's directory, confined as a static request is (no "..",
// no symlink out), file names taken literally ("%" is not an escape in a
// file system path), the application's Content-Type and
// Content-Disposition kept.
func TestAccelConfinement(t *testing.T) {
	base := t.TempDir()
	prot := filepath.Join(base, "prot")
	for name, content := range map[string]string{
		"prot/a.txt":     "alpha",
		"prot/sub/b.txt": "bravo",
		"prot/100%.txt":  "percent",
		"prot/a%41.txt":  "literal", // not "aA.txt", which %41 decodes to
		"prot/aA.txt":    "decoded",
		"prot2/c.txt":    "sibling", // same prefix as prot, no route
		"pub/p.txt":      "public",
		"secret.txt":     "secret",
	} {
		writeFile(t, filepath.Join(base, name), content)
	}
	for link, to := range map[string]string{
		"prot/link-in.txt":  "sub/b.txt",
		"prot/link-out.txt": filepath.Join(base, "secret.txt"),
		"prot/updir":        base,
	} {
		if err := os.Symlink(to, filepath.Join(base, link)); err != nil {
			t.Fatal(err)
		}
	}
	be := startBackend(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-test")
		w.Header().Set("Content-Disposition", `attachment; filename="x"`)
		w.Header().Set("X-Private", "from the app")
		if r.URL.Path == "/accel" {
			w.Header().Set("X-Accel-Redirect", r.Header.Get("X-Target"))
		} else {
			w.Header().Set("X-Sendfile", r.Header.Get("X-Target"))
		}
		w.Write([]byte("the application's own body"))
	}))
	for _, rootSpelling := range []string{"clean", "trailing slash", "unclean"} {
		t.Run(rootSpelling, func(t *testing.T) {
			root := prot
			switch rootSpelling {
			case "trailing slash":
				root += "/"
			case "unclean":
				root = filepath.Dir(prot) + "/./" + filepath.Base(prot) + "//"
			}
			cfg := proxySite(be.addr)
			cfg.Sites[0].Routes = []Route{
				{Prefix: "/protected/", Static: &Static{Root: root, Internal: true}},
				{Prefix: "/pub/", Static: &Static{Root: filepath.Join(base, "pub")}},
				{Prefix: "/", Upstream: "app"},
			}
			te := startEngine(t, cfg)
			for _, tc := range []struct {
				how, target string
				status      int
				body        string
			}{
				{"sendfile", prot + "/a.txt", 200, "alpha"},
				{"sendfile", prot + "/sub/b.txt", 200, "bravo"},
				{"sendfile", prot + "//sub/./b.txt", 200, "bravo"},
				{"sendfile", prot + "/100%.txt", 200, "percent"},
				{"sendfile", prot + "/a%41.txt", 200, "literal"},
				{"sendfile", prot + "/link-in.txt", 200, "bravo"},   // a symlink that stays inside
				{"sendfile", base + "/pub/p.txt", 200, "public"},    // any static route's directory
				{"sendfile", prot + "/link-out.txt", 404, ""},       // absolute symlink out
				{"sendfile", prot + "/updir/secret.txt", 404, ""},   // directory symlink out
				{"sendfile", prot + "/missing.txt", 404, ""},        //
				{"sendfile", prot + "/sub", 404, ""},                // a directory is no file
				{"sendfile", prot + "/", 404, ""},                   // the root itself
				{"sendfile", prot + "/../secret.txt", 502, ""},      // ".." is refused
				{"sendfile", prot + "/sub/../a.txt", 502, ""},       // even when it stays inside
				{"sendfile", prot + "/%2e%2e/secret.txt", 404, ""},  // a file named "%2e%2e", not ".."
				{"sendfile", base + "/secret.txt", 502, ""},         // outside every route
				{"sendfile", base + "/prot2/c.txt", 502, ""},        // shares the root's prefix only
				{"sendfile", prot, 502, ""},                         //
				{"sendfile", "/etc/passwd", 502, ""},                //
				{"sendfile", "prot/a.txt", 502, ""},                 // relative
				{"accel", "/protected/a.txt", 200, "alpha"},         //
				{"accel", "/protected/sub/b.txt?x=1", 200, "bravo"}, // the query is dropped
				{"accel", "/protected/a%2541.txt", 200, "literal"},  // a URL path: escapes decode
				{"accel", "/protected/a%41.txt", 200, "decoded"},    //
				{"accel", "/protected/../secret.txt", 502, ""},      //
				{"accel", "/protected/link-out.txt", 404, ""},       //
				{"accel", "/pub/p.txt", 200, "public"},              //
				{"accel", "/elsewhere/a.txt", 502, ""},              // no static route
				{"accel", prot + "/a.txt", 502, ""},                 // a file path is no URL
			} {
				path := "/sendfile"
				if tc.how == "accel" {
					path = "/accel"
				}
				rc := dial(t, te.addr)
				rc.send("GET " + path + " HTTP/1.1\r\nHost: x\r\nX-Target: " + tc.target + "\r\n\r\n")
				resp, body := rc.response("GET")
				if resp.StatusCode != tc.status || (tc.status == 200 && body != tc.body) {
					t.Errorf("%s %q: %d %q, want %d %q", tc.how, tc.target, resp.StatusCode, clip([]byte(body), 40), tc.status, tc.body)
					continue
				}
				if tc.status != 200 {
					continue
				}
				if ct, cd := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"); ct != "application/x-test" || cd != `attachment; filename="x"` {
					t.Errorf("%s %q: Content-Type %q, Content-Disposition %q: the application's lost", tc.how, tc.target, ct, cd)
				}
				if v := resp.Header.Get("X-Private"); v != "" {
					t.Errorf("%s %q: the application's other fields came along (X-Private: %q)", tc.how, tc.target, v)
				}
			}
		})
	}
}

// TestAccelReleasesTheApplication: after an X-Sendfile answer the
// application's connection goes back to the pool when nothing of its own
// body is left to read (a body that came whole with the head), and is
// closed when some may still come (a chunked body, or a response that has
// no body by definition, like 204: a body may come anyway, see
// startResponse), so that its rest is never read as the next response.
func TestAccelReleasesTheApplication(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	be := startBackend(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Sendfile", filepath.Join(root, "a.txt"))
		switch r.URL.Path {
		case "/whole":
			w.Write([]byte("the application's own body"))
		case "/chunked":
			w.Write([]byte("part"))
			w.(http.Flusher).Flush() // no length: chunked
			w.Write([]byte(" and more"))
		case "/none":
			w.WriteHeader(204)
		}
	}))
	cfg := proxySite(be.addr)
	cfg.Workers = 1
	cfg.Sites[0].Routes = append(cfg.Sites[0].Routes, Route{Prefix: "/files/", Static: &Static{Root: root, Internal: true}})
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	for _, c := range []struct {
		path   string
		reused bool
	}{
		{"/whole", true}, {"/none", false}, {"/chunked", false},
	} {
		before := be.conns.Load()
		for i := range 3 {
			rc.send("GET " + c.path + " HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "alpha" {
				t.Fatalf("%s, request %d: %d %q", c.path, i, resp.StatusCode, body)
			}
		}
		opened := be.conns.Load() - before
		if c.reused && opened > 1 {
			t.Errorf("%s: %d application connections for 3 requests, want one reused", c.path, opened)
		}
		// The first may take the connection the case before left pooled.
		if !c.reused && opened < 2 {
			t.Errorf("%s: %d new application connections for 3 requests, want a fresh one after each", c.path, opened)
		}
	}
}

// TestAccelDotFiles: a file the application names is private by the same
// rule as a static request for it: a dot segment is refused (404) unless
// the route allows dot files, and ".well-known" is public only in a route
// at the URL's root — whichever way the application names the file.
func TestAccelDotFiles(t *testing.T) {
	base := t.TempDir()
	for _, dir := range []string{"prot", "open", "site"} {
		writeFile(t, filepath.Join(base, dir, ".well-known", "x.txt"), dir+" well-known")
		writeFile(t, filepath.Join(base, dir, ".env"), dir+" env")
	}
	be := startBackend(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/app/accel" {
			w.Header().Set("X-Accel-Redirect", r.Header.Get("X-Target"))
		} else {
			w.Header().Set("X-Sendfile", r.Header.Get("X-Target"))
		}
		w.Write([]byte("the application's own body"))
	}))
	cfg := proxySite(be.addr)
	cfg.Sites[0].Routes = []Route{
		{Prefix: "/protected/", Static: &Static{Root: filepath.Join(base, "prot"), Internal: true}},
		{Prefix: "/open/", Static: &Static{Root: filepath.Join(base, "open"), Internal: true, Dotfiles: true}},
		{Prefix: "/app/", Upstream: "app"},
		{Prefix: "/", Static: &Static{Root: filepath.Join(base, "site")}},
	}
	te := startEngine(t, cfg)
	for _, tc := range []struct {
		how, target string
		status      int
		body        string
	}{
		{"accel", "/protected/.env", 404, ""},
		{"accel", "/protected/.well-known/x.txt", 404, ""}, // not at the URL's root
		{"accel", "/open/.env", 200, "open env"},
		{"accel", "/open/.well-known/x.txt", 200, "open well-known"},
		{"accel", "/.well-known/x.txt", 200, "site well-known"},
		{"accel", "/.env", 404, ""},
		{"sendfile", base + "/prot/.env", 404, ""},
		{"sendfile", base + "/prot/.well-known/x.txt", 404, ""},
		{"sendfile", base + "/open/.well-known/x.txt", 200, "open well-known"},
		{"sendfile", base + "/site/.well-known/x.txt", 200, "site well-known"},
		{"sendfile", base + "/site/.env", 404, ""},
	} {
		path := "/app/sendfile"
		if tc.how == "accel" {
			path = "/app/accel"
		}
		rc := dial(t, te.addr)
		rc.send("GET " + path + " HTTP/1.1\r\nHost: x\r\nX-Target: " + tc.target + "\r\n\r\n")
		if resp, body := rc.response("GET"); resp.StatusCode != tc.status || (tc.status == 200 && body != tc.body) {
			t.Errorf("%s %q: %d %q, want %d %q", tc.how, tc.target, resp.StatusCode, clip([]byte(body), 40), tc.status, tc.body)
		}
	}
}
