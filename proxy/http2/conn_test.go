package http2

import (
	"strconv"
	"strings"
	"testing"

	"frontdoor/proxy/http1"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func fields(kv ...string) []http1.Header {
	var hs []http1.Header
	for i := 0; i < len(kv); i += 2 {
		hs = append(hs, http1.Header{Name: []byte(kv[i]), Value: []byte(kv[i+1]), ID: http1.LookupHeader([]byte(kv[i]))})
	}
	return hs
}

func TestRequestResponse(t *testing.T) {
	tc := newClient(t, nil)
	tc.handshake()
	tc.get(1, "/static/app.css?v=3", "user-agent", "test", "cookie", "a=1", "accept", "*/*", "cookie", "b=2")
	tc.feed()
	want(t, "events", tc.takeEvents(), "request 1 GET /static/app.css?v=3 end=true")
	r := tc.reqs[1]
	if string(r.Path) != "/static/app.css" || string(r.Query) != "v=3" || string(r.Host) != "example.com" ||
		string(r.Scheme) != "https" || r.ContentLength != 0 || r.Major != 2 {
		t.Fatalf("request %+v", r)
	}
	if got := string(r.Header(http1.HeaderCookie)); got != "a=1; b=2" {
		t.Fatalf("cookie %q", got)
	}
	if got := string(r.Header(http1.HeaderUserAgent)); got != "test" {
		t.Fatalf("user-agent %q", got)
	}
	tc.c.WriteHeaders(1, 200, fields("Content-Type", "text/css", "Connection", "keep-alive", "X-Frame-Options", "DENY"), false)
	tc.c.WriteData(1, []byte("body{}"), true)
	tc.drain()
	want(t, "response", tc.output(),
		"HEADERS 1 end=false :status=200 content-type=text/css x-frame-options=DENY",
		"DATA 1 len=6 end=true")
	if tc.c.Streams() != 0 {
		t.Fatalf("%d streams after the exchange", tc.c.Streams())
	}
	tc.feed() // releases the closed stream
	if !tc.c.Idle() {
		t.Fatal("not idle after the exchange")
	}
}

func TestPostBodyAndTrailers(t *testing.T) {
	tc := newClient(t, nil)
	tc.handshake()
	tc.post(1, "/upload", "content-length", "10")
	tc.fw.WriteData(1, false, []byte("hello"))
	tc.fw.WriteDataPadded(1, false, []byte("world"), []byte{0, 0, 0})
	tc.encBuf.Reset()
	tc.enc.WriteField(hpackField("x-checksum", "abc"))
	tc.fw.WriteHeaders(headersParam(1, tc.encBuf.Bytes(), true))
	tc.feed()
	want(t, "events", tc.takeEvents(), "request 1 POST /upload end=false", "data 1", "trailers 1 1")
	if string(tc.body[1]) != "helloworld" || tc.reqs[1].ContentLength != 10 {
		t.Fatalf("body %q, content length %d", tc.body[1], tc.reqs[1].ContentLength)
	}
	tc.respond(1, "ok")
	out := tc.output()
	if out[len(out)-1] != "DATA 1 len=2 end=true" {
		t.Fatalf("output %q", out)
	}
}

// A byte stream must give the same events and the same output however it
// is cut into pieces.
func TestAnySplit(t *testing.T) {
	script := func(tc *tclient) {
		tc.handshake()
		tc.get(1, "/a")
		tc.post(3, "/b", "content-length", "11")
		tc.fw.WriteDataPadded(3, false, []byte("hello "), []byte{0, 0})
		tc.fw.WritePing(false, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
		tc.fw.WriteData(3, true, []byte("world"))
		tc.get(5, "/c", "x-long", strings.Repeat("v", 3000))
		tc.fw.WriteRSTStream(5, 8)
		tc.fw.WriteWindowUpdate(0, 1000)
		tc.get(7, "/d")
		tc.feed()
	}
	var ref []string
	var refOut []string
	for _, step := range []int{0, 1, 2, 5, 9, 10, 100, 4096} {
		tc := newClient(t, nil)
		tc.step = step
		script(tc)
		ev, out := tc.takeEvents(), tc.output()
		if ref == nil {
			ref, refOut = ev, out
			want(t, "events", ev, "request 1 GET /a end=true", "request 3 POST /b end=false", "data 3", "end 3",
				"request 5 GET /c end=true", "reset 5 CANCEL ours=false", "request 7 GET /d end=true")
			continue
		}
		want(t, "events in pieces of "+itoa(step), ev, ref...)
		want(t, "output in pieces of "+itoa(step), out, refOut...)
		if string(tc.body[3]) != "hello world" {
			t.Fatalf("body %q", tc.body[3])
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func hpackField(name, value string) hpack.HeaderField {
	return hpack.HeaderField{Name: name, Value: value}
}

func headersParam(id uint32, block []byte, end bool) http2.HeadersFrameParam {
	return http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: end, EndHeaders: true}
}
