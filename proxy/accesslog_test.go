package proxy

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestAccessLogCountsProxiedBytes: the access log's "bytes" is the body a
// client received, for proxied responses too (it said 0): a small body
// sent with the head, a large one relayed through the spool, a chunked one
// (counted as sent, with its chunk framing), a compressed one (the
// compressed size), and none for HEAD.
func TestAccessLogCountsProxiedBytes(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 20000) // 320 KB: more than buffer_memory
	text := strings.Repeat("compressible text ", 200)
	addr := serveRawAnswers(t, func(req *http.Request) string {
		switch req.URL.Path {
		case "/small":
			return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nsmall"
		case "/head":
			return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
		case "/big":
			return "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(big)) + "\r\n\r\n" + big
		case "/chunked":
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
		default: // /text
			return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(text)) + "\r\n\r\n" + text
		}
	})
	cfg := proxySite(addr)
	var log lockedWriter
	cfg.AccessLog = &log
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	received := map[string]int{}
	for _, r := range []struct{ method, path, extra string }{
		{"GET", "/small", ""},
		{"GET", "/big", ""},
		{"GET", "/chunked", ""},
		{"HEAD", "/head", ""},
		// Last, as HTTP/1.0: the compressed body is delimited by the
		// close, not chunked, so the client reads exactly what was sent.
		{"GET", "/text", "Accept-Encoding: gzip\r\n"},
	} {
		proto := "HTTP/1.1"
		if r.path == "/text" {
			proto = "HTTP/1.0"
		}
		rc.send(r.method + " " + r.path + " " + proto + "\r\nHost: x\r\n" + r.extra + "\r\n")
		resp, body := rc.response(r.method)
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d", r.method, r.path, resp.StatusCode)
		}
		received[r.path] = len(body)
		if r.path == "/text" && resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("/text was not compressed: %v", resp.Header)
		}
	}
	te.e.Shutdown(t.Context()) // flushes the access log
	logged := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		var line struct {
			URI   string
			Bytes int
		}
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		logged[line.URI] = line.Bytes
	}
	// The client's reader removes the chunk framing; the compressed body is
	// read as sent (the request asked for gzip itself).
	chunkedOnWire := len("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
	for path, want := range map[string]int{"/small": 5, "/big": len(big), "/chunked": chunkedOnWire,
		"/text": received["/text"], "/head": 0} {
		if logged[path] != want {
			t.Errorf("%s: the access log says %d bytes, want %d (all logged: %v)", path, logged[path], want, logged)
		}
	}
	if received["/text"] == 0 || received["/text"] >= len(text) {
		t.Errorf("/text: %d compressed bytes of %d", received["/text"], len(text))
	}
}
