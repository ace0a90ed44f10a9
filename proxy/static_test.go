package proxy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestStaticConfinement(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	writeFile(t, filepath.Join(base, "secret.txt"), "SECRET")
	writeFile(t, filepath.Join(root, "ok.txt"), "fine")
	writeFile(t, filepath.Join(root, "dir", "in.txt"), "inside")
	if err := os.Symlink(filepath.Join(base, "secret.txt"), filepath.Join(root, "escape.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../secret.txt", filepath.Join(root, "rel-escape.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(base, filepath.Join(root, "updir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("dir/in.txt", filepath.Join(root, "inner-link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/proc/self/root/etc/passwd", filepath.Join(root, "magic.txt")); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"dir/up-in.txt": "../ok.txt",                        // climbs, but stays inside
		"linkdir":       "dir",                              // a directory link inside
		"dir/deep-out":  "../../secret.txt",                 // climbs out from below
		"abs-in.txt":    filepath.Join(root, "ok.txt"),      // absolute, even to inside: refused like RESOLVE_BENEATH
		"loop-a":        "loop-b",                           // a loop
		"loop-b":        "loop-a",                           //
		"dir/fd-link":   "/proc/self/fd/0",                  // a magic link
		"chain.txt":     "linkdir/../dir/../inner-link.txt", // links through links, inside
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	te := startEngine(t, staticSite(root))
	tests := []struct {
		path string
		want int
		body string
	}{
		{"/ok.txt", 200, "fine"},
		{"/dir/in.txt", 200, "inside"},
		{"/dir/./in.txt", 200, "inside"},
		{"//dir//in.txt", 200, "inside"},
		{"/%64ir/in.txt", 200, "inside"},
		{"/inner-link.txt", 200, "inside"}, // a symlink that stays inside is fine
		{"/../secret.txt", 400, ""},
		{"/dir/../../secret.txt", 400, ""},
		{"/%2e%2e/secret.txt", 400, ""},
		{"/%2E%2E/secret.txt", 400, ""},
		{"/dir/%2e%2e/%2e%2e/secret.txt", 400, ""},
		{"/..%2fsecret.txt", 400, ""},
		{"/dir%2fin.txt", 400, ""},
		{"/dir%5cin.txt", 400, ""},
		{"/ok.txt%00.png", 400, ""},
		{"/escape.txt", 404, ""},     // absolute symlink out of the root
		{"/rel-escape.txt", 404, ""}, // relative symlink out of the root
		{"/updir/secret.txt", 404, ""},
		{"/magic.txt", 404, ""},
		{"/dir/up-in.txt", 200, "fine"},
		{"/linkdir/in.txt", 200, "inside"},
		{"/linkdir/", 404, ""}, // a directory without an index
		{"/linkdir", 301, ""},
		{"/chain.txt", 200, "inside"},
		{"/dir/deep-out", 404, ""},
		{"/abs-in.txt", 404, ""},
		{"/loop-a", 404, ""},
		{"/dir/fd-link", 404, ""},
		{"/fifo", 404, ""}, // opened without blocking, and not served
		{"/missing.txt", 404, ""},
		{"/ok.txt/", 404, ""},
	}
	for _, tc := range tests {
		rc := dial(t, te.addr)
		rc.send("GET " + tc.path + " HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := rc.response("GET")
		if resp.StatusCode != tc.want || (tc.want == 200 && body != tc.body) {
			t.Errorf("%s: %d %q, want %d %q", tc.path, resp.StatusCode, body, tc.want, tc.body)
		}
		if strings.Contains(body, "SECRET") {
			t.Errorf("%s leaked the secret", tc.path)
		}
	}
}

func TestStaticDirectories(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "index.html"), "home")
	writeFile(t, filepath.Join(root, "docs", "index.html"), "docs")
	writeFile(t, filepath.Join(root, "noindex", "a.txt"), "a")
	writeFile(t, filepath.Join(root, "d", "index.html"), "one-letter directory")
	writeFile(t, filepath.Join(root, ".well-known", "index.html"), "well-known")
	te := startEngine(t, staticSite(root))
	for _, tc := range []struct {
		path     string
		want     int
		body     string
		location string
	}{
		{"/", 200, "home", ""},
		{"/docs/", 200, "docs", ""},
		{"/docs", 301, "", "/docs/"},
		{"/docs?x=1", 301, "", "/docs/?x=1"},
		{"/noindex/", 404, "", ""}, // no listings
		{"/d/", 200, "one-letter directory", ""},
		{"/docs/index.html/", 404, "", ""}, // a file named as a directory
		{"/docs/./", 200, "docs", ""},
		{"/.well-known/", 200, "well-known", ""},
	} {
		rc := dial(t, te.addr)
		rc.send("GET " + tc.path + " HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := rc.response("GET")
		if resp.StatusCode != tc.want || (tc.want == 200 && body != tc.body) || resp.Header.Get("Location") != tc.location {
			t.Errorf("%s: %d %q Location %q", tc.path, resp.StatusCode, body, resp.Header.Get("Location"))
		}
	}
}

func TestStaticHeadersAndConditionals(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "css", "site.0123456789ab.css"), "body{}")
	writeFile(t, filepath.Join(root, "css", "site.css"), "body{}")
	writeFile(t, filepath.Join(root, "app.js"), "1")
	writeFile(t, filepath.Join(root, "unknown.zzz"), "?")
	cfg := staticSite(root)
	cfg.Sites[0].Routes[0].Static.CacheControl = "public, max-age=60"
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)

	get := func(path, extra string) (int, map[string]string, string) {
		rc.send("GET " + path + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n")
		resp, body := rc.response("GET")
		h := map[string]string{}
		for k := range resp.Header {
			h[k] = resp.Header.Get(k)
		}
		return resp.StatusCode, h, body
	}
	_, h, _ := get("/css/site.0123456789ab.css", "")
	if h["Cache-Control"] != "public, max-age=31536000, immutable" || h["Content-Type"] != "text/css; charset=utf-8" {
		t.Errorf("hashed name headers: %v", h)
	}
	_, h, _ = get("/css/site.css", "")
	if h["Cache-Control"] != "public, max-age=60" {
		t.Errorf("plain name Cache-Control %q", h["Cache-Control"])
	}
	if _, h, _ = get("/app.js", ""); h["Content-Type"] != "text/javascript; charset=utf-8" {
		t.Errorf("js type %q", h["Content-Type"])
	}
	if _, h, _ = get("/unknown.zzz", ""); h["Content-Type"] != "application/octet-stream" || h["X-Content-Type-Options"] != "nosniff" {
		t.Errorf("unknown type %v", h)
	}
	status, h, _ := get("/css/site.css", "")
	etag, lastMod := h["Etag"], h["Last-Modified"]
	if status != 200 || etag == "" || lastMod == "" {
		t.Fatalf("validators missing: %v", h)
	}
	for _, tc := range []struct {
		extra string
		want  int
	}{
		{"If-None-Match: " + etag + "\r\n", 304},
		{"If-None-Match: W/" + etag + "\r\n", 304},
		{"If-None-Match: \"other\", " + etag + "\r\n", 304},
		{"If-None-Match: *\r\n", 304},
		{"If-None-Match: \"other\"\r\n", 200},
		{"If-Modified-Since: " + lastMod + "\r\n", 304},
		{"If-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT\r\n", 200},
		{"If-Modified-Since: garbage\r\n", 200},
		// If-None-Match takes precedence over If-Modified-Since.
		{"If-None-Match: \"other\"\r\nIf-Modified-Since: " + lastMod + "\r\n", 200},
	} {
		status, h, body := get("/css/site.css", tc.extra)
		if status != tc.want {
			t.Errorf("%q: %d, want %d", tc.extra, status, tc.want)
		}
		if status == 304 && (body != "" || h["Etag"] != etag) {
			t.Errorf("%q: 304 with body %q or ETag %q", tc.extra, body, h["Etag"])
		}
	}
}

func TestStaticRanges(t *testing.T) {
	root := t.TempDir()
	content := "0123456789abcdefghij" // 20 bytes, inline
	writeFile(t, filepath.Join(root, "small.txt"), content)
	big := bytes.Repeat([]byte("0123456789"), 10000) // 100 KB, sendfile
	writeFile(t, filepath.Join(root, "big.bin"), string(big))
	te := startEngine(t, staticSite(root))
	rc := dial(t, te.addr)
	for _, file := range []struct {
		path string
		data string
	}{{"/small.txt", content}, {"/big.bin", string(big)}} {
		size := len(file.data)
		for _, tc := range []struct {
			rng        string
			want       int
			start, end int // expected slice for 206
		}{
			{"bytes=0-4", 206, 0, 5},
			{"bytes=5-", 206, 5, size},
			{"bytes=-3", 206, size - 3, size},
			{fmt.Sprintf("bytes=3-%d", size+100), 206, 3, size},
			{fmt.Sprintf("bytes=%d-", size), 416, 0, 0},
			{"bytes=0-1,4-5", 200, 0, size}, // several ranges: whole file
			{"items=0-1", 200, 0, size},
			{"bytes=5-2", 200, 0, size},
		} {
			rc.send("GET " + file.path + " HTTP/1.1\r\nHost: x\r\nRange: " + tc.rng + "\r\n\r\n")
			resp, body := rc.response("GET")
			if resp.StatusCode != tc.want {
				t.Errorf("%s %s: %d, want %d", file.path, tc.rng, resp.StatusCode, tc.want)
				continue
			}
			switch tc.want {
			case 206:
				if body != file.data[tc.start:tc.end] {
					t.Errorf("%s %s: wrong bytes", file.path, tc.rng)
				}
				wantCR := fmt.Sprintf("bytes %d-%d/%d", tc.start, tc.end-1, size)
				if resp.Header.Get("Content-Range") != wantCR {
					t.Errorf("%s %s: Content-Range %q, want %q", file.path, tc.rng, resp.Header.Get("Content-Range"), wantCR)
				}
			case 416:
				if resp.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", size) {
					t.Errorf("416 Content-Range %q", resp.Header.Get("Content-Range"))
				}
			case 200:
				if body != file.data {
					t.Errorf("%s %s: full body wrong", file.path, tc.rng)
				}
			}
		}
		// If-Range with a stale validator: the whole file.
		rc.send("GET " + file.path + " HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\nIf-Range: \"stale\"\r\n\r\n")
		if resp, _ := rc.response("GET"); resp.StatusCode != 200 {
			t.Errorf("If-Range stale: %d, want 200", resp.StatusCode)
		}
	}
}

func TestStaticPrecompressed(t *testing.T) {
	root := t.TempDir()
	plain := strings.Repeat("body { color: red }\n", 100)
	writeFile(t, filepath.Join(root, "a.css"), plain)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(plain))
	zw.Close()
	writeFile(t, filepath.Join(root, "a.css.gz"), gz.String())
	writeFile(t, filepath.Join(root, "a.css.br"), "BROTLI-BYTES")
	writeFile(t, filepath.Join(root, "only.css"), plain)
	te := startEngine(t, staticSite(root))
	rc := dial(t, te.addr)
	for _, tc := range []struct {
		path, ae, encoding, body, vary string
	}{
		{"/a.css", "", "", plain, "Accept-Encoding"},
		{"/a.css", "gzip, deflate", "gzip", gz.String(), "Accept-Encoding"},
		{"/a.css", "gzip, deflate, br", "br", "BROTLI-BYTES", "Accept-Encoding"},
		{"/a.css", "br;q=0, gzip", "gzip", gz.String(), "Accept-Encoding"},
		{"/a.css", "identity", "", plain, "Accept-Encoding"},
		{"/only.css", "gzip, br", "", plain, ""},
	} {
		extra := ""
		if tc.ae != "" {
			extra = "Accept-Encoding: " + tc.ae + "\r\n"
		}
		rc.send("GET " + tc.path + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n")
		resp, body := rc.response("GET")
		if resp.Header.Get("Content-Encoding") != tc.encoding || body != tc.body || resp.Header.Get("Vary") != tc.vary {
			t.Errorf("%s AE %q: encoding %q vary %q body match %v", tc.path, tc.ae, resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"), body == tc.body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/css; charset=utf-8" {
			t.Errorf("%s AE %q: Content-Type %q", tc.path, tc.ae, ct)
		}
	}
}

func TestStaticFileChangesArePickedUp(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "v.txt"), "one")
	cfg := staticSite(root)
	cfg.FileCache.Valid = 100 * time.Millisecond
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	rc.send("GET /v.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := rc.response("GET"); body != "one" {
		t.Fatalf("body %q", body)
	}
	writeFile(t, filepath.Join(root, "v.txt.tmp"), "two!")
	os.Rename(filepath.Join(root, "v.txt.tmp"), filepath.Join(root, "v.txt"))
	deadline := time.Now().Add(3 * time.Second)
	for {
		rc.send("GET /v.txt HTTP/1.1\r\nHost: x\r\n\r\n")
		if _, body := rc.response("GET"); body == "two!" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("replaced file never served")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLargeFileSlowReader downloads a file much larger than the socket
// buffers while reading slowly, so the engine must resume sendfile after
// EAGAIN many times; the bytes must arrive intact.
func TestLargeFileSlowReader(t *testing.T) {
	root := t.TempDir()
	data := make([]byte, 8<<20)
	rand.New(rand.NewSource(1)).Read(data)
	writeFile(t, filepath.Join(root, "big.bin"), string(data))
	te := startEngine(t, staticSite(root))
	c, err := net.Dial("tcp", te.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(16 << 10)
	c.Write([]byte("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"))
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	// The first 200 reads of 4 KiB are 2 ms apart: the server meets a full
	// socket again and again and must resume after each EAGAIN.
	slow := &slowReader{r: c, reads: 200, delay: 2 * time.Millisecond}
	resp, err := http.ReadResponse(bufio.NewReaderSize(slow, 4096), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(body) != sha256.Sum256(data) {
		t.Fatalf("body of %d bytes differs from the file (%d bytes)", len(body), len(data))
	}
}

// slowReader sleeps before each of its first reads.
type slowReader struct {
	r     io.Reader
	reads int
	delay time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	if s.reads > 0 {
		s.reads--
		time.Sleep(s.delay)
	}
	return s.r.Read(p)
}
