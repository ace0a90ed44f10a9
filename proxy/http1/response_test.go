package http1

import "testing"

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		method  string
		status  int
		framing Framing
		cl      int64
		ka      bool
		err     bool
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "GET", 200, FramingLength, 5, true, false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", 200, FramingChunked, -1, true, false},
		{"close delimited", "HTTP/1.1 200 OK\r\n\r\n", "GET", 200, FramingClose, -1, false, false},
		{"HEAD keeps length, no body", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD", 200, FramingNone, 5, true, false},
		{"204", "HTTP/1.1 204 No Content\r\n\r\n", "GET", 204, FramingNone, -1, true, false},
		{"304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", "GET", 304, FramingNone, 9, true, false},
		{"101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", "GET", 101, FramingNone, -1, true, false},
		{"connection close", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", "GET", 200, FramingLength, 0, false, false},
		{"http/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", "GET", 200, FramingLength, 0, false, false},
		{"empty reason", "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", "GET", 200, FramingLength, 0, true, false},
		{"no reason", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", "GET", 200, FramingLength, 0, true, false},
		{"CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", 0, 0, 0, false, true},
		{"two CL", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", "GET", 0, 0, 0, false, true},
		{"TE gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "GET", 0, 0, 0, false, true},
		{"garbage", "garbage\r\n\r\n", "GET", 0, 0, 0, false, true},
		{"bad code", "HTTP/1.1 2x0 OK\r\n\r\n", "GET", 0, 0, 0, false, true},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", "GET", 0, 0, 0, false, true},
		{"space before colon", "HTTP/1.1 200 OK\r\nX : a\r\n\r\n", "GET", 0, 0, 0, false, true},
		{"minor version 9 read as 1.1", "HTTP/1.9 200 OK\r\nContent-Length: 0\r\n\r\n", "GET", 200, FramingLength, 0, true, false},
		{"status of nines", "HTTP/1.1 599 X\r\nContent-Length: 0\r\n\r\n", "GET", 599, FramingLength, 0, true, false},
		{"status 100", "HTTP/1.1 100 Continue\r\n\r\n", "GET", 100, FramingNone, -1, true, false},
		{"status below 100", "HTTP/1.1 099 X\r\n\r\n", "GET", 0, 0, 0, false, true},
		{"field without colon", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nXY\r\n\r\n", "GET", 0, 0, 0, false, true},
		{"field with empty name", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n: v\r\n\r\n", "GET", 0, 0, 0, false, true},
		{"field name of every token character", "HTTP/1.1 200 OK\r\nabcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789!#$%&'*+.^_`|~: 1\r\nContent-Length: 0\r\n\r\n", "GET", 200, FramingLength, 0, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Response
			lim := DefaultLimits
			err := r.Parse([]byte(tc.raw), []byte(tc.method), &lim)
			if (err != nil) != tc.err {
				t.Fatalf("err %v, want error %v", err, tc.err)
			}
			if tc.err {
				return
			}
			if r.Status != tc.status || r.Framing != tc.framing || r.ContentLength != tc.cl || r.KeepAlive != tc.ka {
				t.Fatalf("got status %d framing %d cl %d ka %v", r.Status, r.Framing, r.ContentLength, r.KeepAlive)
			}
		})
	}
}

// TestScanResponseSpeaksOfTheResponse: the scanner is shared with requests,
// but what it says about an upstream's head must not read "malformed
// method" or "request header block too large" in the log.
func TestScanResponseSpeaksOfTheResponse(t *testing.T) {
	lim := Limits{MaxHeadBytes: 64, MaxTargetBytes: 32, MaxHeaders: 10}
	for _, tc := range []struct{ raw, want string }{
		{"hello there\r\n\r\n", "http1: malformed status line from upstream"},
		{"HTTP/1.1 200 OK\r\nX: " + string(make([]byte, 80)), "http1: upstream response head too large"},
		{"HTTP/1.1 200 OK\nX: y\r\n\r\n", "http1: bare LF in message head"},
	} {
		var s HeadScanner
		_, err := s.ScanResponse([]byte(tc.raw), &lim)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: %v, want %s", tc.raw, err, tc.want)
		}
	}
	var s HeadScanner
	if n, err := s.ScanResponse([]byte("HTTP/1.1 204 No Content\r\n\r\n"), &lim); err != nil || n != 27 {
		t.Errorf("a good head: %d %v", n, err)
	}
}

// TestResponseHeaderLimit: an upstream head may carry MaxHeaders fields,
// not one more.
func TestResponseHeaderLimit(t *testing.T) {
	lim := Limits{MaxHeadBytes: 1024, MaxTargetBytes: 64, MaxHeaders: 3}
	for _, tc := range []struct {
		raw string
		ok  bool
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nA: 1\r\nB: 2\r\n\r\n", true},
		{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", false},
	} {
		var r Response
		if err := r.Parse([]byte(tc.raw), []byte("GET"), &lim); (err == nil) != tc.ok {
			t.Errorf("%q: %v, want accepted %v", tc.raw, err, tc.ok)
		}
	}
}

// TestResponseFieldLookup: Header finds the first field with an ID,
// HeaderNamed the first with a name in any case; nil when there is none.
func TestResponseFieldLookup(t *testing.T) {
	var r Response
	lim := DefaultLimits
	raw := "HTTP/1.1 200 OK\r\nX-Accel-Redirect: /first\r\nContent-Type: text/plain\r\nx-accel-redirect: /second\r\nContent-Length: 0\r\n\r\n"
	if err := r.Parse([]byte(raw), []byte("GET"), &lim); err != nil {
		t.Fatal(err)
	}
	if got := string(r.Header(HeaderContentType)); got != "text/plain" {
		t.Errorf("Header(Content-Type) = %q", got)
	}
	if got := r.Header(HeaderTransferEncoding); got != nil {
		t.Errorf("Header(Transfer-Encoding) = %q, want nil", got)
	}
	if got := string(r.HeaderNamed("x-accel-redirect")); got != "/first" {
		t.Errorf("HeaderNamed(x-accel-redirect) = %q, want the first", got)
	}
	if got := r.HeaderNamed("x-sendfile"); got != nil {
		t.Errorf("HeaderNamed(x-sendfile) = %q, want nil", got)
	}
}
