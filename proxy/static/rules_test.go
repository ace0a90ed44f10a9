package static

import (
	"testing"

	"frontdoor/proxy/http1"
)

// parsedRequest parses a request head as the engine does.
func parsedRequest(t *testing.T, raw string) *http1.Request {
	t.Helper()
	var s http1.HeadScanner
	var r http1.Request
	lim := http1.DefaultLimits
	n, err := s.Scan([]byte(raw), &lim)
	if err != nil || n == 0 {
		t.Fatalf("scan %q: %d %v", raw, n, err)
	}
	if err := r.Parse([]byte(raw[:n]), &lim); err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	return &r
}

func TestParseRange(t *testing.T) {
	const size = 10
	for _, c := range []struct {
		v          string
		size       int64
		start, end int64 // start -1: ignored (whole file); -2: unsatisfiable
	}{
		{"bytes=0-0", size, 0, 1},
		{"bytes=0-9", size, 0, 10},
		{"bytes=0-8", size, 0, 9},
		{"bytes=5-5", size, 5, 6},
		{"bytes=5-100", size, 5, 10},
		{"bytes=5-", size, 5, 10},
		{"bytes=9-", size, 9, 10},
		{"bytes=10-", size, -2, 0},
		{"bytes=11-20", size, -2, 0},
		{"BYTES=2-3", size, 2, 4},
		{"bytes= 2 - 3 ", size, 2, 4},
		{"bytes=-5", size, 5, 10},
		{"bytes=-10", size, 0, 10},
		{"bytes=-15", size, 0, 10},
		{"bytes=-1", size, 9, 10},
		{"bytes=-0", size, -2, 0},
		{"bytes=-5", 0, -2, 0},
		{"bytes=0-", 0, -2, 0},
		{"bytes=5-3", size, -1, 0},
		{"bytes=5-x", size, -1, 0},
		{"bytes=x-5", size, -1, 0},
		{"bytes=-x", size, -1, 0},
		{"bytes=5", size, -1, 0},
		{"bytes=0-1,3-4", size, -1, 0},
		{"bytes=", size, -1, 0},
		{"bytes", size, -1, 0},
		{"items=0-1", size, -1, 0},
		{"", size, -1, 0},
	} {
		s, e, ok := ParseRange([]byte(c.v), c.size)
		if s != c.start || ok != (c.start >= 0) || (ok && e != c.end) {
			t.Errorf("ParseRange(%q, %d) = %d, %d, %v; want start %d end %d", c.v, c.size, s, e, ok, c.start, c.end)
		}
	}
}

func TestAcceptsEncoding(t *testing.T) {
	for _, c := range []struct {
		ae, coding string
		want       bool
	}{
		{"gzip", "gzip", true},
		{"GZip", "gzip", true},
		{"deflate, gzip", "gzip", true},
		{", gzip", "gzip", true},
		{" gzip , br ", "br", true},
		{"br;q=0.5", "br", true},
		{"br; q=1", "br", true},
		{"br;level=1", "br", true},
		{"br;q=0", "br", false},
		{"br;Q=0", "br", false},
		{"br; q=0.000", "br", false},
		{"br;q=0.001", "br", true},
		{"br;q=", "br", false}, // an empty quality counts as none
		{"br;q", "br", true},   // not a quality parameter at all
		{"gzip;q=0, br", "gzip", false},
		{"gzip;q=0, br", "br", true},
		{"x-gzip", "gzip", false},
		{"gzipx", "gzip", false},
		{"deflate", "gzip", false},
		{"", "gzip", false},
	} {
		if got := AcceptsEncoding([]byte(c.ae), c.coding); got != c.want {
			t.Errorf("AcceptsEncoding(%q, %q) = %v, want %v", c.ae, c.coding, got, c.want)
		}
	}
}

// TestConditionals: If-None-Match (weak comparison, "*", lists) decides
// over If-Modified-Since; a date at or after the file's modification time
// means not modified; If-Range names the representation exactly.
func TestConditionals(t *testing.T) {
	f := &File{etag: []byte(`"5f-a"`), mtimeSec: 784111777, lastMod: []byte("Sun, 06 Nov 1994 08:49:37 GMT")}
	for _, c := range []struct {
		fields string
		want   bool
	}{
		{`If-None-Match: "5f-a"`, true},
		{`If-None-Match: W/"5f-a"`, true},
		{`If-None-Match: "x", "5f-a"`, true},
		{`If-None-Match: "x",W/"5f-a" `, true},
		{`If-None-Match: , "5f-a"`, true}, // empty list elements are allowed (RFC 9110 §5.6.1.2)
		{`If-None-Match: "x",,"5f-a"`, true},
		{`If-None-Match: *`, true},
		{`If-None-Match:  * `, true},
		{`If-None-Match: "x"`, false},
		{`If-None-Match: "5f-a`, false},
		{`If-None-Match: "x"` + "\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT", false},
		{"If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT", true},
		{"If-Modified-Since: Sun, 06 Nov 1994 08:49:38 GMT", true},
		{"If-Modified-Since: Sun, 06 Nov 1994 08:49:36 GMT", false},
		{"If-Modified-Since: Sunday, 06-Nov-94 08:49:37 GMT", false},
		{"X-Other: 1", false},
	} {
		r := parsedRequest(t, "GET / HTTP/1.1\r\nHost: a\r\n"+c.fields+"\r\n\r\n")
		if got := f.NotModified(r.Header(http1.HeaderIfNoneMatch), r.Header(http1.HeaderIfModifiedSince)); got != c.want {
			t.Errorf("NotModified with %q = %v, want %v", c.fields, got, c.want)
		}
	}
	for _, c := range []struct {
		fields string
		want   bool
	}{
		{"X-Other: 1", true},
		{`If-Range: "5f-a"`, true},
		{`If-Range: "5f-b"`, false},
		{`If-Range: W/"5f-a"`, false},
		{"If-Range: Sun, 06 Nov 1994 08:49:37 GMT", true},
		{"If-Range: Sun, 06 Nov 1994 08:49:38 GMT", false},
		{"If-Range:", false},
	} {
		r := parsedRequest(t, "GET / HTTP/1.1\r\nHost: a\r\n"+c.fields+"\r\n\r\n")
		if got := f.RangeApplies(r.Header(http1.HeaderIfRange)); got != c.want {
			t.Errorf("RangeApplies with %q = %v, want %v", c.fields, got, c.want)
		}
	}
}

func TestIsHashedName(t *testing.T) {
	for name, want := range map[string]bool{
		"app.0123456789ab.css":          true,
		"css/app.abcdef012345.css":      true,
		"app.0123456789ab.min.js":       true,
		"x.0123456789ab.":               true,
		"app.0123456789a.css":           false, // 11 digits
		"app.0123456789abc.css":         false, // 13
		"app.0123456789AB.css":          false, // Django writes lower case
		"app.0123456789ag.css":          false,
		"app.0123456789ab":              false, // no dot after
		"0123456789ab.css":              false, // no dot before
		"dir.0123456789ab.d/app.css":    false, // the hash is in a directory name
		"app.css":                       false,
		"":                              false,
		"a.9876543210ff.woff2":          true,
		"prefix.0123456789ab.0123.json": true,
	} {
		if got := isHashedName([]byte(name)); got != want {
			t.Errorf("isHashedName(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestVariant: the smallest precompressed sibling the client accepts is
// chosen (brotli, then zstd, then gzip), a sibling the client refuses or
// that does not exist is skipped, and a file without siblings — or a
// request without Accept-Encoding — gets the file itself.
func TestVariant(t *testing.T) {
	br, zst, gz := &File{Name: "a.css.br"}, &File{Name: "a.css.zst"}, &File{Name: "a.css.gz"}
	all := &File{Name: "a.css", vary: true, br: br, zst: zst, gz: gz}
	gzOnly := &File{Name: "b.css", vary: true, gz: gz}
	zstOnly := &File{Name: "c.css", vary: true, zst: zst}
	brOnly := &File{Name: "d.css", vary: true, br: br}
	none := &File{Name: "e.css"}
	for _, c := range []struct {
		f    *File
		ae   string // "-": no Accept-Encoding field
		want *File
	}{
		{all, "-", all},
		{all, "", all},
		{all, "identity", all},
		{all, "gzip, zstd, br", br},
		{all, "gzip, zstd", zst},
		{all, "gzip", gz},
		{all, "br;q=0, zstd;q=0, gzip", gz},
		{all, "br;q=0, zstd;q=0, gzip;q=0", all},
		{gzOnly, "br, zstd, gzip", gz},
		{gzOnly, "br, zstd", gzOnly},
		{zstOnly, "br, zstd, gzip", zst},
		{zstOnly, "br, gzip", zstOnly},
		{brOnly, "br", br},
		{brOnly, "zstd, gzip", brOnly},
		{none, "br, zstd, gzip", none},
	} {
		var ae []byte
		if c.ae != "-" {
			ae = []byte(c.ae)
		}
		if got := c.f.Variant(ae); got != c.want {
			t.Errorf("%s.Variant(%q) = %s, want %s", c.f.Name, c.ae, got.Name, c.want.Name)
		}
	}
}
