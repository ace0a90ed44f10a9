package proxy

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"frontdoor/proxy/static"
)

// TestCompressionBrotliRangeRouteAndVary: brotli for a client that
// accepts it and not zstd; nothing for a Range request or on a route that
// turns compression off; the application's own Vary kept, with
// Accept-Encoding added once.
func TestCompressionBrotliRangeRouteAndVary(t *testing.T) {
	text := strings.Repeat("<p>The quick brown fox jumps over the lazy dog.</p>\n", 400)
	be := startBackend(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/cookie":
			w.Header().Set("Vary", "Cookie")
		case "/gzipmiddleware":
			w.Header().Set("Vary", "Accept-Encoding, Cookie")
		}
		io.WriteString(w, text)
	}))
	cfg := proxySite(be.addr)
	cfg.Sites[0].Routes = append(cfg.Sites[0].Routes, Route{Prefix: "/raw/", Upstream: "app", NoCompress: true})
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	for _, tc := range []struct {
		path, headers, encoding string
		vary                    []string
	}{
		{"/page", "Accept-Encoding: gzip, br\r\n", "br", []string{"Accept-Encoding"}},
		{"/page", "Accept-Encoding: gzip, br, zstd\r\n", "zstd", []string{"Accept-Encoding"}},
		{"/page", "Accept-Encoding: gzip, br\r\nRange: bytes=0-99\r\n", "", nil},
		{"/raw/page", "Accept-Encoding: gzip, br, zstd\r\n", "", nil},
		{"/cookie", "Accept-Encoding: br\r\n", "br", []string{"Cookie", "Accept-Encoding"}},
		{"/gzipmiddleware", "Accept-Encoding: br\r\n", "br", []string{"Accept-Encoding, Cookie"}},
	} {
		rc.send("GET " + tc.path + " HTTP/1.1\r\nHost: x\r\n" + tc.headers + "\r\n")
		resp, body := rc.response("GET")
		if got := resp.Header.Get("Content-Encoding"); got != tc.encoding {
			t.Errorf("%s %q: Content-Encoding %q, want %q", tc.path, tc.headers, got, tc.encoding)
			continue
		}
		if got := resp.Header.Values("Vary"); fmt.Sprint(got) != fmt.Sprint(tc.vary) {
			t.Errorf("%s %q: Vary %q, want %q", tc.path, tc.headers, got, tc.vary)
		}
		var plain []byte
		switch tc.encoding {
		case "br":
			plain, _ = io.ReadAll(brotli.NewReader(strings.NewReader(body)))
		case "zstd":
			zr, _ := zstd.NewReader(strings.NewReader(body))
			plain, _ = io.ReadAll(zr)
			zr.Close()
		default:
			plain = []byte(body)
		}
		if tc.encoding != "" && (string(plain) != text || len(body) > len(text)/5) {
			t.Errorf("%s: %d bytes that decode to %d, want %d", tc.path, len(body), len(plain), len(text))
		}
	}
}

// TestStaticVariantsOutsideTheRoot: a root frontdoor may not write (a
// package's) gets its precompressed siblings from the variant directory,
// zstd between brotli and gzip; a variant made from another version of
// the file (its modification time differs) is never served.
func TestStaticVariantsOutsideTheRoot(t *testing.T) {
	root, variants := t.TempDir(), t.TempDir()
	plain := strings.Repeat("var ext = {};\n", 200)
	writeFile(t, filepath.Join(root, "js", "ext-all.js"), plain)
	writeFile(t, filepath.Join(root, "js", "old.js"), plain)
	mtime := time.Date(2021, 4, 19, 0, 0, 0, 0, time.UTC)
	for _, f := range []string{"ext-all.js", "old.js"} {
		os.Chtimes(filepath.Join(root, "js", f), mtime, mtime)
		for _, ext := range []string{".br", ".zst", ".gz"} {
			p := filepath.Join(variants, "js", f+ext)
			writeFile(t, p, "VARIANT"+ext)
			stamp := mtime
			if f == "old.js" {
				stamp = mtime.Add(-time.Hour) // made from an older version
			}
			os.Chtimes(p, stamp, stamp)
		}
	}
	cfg := staticSite(root)
	cfg.Sites[0].Routes[0].Static.VariantRoot = variants
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	for _, tc := range []struct{ path, ae, encoding, body string }{
		{"/js/ext-all.js", "gzip, deflate, br, zstd", "br", "VARIANT.br"},
		{"/js/ext-all.js", "gzip, zstd", "zstd", "VARIANT.zst"},
		{"/js/ext-all.js", "gzip", "gzip", "VARIANT.gz"},
		{"/js/ext-all.js", "", "", plain},
		{"/js/old.js", "gzip, br, zstd", "", plain},
	} {
		extra := ""
		if tc.ae != "" {
			extra = "Accept-Encoding: " + tc.ae + "\r\n"
		}
		rc.send("GET " + tc.path + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n")
		resp, body := rc.response("GET")
		if resp.Header.Get("Content-Encoding") != tc.encoding || body != tc.body {
			t.Errorf("%s AE %q: encoding %q, body %q…", tc.path, tc.ae, resp.Header.Get("Content-Encoding"), body[:min(len(body), 12)])
		}
	}
}

// TestStaticCachingFromTheManifest: with Django's staticfiles.json at the
// root, exactly the hashed names it lists are cached for a year; every
// other file (the unhashed originals, a name that only looks hashed) gets
// a short max-age and revalidates with its ETag; a new manifest (the next
// release) is picked up; without one the hashed-name rule stays.
func TestStaticCachingFromTheManifest(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"admin/css/base.css", "admin/css/base.5af66c1b1797.css", "vendor/lib.0123456789ab.js", "robots.txt"} {
		writeFile(t, filepath.Join(root, f), "x{}\n")
	}
	cfg := staticSite(root)
	cfg.FileCache.Valid = 50 * time.Millisecond
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	cacheControl := func(path string) string {
		rc.send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, _ := rc.response("GET")
		if resp.StatusCode != 200 || resp.Header.Get("ETag") == "" {
			t.Fatalf("%s: %d, ETag %q", path, resp.StatusCode, resp.Header.Get("ETag"))
		}
		return resp.Header.Get("Cache-Control")
	}
	const year = "public, max-age=31536000, immutable"
	// No manifest: names that look hashed are immutable.
	if got := cacheControl("/vendor/lib.0123456789ab.js"); got != year {
		t.Errorf("without a manifest, a hashed-looking name: %q", got)
	}
	if got := cacheControl("/robots.txt"); got != "" {
		t.Errorf("without a manifest, robots.txt: %q", got)
	}
	writeFile(t, filepath.Join(root, "staticfiles.json"),
		`{"paths": {"admin/css/base.css": "admin/css/base.5af66c1b1797.css"}, "version": "1.0"}`)
	deadline := time.Now().Add(10 * time.Second)
	for cacheControl("/robots.txt") != static.UnhashedCacheControl {
		if time.Now().After(deadline) {
			t.Fatal("the new manifest was never picked up")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for path, want := range map[string]string{
		"/admin/css/base.5af66c1b1797.css": year,
		"/admin/css/base.css":              static.UnhashedCacheControl,
		"/vendor/lib.0123456789ab.js":      static.UnhashedCacheControl, // looks hashed, not listed
		"/robots.txt":                      static.UnhashedCacheControl,
	} {
		if got := cacheControl(path); got != want {
			t.Errorf("with the manifest, %s: Cache-Control %q, want %q", path, got, want)
		}
	}
	// Revalidation: the ETag answers 304.
	rc.send("GET /admin/css/base.css HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, _ := rc.response("GET")
	rc.send("GET /admin/css/base.css HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + resp.Header.Get("ETag") + "\r\n\r\n")
	if resp, _ := rc.response("GET"); resp.StatusCode != 304 {
		t.Errorf("If-None-Match: %d, want 304", resp.StatusCode)
	}
}
