package http1

import (
	"errors"
	"strings"
	"testing"
)

// parseWhole runs the scanner and the parser over a buffer that holds the
// whole head at once.
func parseWhole(raw []byte, r *Request) (int, error) {
	var s HeadScanner
	lim := DefaultLimits
	n, err := s.Scan(raw, &lim)
	if err != nil || n == 0 {
		if err == nil {
			err = ErrIncomplete
		}
		return 0, err
	}
	return n, r.Parse(raw[:n], &lim)
}

// parseBytewise feeds the scanner one more byte per call, as a slow client
// would, and parses once the head is complete.
func parseBytewise(raw []byte, r *Request) (int, error) {
	var s HeadScanner
	lim := DefaultLimits
	for i := 1; i <= len(raw); i++ {
		n, err := s.Scan(raw[:i], &lim)
		if err != nil {
			return 0, err
		}
		if n > 0 {
			return n, r.Parse(raw[:n], &lim)
		}
	}
	return 0, ErrIncomplete
}

func status(err error) int {
	var e *Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &e):
		return e.Status
	case errors.Is(err, ErrIncomplete):
		return -1
	}
	return -2
}

func TestParseRules(t *testing.T) {
	const ok = 0
	long := strings.Repeat("a", 9000)
	tests := []struct {
		name string
		raw  string
		want int
	}{
		{"simple", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", ok},
		{"http10 no host", "GET / HTTP/1.0\r\n\r\n", ok},
		{"leading empty line tolerated", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", ok},
		{"minor version 2 served as 1.1", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", ok},
		{"missing host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 400},
		{"duplicate host", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400},
		{"host with port", "GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n", ok},
		{"host IPv6 literal", "GET / HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n", ok},
		{"host bad port", "GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n", 400},
		{"host two colons", "GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", 400},
		{"host bad literal", "GET / HTTP/1.1\r\nHost: [zz]\r\n\r\n", 400},
		{"host percent", "GET / HTTP/1.1\r\nHost: a%41\r\n\r\n", 400},
		{"bad host char", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"absolute form agreeing", "GET http://a/x HTTP/1.1\r\nHost: A\r\n\r\n", ok},
		{"absolute form disagreeing", "GET http://evil/x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"absolute form with userinfo", "GET http://u@a/x HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
		{"asterisk form for OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", ok},
		{"asterisk form for GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501},
		{"lower-case method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"method with underscore", "BAD_METHOD / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"two spaces after method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"tab in target", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"raw UTF-8 in target tolerated", "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", ok},
		{"fragment in target dropped", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", ok},
		{"fragment only", "GET #b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"bad escape in path", "GET /a%2 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"bad escape in query tolerated", "GET /a?b=100% HTTP/1.1\r\nHost: a\r\n\r\n", ok},
		{"DEL in target", "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"NUL in target", "GET /a\x00 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"trailing space after version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
		{"HTTP/0.9 simple request", "GET /\r\n\r\n", 400},
		{"version HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
		{"version garbage", "GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400},
		{"version twice", "GET / HTTP/1.1 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"bare LF ending the request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
		{"bare LF ending a field", "GET / HTTP/1.1\r\nHost: a\n\r\n", 400},
		{"bare LF ending the head", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400},
		{"bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},
		{"bare CR in name", "GET / HTTP/1.1\r\nHost: a\r\n\rX: b\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
		{"tab before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400},
		{"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400},
		{"no colon", "GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n", 400},
		{"control byte in name", "GET / HTTP/1.1\r\nHost: a\r\n\x01X: b\r\n\r\n", 400},
		{"high-bit byte in name", "GET / HTTP/1.1\r\nHost: a\r\nX\xa0: b\r\n\r\n", 400},
		{"control byte in value", "GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n", 400},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400},
		{"DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", 400},
		{"obs-text in value tolerated", "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xe9\r\n\r\n", ok},
		{"tab inside value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\n\r\n", ok},
		{"content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", ok},
		{"content-length zero on GET", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", ok},
		{"content-length on GET", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", 400},
		{"chunked on HEAD", "HEAD / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"content-length duplicate same", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400},
		{"content-length list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 400},
		{"content-length sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400},
		{"content-length negative", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
		{"content-length hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", 400},
		{"content-length empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400},
		{"content-length overflow", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", 400},
		{"chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", ok},
		{"chunked any case", "POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: ChUnKeD\r\n\r\n", ok},
		{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"TE gzip, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", ok},
		{"TE over two fields", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", ok},
		{"TE unknown coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: cow, chunked\r\n\r\n", 400},
		{"TE chunked twice in a list", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
		{"TE xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 400},
		{"TE empty", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", 400},
		{"TE chunked with NUL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\x00\r\n\r\n", 400},
		{"TE chunked with high-bit byte", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\xa0\r\n\r\n", 400},
		{"TE chunked, gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
		{"TE identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 400},
		{"TE twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"TE with parameter", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", ok},
		{"TE on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"underscore lookalike of TE", "POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n", 400},
		{"dashes lookalike of CL", "POST / HTTP/1.1\r\nHost: a\r\nContent--Length: 5\r\n\r\n", 400},
		{"harmless underscore name", "GET / HTTP/1.1\r\nHost: a\r\nX_Y: 1\r\n\r\n", ok},
		{"expect 100-continue", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", ok},
		{"unknown expectation", "POST / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n", 417},
		{"target too long", "GET /" + long + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
		{"head too large", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat(long, 2) + "\r\n\r\n", 431},
		{"too many fields", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: y\r\n", 101) + "\r\n", 431},
		// Every character a class admits, the class's last ones included.
		{"host IPv4 address", "GET / HTTP/1.1\r\nHost: 192.168.0.9\r\n\r\n", ok},
		{"host of every letter and digit", "GET / HTTP/1.1\r\nHost: abcdefghijklmnopqrstuvwxyz.ABCDEFGHIJKLMNOPQRSTUVWXYZ.0123456789\r\n\r\n", ok},
		{"host port of five digits", "GET / HTTP/1.1\r\nHost: a:65535\r\n\r\n", ok},
		{"host port of six digits", "GET / HTTP/1.1\r\nHost: a:655350\r\n\r\n", 400},
		{"host port of nines", "GET / HTTP/1.1\r\nHost: a:9999\r\n\r\n", ok},
		{"field name of every token character", "GET / HTTP/1.1\r\nHost: a\r\nabcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789!#$%&'*+.^_`|~: 1\r\n\r\n", ok},
		{"method of twenty letters", "ABCDEFGHIJKLMNOPQRST / HTTP/1.1\r\nHost: a\r\n\r\n", ok},
		{"method of twenty-one letters", "ABCDEFGHIJKLMNOPQRSTU / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"method with the last letters", "UVWXYZ / HTTP/1.1\r\nHost: a\r\n\r\n", ok},
		{"version HTTP/9.1", "GET / HTTP/9.1\r\nHost: a\r\n\r\n", 505},
		{"version HTTP/1.9 served as 1.1", "GET / HTTP/1.9\r\nHost: a\r\n\r\n", ok},
		{"content-length of 18 digits", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999999999\r\n\r\n", ok},
		{"content-length of 19 digits", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000000000\r\n\r\n", 400},
		{"TE in capitals", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: GZIP, X-GZIP, CHUNKED\r\n\r\n", ok},
		{"TE parameter quoted", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip;level=\"9\", chunked\r\n\r\n", ok},
		{"TE parameter with a separator", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip;a=(b), chunked\r\n\r\n", 400},
		{"lookalike of TE at 24 characters", "POST / HTTP/1.1\r\nHost: a\r\nTransfer--------Encoding: chunked\r\n\r\n", 400},
		{"leading empty lines: four tolerated", strings.Repeat("\r\n", 4) + "GET / HTTP/1.1\r\nHost: a\r\n\r\n", ok},
		{"leading empty lines: five refused", strings.Repeat("\r\n", 5) + "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Request
			_, err := parseWhole([]byte(tc.raw), &r)
			if got := status(err); got != tc.want {
				t.Fatalf("status %d (%v), want %d", got, err, tc.want)
			}
			var r2 Request
			_, err2 := parseBytewise([]byte(tc.raw), &r2)
			if got := status(err2); got != tc.want {
				t.Fatalf("byte at a time: status %d (%v), want %d", got, err2, tc.want)
			}
		})
	}
}

func TestParseFields(t *testing.T) {
	raw := "\r\nPOST http://Example.com:8080/p/a?q=1&r HTTP/1.1\r\n" +
		"Host: example.com:8080\r\n" +
		"Connection: keep-alive, Upgrade\r\n" +
		"Upgrade: websocket\r\n" +
		"X_Weird: 1\r\n" +
		"Transfer-Encoding: chunked\r\n" +
		"Expect: 100-continue\r\n" +
		"User-Agent:   curl/8   \r\n\r\nBODY"
	var r Request
	n, err := parseWhole([]byte(raw), &r)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(raw)-4 || r.HeadLen != n {
		t.Errorf("head length %d/%d, want %d", n, r.HeadLen, len(raw)-4)
	}
	checks := []struct{ name, got, want string }{
		{"method", string(r.Method), "POST"},
		{"target", string(r.Target), "/p/a?q=1&r"},
		{"path", string(r.Path), "/p/a"},
		{"query", string(r.Query), "q=1&r"},
		{"host (the absolute-form authority)", string(r.Host), "Example.com:8080"},
		{"user agent", string(r.Header(HeaderUserAgent)), "curl/8"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if !r.Chunked || r.ContentLength != -1 || !r.KeepAlive || !r.Upgrade || !r.Expect100 || !r.AbsoluteForm {
		t.Errorf("flags: %+v", r)
	}
	if len(r.Headers) != 7 || r.Headers[0].ID != HeaderHost {
		t.Errorf("headers: %+v", r.Headers)
	}
	for i, h := range r.Headers {
		if h.Underscore != (string(h.Name) == "X_Weird") {
			t.Errorf("field %d %q: Underscore %v", i, h.Name, h.Underscore)
		}
	}
}

// TestUpgradeNeedsBoth: a request asks to upgrade only with an Upgrade
// field that names a protocol and "upgrade" in Connection, on HTTP/1.1.
func TestUpgradeNeedsBoth(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want bool
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, upgrade\r\nUpgrade: websocket\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade:\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", false},
		{"GET / HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", false},
	} {
		var r Request
		if _, err := parseWhole([]byte(tc.raw), &r); err != nil {
			t.Fatalf("%q: %v", tc.raw, err)
		}
		if r.Upgrade != tc.want {
			t.Errorf("%q: Upgrade %v, want %v", tc.raw, r.Upgrade, tc.want)
		}
	}
}

// TestRefusalReasons: a refusal names what was wrong (the reason goes to
// the log), not only its status.
func TestRefusalReasons(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"GET / HTTP/1.1\r\nHost : a\r\n\r\n", "whitespace between header field name and colon"},
		{"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", "whitespace between header field name and colon"},
		{"GET / HTTP/1.1\r\nHost: a\r\nX\x01: b\r\n\r\n", "invalid character in header field name"},
		{"GET / HTTP/1.1\r\nHost: a\r\nX(: b\r\n\r\n", "invalid character in header field name"},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", "bare CR in message head"},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", "control character in header field value"},
		{"GET / HTTP/9.1\r\nHost: a\r\n\r\n", "HTTP version not supported"},
		{"GET / HTTP/1.x\r\nHost: a\r\n\r\n", "malformed HTTP version"},
	} {
		var r Request
		_, err := parseWhole([]byte(tc.raw), &r)
		if err == nil || err.Error() != "http1: "+tc.want {
			t.Errorf("%q: %v, want %q", tc.raw, err, tc.want)
		}
	}
}

// TestParseAlone: Parse refuses on its own what HeadScanner would have
// refused before it (it is exported, and callers may hand it any head).
func TestParseAlone(t *testing.T) {
	lim := DefaultLimits
	for _, raw := range []string{
		"GET\r\n\r\n",
		"GET /\r\nHost: a\r\n\r\n",
		"\r\n",
		"",
		"G\x01T / HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		var r Request
		if err := r.Parse([]byte(raw), &lim); status(err) != 400 {
			t.Errorf("%q: %v, want a 400 refusal", raw, err)
		}
	}
}

// TestLimitBoundaries: each limit admits exactly its value and refuses one
// more, whether the bytes come at once or one by one, and a head still
// arriving is refused as soon as it passes a limit, not before.
func TestLimitBoundaries(t *testing.T) {
	lim := Limits{MaxHeadBytes: 128, MaxTargetBytes: 16, MaxHeaders: 3}
	maxLine := lim.MaxTargetBytes + requestLineSlack // 48
	target := "/" + strings.Repeat("a", lim.MaxTargetBytes-1)
	// A request line of exactly maxLine bytes, CRLF included.
	longest := "ABCDEFGHIJKLMNOPQRST " + target + " HTTP/1.1\r\n"
	if len(longest) != maxLine {
		t.Fatalf("test setup: request line of %d bytes, want %d", len(longest), maxLine)
	}
	// head fills a head to n bytes with the field X.
	head := func(n int) string {
		h := "GET / HTTP/1.1\r\nHost: a\r\nX: "
		return h + strings.Repeat("x", n-len(h)-4) + "\r\n\r\n"
	}
	whole := []struct {
		name, raw string
		want      int
	}{
		{"target of the limit", "GET " + target + " HTTP/1.1\r\nHost: a\r\n\r\n", 0},
		{"target over the limit", "GET " + target + "a HTTP/1.1\r\nHost: a\r\n\r\n", 414},
		{"request line of the limit", longest + "Host: a\r\n\r\n", 0},
		{"head of the limit", head(lim.MaxHeadBytes), 0},
		{"head over the limit", head(lim.MaxHeadBytes + 1), 431},
		{"fields of the limit", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nY: 2\r\n\r\n", 0},
		{"fields over the limit", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nY: 2\r\nZ: 3\r\n\r\n", 431},
	}
	for _, tc := range whole {
		for _, bytewise := range []bool{false, true} {
			got := scanAndParse([]byte(tc.raw), &lim, bytewise)
			if got != tc.want {
				t.Errorf("%s (bytewise %v): status %d, want %d", tc.name, bytewise, got, tc.want)
			}
		}
	}
	// Heads still arriving: -1 is "more bytes needed".
	partial := []struct {
		name, raw string
		want      int
	}{
		{"request line of the limit, no LF yet", "GET /" + strings.Repeat("a", maxLine-5), -1},
		{"request line over the limit, no LF yet", "GET /" + strings.Repeat("a", maxLine-4), 414},
		{"after empty lines, of the limit", "\r\n\r\nGET /" + strings.Repeat("a", maxLine-5), -1},
		{"after empty lines, over the limit", "\r\n\r\nGET /" + strings.Repeat("a", maxLine-4), 414},
		{"head of the limit, no end yet", head(lim.MaxHeadBytes + 2)[:lim.MaxHeadBytes], -1},
		{"head over the limit, no end yet", head(lim.MaxHeadBytes + 3)[:lim.MaxHeadBytes+1], 431},
	}
	for _, tc := range partial {
		var s HeadScanner
		n, err := s.Scan([]byte(tc.raw), &lim)
		got := status(err)
		if err == nil && n == 0 {
			got = -1
		}
		if got != tc.want {
			t.Errorf("%s: n=%d status %d (%v), want %d", tc.name, n, got, err, tc.want)
		}
	}
}

// scanAndParse runs the scanner (whole or one byte more per call) and the
// parser with lim, and returns the status (0 accepted, -1 incomplete).
func scanAndParse(raw []byte, lim *Limits, bytewise bool) int {
	var s HeadScanner
	start := len(raw)
	if bytewise {
		start = 1
	}
	for i := start; i <= len(raw); i++ {
		n, err := s.Scan(raw[:i], lim)
		if err != nil {
			return status(err)
		}
		if n > 0 {
			var r Request
			return status(r.Parse(raw[:n], lim))
		}
	}
	return -1
}

func TestKeepAlive(t *testing.T) {
	tests := []struct {
		raw  string
		want bool
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE\r\n\r\n", false},
		{"GET / HTTP/1.0\r\n\r\n", false},
		{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
		{"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: ,close\r\n\r\n", false},
		{"GET / HTTP/1.0\r\nConnection: ,, Keep-Alive ,\r\n\r\n", true},
	}
	for _, tc := range tests {
		var r Request
		if _, err := parseWhole([]byte(tc.raw), &r); err != nil {
			t.Fatalf("%q: %v", tc.raw, err)
		}
		if r.KeepAlive != tc.want {
			t.Errorf("%q: keep-alive %v, want %v", tc.raw, r.KeepAlive, tc.want)
		}
	}
}

func TestScanIncomplete(t *testing.T) {
	var s HeadScanner
	lim := DefaultLimits
	for _, part := range []string{"GET / HT", "GET / HTTP/1.1\r\nHo", "GET / HTTP/1.1\r\nHost: a\r\n\r"} {
		n, err := s.Scan([]byte(part), &lim)
		if n != 0 || err != nil {
			t.Fatalf("%q: n=%d err=%v, want incomplete", part, n, err)
		}
	}
	n, err := s.Scan([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET"), &lim)
	if err != nil || n != 27 {
		t.Fatalf("n=%d err=%v, want 27", n, err)
	}
}

func TestParseAllocations(t *testing.T) {
	raw := []byte("GET /static/app.0123456789ab.css?v=1 HTTP/1.1\r\nHost: example.com\r\n" +
		"User-Agent: Mozilla/5.0\r\nAccept: */*\r\nAccept-Encoding: gzip, br\r\n" +
		"Connection: keep-alive\r\nCookie: sessionid=abc\r\n\r\n")
	var r Request
	var s HeadScanner
	lim := DefaultLimits
	allocs := testing.AllocsPerRun(1000, func() {
		s.Reset()
		n, err := s.Scan(raw, &lim)
		if err != nil || n == 0 {
			t.Fatal(n, err)
		}
		if err := r.Parse(raw[:n], &lim); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per request, want 0", allocs)
	}
}

func BenchmarkParse(b *testing.B) {
	raw := []byte("GET /static/app.0123456789ab.css?v=1 HTTP/1.1\r\nHost: example.com\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0\r\nAccept: */*\r\n" +
		"Accept-Encoding: gzip, br\r\nAccept-Language: en-US,en;q=0.5\r\n" +
		"Connection: keep-alive\r\nCookie: sessionid=abc; csrftoken=def\r\n\r\n")
	var r Request
	var s HeadScanner
	lim := DefaultLimits
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		s.Reset()
		n, _ := s.Scan(raw, &lim)
		if err := r.Parse(raw[:n], &lim); err != nil {
			b.Fatal(err)
		}
	}
}
