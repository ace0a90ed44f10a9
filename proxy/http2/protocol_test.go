package http2

import (
	"strings"
	"testing"

	"frontdoor/proxy/http1"

	"golang.org/x/net/http2"
)

// Requests the codec refuses or resets by itself, each with what goes out.
func TestRequestValidation(t *testing.T) {
	base := []string{":method", "GET", ":scheme", "https", ":authority", "example.com", ":path", "/"}
	with := func(kv ...string) []string { return append(append([]string{}, base...), kv...) }
	cases := []struct {
		name   string
		fields []string
		end    bool
		out    string
	}{
		{"upper-case name", with("X-Up", "1"), true, "RST_STREAM 1 PROTOCOL_ERROR"},
		{"connection header", with("connection", "keep-alive"), true, "RST_STREAM 1 PROTOCOL_ERROR"},
		{"transfer-encoding", with("transfer-encoding", "chunked"), true, "RST_STREAM 1 PROTOCOL_ERROR"},
		{"te gzip", with("te", "gzip"), true, "RST_STREAM 1 PROTOCOL_ERROR"},
		{"unknown pseudo", with(":foo", "x"), true, "RST_STREAM 1 PROTOCOL_ERROR"},
		{"response pseudo", with(":status", "200"), true, "RST_STREAM 1 PROTOCOL_ERROR"},
		{"pseudo after regular", append([]string{"accept", "*/*"}, base...), true, "RST_STREAM 1 PROTOCOL_ERROR"},
		{"no method", base[2:], true, "RST_STREAM 1 PROTOCOL_ERROR"},
		{"no path", base[:6], true, "RST_STREAM 1 PROTOCOL_ERROR"},
		{"empty path", []string{":method", "GET", ":scheme", "https", ":authority", "a", ":path", ""}, true, "RST_STREAM 1 PROTOCOL_ERROR"},
		{"path without slash", []string{":method", "GET", ":scheme", "https", ":authority", "a", ":path", "x"}, true, "RST_STREAM 1 PROTOCOL_ERROR"},
		{"space in path", []string{":method", "GET", ":scheme", "https", ":authority", "a", ":path", "/a b"}, true, "RST_STREAM 1 PROTOCOL_ERROR"},
		{"NUL in value", with("x-a", "a\x00b"), true, "RST_STREAM 1 PROTOCOL_ERROR"},
		{"trailing space in value", with("x-a", "a "), true, "RST_STREAM 1 PROTOCOL_ERROR"},
		{"userinfo", []string{":method", "GET", ":scheme", "https", ":authority", "u@a", ":path", "/"}, true, "RST_STREAM 1 PROTOCOL_ERROR"},
		{"host differs from :authority", with("host", "other.example"), true, "RST_STREAM 1 PROTOCOL_ERROR"},
		{"two content-lengths", []string{":method", "POST", ":scheme", "https", ":authority", "a", ":path", "/", "content-length", "1", "content-length", "1"}, false, "RST_STREAM 1 PROTOCOL_ERROR"},
		{"content-length with END_STREAM", []string{":method", "POST", ":scheme", "https", ":authority", "a", ":path", "/", "content-length", "3"}, true, "RST_STREAM 1 PROTOCOL_ERROR"},
		{":protocol without CONNECT", with(":protocol", "websocket"), true, "RST_STREAM 1 PROTOCOL_ERROR"},
		{"bad host", []string{":method", "GET", ":scheme", "https", ":authority", "a b", ":path", "/"}, true, "HEADERS 1 end=true :status=400 content-length=0"},
		{"no host at all", []string{":method", "GET", ":scheme", "https", ":path", "/"}, true, "HEADERS 1 end=true :status=400 content-length=0"},
		{"lower-case method", []string{":method", "get", ":scheme", "https", ":authority", "a", ":path", "/"}, true, "HEADERS 1 end=true :status=400 content-length=0"},
		{"bad escape", []string{":method", "GET", ":scheme", "https", ":authority", "a", ":path", "/%zz"}, true, "HEADERS 1 end=true :status=400 content-length=0"},
		{"scheme ftp", []string{":method", "GET", ":scheme", "ftp", ":authority", "a", ":path", "/"}, true, "HEADERS 1 end=true :status=400 content-length=0"},
		{"transfer_encoding lookalike", with("transferencoding", "chunked"), true, "HEADERS 1 end=true :status=400 content-length=0"},
		{"expect", with("expect", "something"), true, "HEADERS 1 end=true :status=417 content-length=0"},
		{"plain CONNECT", []string{":method", "CONNECT", ":authority", "a:443"}, false, "HEADERS 1 end=true :status=501 content-length=0\nRST_STREAM 1 NO_ERROR"},
		{"too many fields", with(strings.Split(strings.Repeat("x-a,1,", 101), ",")[:202]...), true, "HEADERS 1 end=true :status=431 content-length=0"},
		{"head too large", with("cookie", strings.Repeat("c", 17000)), true, "HEADERS 1 end=true :status=431 content-length=0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc := newClient(t, nil)
			tc.handshake()
			tc.headers(1, c.end, c.fields...)
			tc.feed()
			for _, e := range tc.takeEvents() {
				if strings.HasPrefix(e, "request") {
					t.Fatalf("request reached the exchange: %s", e)
				}
			}
			want(t, "output", tc.output(), strings.Split(c.out, "\n")...)
			// The connection lives on: the next request is served.
			tc.get(3, "/next")
			tc.feed()
			want(t, "next request", tc.takeEvents(), "request 3 GET /next end=true")
		})
	}
}

func TestRequestFields(t *testing.T) {
	tc := newClient(t, func(c *Config) { c.EnableConnectProtocol = true })
	tc.handshake()
	if tc.serverSettings[http2.SettingMaxConcurrentStreams] != 100 || tc.serverSettings[http2.SettingEnablePush] != 0 ||
		tc.serverSettings[0x8] != 1 || tc.serverSettings[http2.SettingInitialWindowSize] != 256<<10 ||
		tc.serverSettings[http2.SettingMaxHeaderListSize] != 16<<10 {
		t.Fatalf("settings %v", tc.serverSettings)
	}
	// :authority wins, host equal to it is fine, te: trailers passes,
	// underscores are flagged, a fragment is cut.
	tc.headers(1, true, ":method", "GET", ":scheme", "https", ":authority", "Example.com:8443", ":path", "/p?q=1#frag",
		"host", "example.COM:8443", "te", "trailers", "x_forwarded_for", "1.2.3.4", "expect", "100-continue")
	// Extended CONNECT (RFC 8441) for WebSocket.
	tc.headers(3, false, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":authority", "example.com", ":path", "/ws",
		"sec-websocket-version", "13")
	tc.post(5, "/form")
	tc.feed()
	want(t, "events", tc.takeEvents(), "request 1 GET /p?q=1 end=true", "request 3 CONNECT /ws end=false", "request 5 POST /form end=false")
	r := tc.reqs[1]
	if string(r.Host) != "Example.com:8443" || string(r.Query) != "q=1" || !r.Expect100 {
		t.Fatalf("request 1: %+v", r)
	}
	var us *http1.Header
	for i := range r.Headers {
		if string(r.Headers[i].Name) == "x_forwarded_for" {
			us = &r.Headers[i]
		}
	}
	if us == nil || !us.Underscore || r.Header(http1.HeaderTE) == nil {
		t.Fatalf("headers %+v", r.Headers)
	}
	if ws := tc.reqs[3]; string(ws.Protocol) != "websocket" || ws.ContentLength != -1 {
		t.Fatalf("extended CONNECT %+v", ws)
	}
	if tc.reqs[5].ContentLength != -1 {
		t.Fatalf("POST without content-length: %d", tc.reqs[5].ContentLength)
	}
}

// Extended CONNECT is a protocol error unless offered.
func TestConnectProtocolOff(t *testing.T) {
	tc := newClient(t, nil)
	tc.handshake()
	if _, ok := tc.serverSettings[0x8]; ok {
		t.Fatal("SETTINGS_ENABLE_CONNECT_PROTOCOL offered while off")
	}
	tc.headers(1, false, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":authority", "a", ":path", "/ws")
	tc.feed()
	want(t, "output", tc.output(), "RST_STREAM 1 PROTOCOL_ERROR")
}

// The request half of a stream: what comes after END_STREAM, after a
// reset, on streams never opened.
func TestStreamStates(t *testing.T) {
	t.Run("DATA after END_STREAM", func(t *testing.T) {
		tc := newClient(t, nil)
		tc.handshake()
		tc.get(1, "/")
		tc.fw.WriteData(1, true, []byte("x"))
		tc.feed()
		want(t, "events", tc.takeEvents(), "request 1 GET / end=true", "reset 1 STREAM_CLOSED ours=true")
		want(t, "output", tc.output(), "RST_STREAM 1 STREAM_CLOSED")
		if err := tc.c.WriteHeaders(1, 200, nil, true); err != ErrStreamClosed {
			t.Fatalf("write on a reset stream: %v", err)
		}
	})
	t.Run("DATA beyond content-length", func(t *testing.T) {
		tc := newClient(t, nil)
		tc.handshake()
		tc.post(1, "/", "content-length", "3")
		tc.fw.WriteData(1, false, []byte("abcd"))
		tc.get(3, "/")
		tc.feed()
		want(t, "events", tc.takeEvents(), "request 1 POST / end=false", "reset 1 PROTOCOL_ERROR ours=true", "request 3 GET / end=true")
		if len(tc.body[1]) != 0 {
			t.Fatalf("excess body handed on: %q", tc.body[1])
		}
	})
	t.Run("frames on a stream we reset are ignored", func(t *testing.T) {
		tc := newClient(t, nil)
		tc.handshake()
		tc.post(1, "/")
		tc.feed()
		tc.c.Reset(1, ErrCodeInternal)
		tc.fw.WriteData(1, false, []byte("late"))
		tc.encBuf.Reset()
		tc.enc.WriteField(hpackField("x-t", "1"))
		tc.fw.WriteHeaders(headersParam(1, tc.encBuf.Bytes(), true))
		tc.fw.WriteWindowUpdate(1, 100)
		tc.fw.WriteRSTStream(1, http2.ErrCodeCancel)
		tc.get(3, "/")
		tc.feed()
		want(t, "events", tc.takeEvents(), "request 1 POST / end=false", "request 3 GET / end=true")
		want(t, "output", tc.output(), "RST_STREAM 1 INTERNAL_ERROR")
	})
	t.Run("HEADERS on a closed stream", func(t *testing.T) {
		tc := newClient(t, nil)
		tc.handshake()
		tc.get(1, "/")
		tc.feed()
		tc.respond(1, "x")
		tc.get(1, "/")
		tc.feed()
		out := tc.output()
		want(t, "output", out[len(out)-1:], "GOAWAY 1 STREAM_CLOSED")
	})
	t.Run("lower stream id never opened", func(t *testing.T) {
		tc := newClient(t, nil)
		tc.handshake()
		tc.get(5, "/")
		tc.get(3, "/")
		tc.feed()
		want(t, "output", tc.output(), "GOAWAY 5 PROTOCOL_ERROR")
		if !tc.closed || !tc.c.Finished() {
			t.Fatal("connection not ended")
		}
	})
	t.Run("response before the body ends", func(t *testing.T) {
		tc := newClient(t, nil)
		tc.handshake()
		tc.post(1, "/")
		tc.fw.WriteData(1, false, []byte("part"))
		tc.feed()
		tc.c.WriteHeaders(1, 413, nil, true)
		tc.drain()
		tc.fw.WriteData(1, true, []byte("rest"))
		tc.feed()
		want(t, "output", tc.output(), "HEADERS 1 end=true :status=413", "RST_STREAM 1 NO_ERROR")
		want(t, "events", tc.takeEvents(), "request 1 POST / end=false", "data 1")
	})
}

// The exchange may reset a stream while one of its frames is arriving:
// the rest of the frame is dropped (and credited), the stream's memory
// is not touched again.
func TestResetWhileFrameArrives(t *testing.T) {
	tc := newClient(t, func(c *Config) { c.ConnWindowSize = 65535 })
	tc.handshake()
	tc.post(1, "/")
	tc.post(3, "/")
	tc.feed()
	tc.takeEvents()
	tc.fw.WriteDataPadded(1, false, make([]byte, 16000), make([]byte, 100))
	tc.encBuf.Reset()
	tc.enc.WriteField(hpackField("x-trailer", "1"))
	blk := append([]byte(nil), tc.encBuf.Bytes()...)
	tc.fw.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: blk[:1], EndStream: true})
	tc.fw.WriteContinuation(3, true, blk[1:])
	in := append([]byte(nil), tc.w.Bytes()...)
	tc.w.Reset()
	// Feed half the DATA frame, reset stream 1, feed the rest up to the
	// CONTINUATION, reset stream 3, feed the rest.
	feed := func(b []byte) {
		for len(b) > 0 {
			n, ev := tc.c.Feed(b, 0)
			b = b[n:]
			tc.record(ev)
		}
	}
	feed(in[:8000])
	tc.c.Reset(1, ErrCodeCancel)
	cont := len(in) - (frameHeaderLen + len(blk) - 1)
	feed(in[8000:cont])
	tc.c.Reset(3, ErrCodeCancel)
	tc.pool.getStream() // take the released streams out of the pool and
	tc.pool.getStream() // scribble on them, as a new stream would
	feed(in[cont:])
	tc.get(5, "/")
	tc.feed()
	ev := tc.takeEvents()
	want(t, "events", ev[len(ev)-1:], "request 5 GET / end=true")
	for _, e := range ev {
		if strings.HasPrefix(e, "closed") || strings.HasPrefix(e, "trailers") {
			t.Fatalf("event %s", e)
		}
	}
	// Every byte of the 16,101-byte frame came back to the connection
	// window (it was consumed by no one).
	if w := tc.c.recvWindow + tc.c.recvUnacked; w != 65535 {
		t.Fatalf("connection window %d, want 65535", w)
	}
}

// Even stream ids are the server's, and it opens none: frames on them
// are frames on idle streams.
func TestEvenStreamIsIdle(t *testing.T) {
	for name, frame := range map[string]func(tc *tclient){
		"DATA":          func(tc *tclient) { tc.fw.WriteData(2, true, []byte("x")) },
		"RST_STREAM":    func(tc *tclient) { tc.fw.WriteRSTStream(2, http2.ErrCodeCancel) },
		"WINDOW_UPDATE": func(tc *tclient) { tc.fw.WriteWindowUpdate(2, 100) },
	} {
		tc := newClient(t, nil)
		tc.handshake()
		tc.get(5, "/")
		frame(tc)
		tc.feed()
		if out := tc.output(); out[len(out)-1] != "GOAWAY 5 PROTOCOL_ERROR" {
			t.Fatalf("%s on stream 2: %v", name, out)
		}
	}
}

// A PRIORITY frame may name an idle stream, but a stream error on one
// cannot be a RST_STREAM (RFC 9113 §6.4: none for an idle stream): a
// PRIORITY of the wrong length, or one that depends on itself, naming a
// stream the client never opened ends the connection instead. (Found by
// FuzzHTTP2Engine: a RST_STREAM on the even stream 808464432.)
func TestNoResetOnIdleStream(t *testing.T) {
	for name, c := range map[string]struct {
		frame func(tc *tclient)
		want  string
	}{
		"short PRIORITY on an even stream": {func(tc *tclient) { tc.fw.WriteRawFrame(http2.FramePriority, 0, 2, []byte{0, 0, 0, 0}) }, "GOAWAY 5 FRAME_SIZE_ERROR"},
		"short PRIORITY on a later stream": {func(tc *tclient) { tc.fw.WriteRawFrame(http2.FramePriority, 0, 9, []byte{0, 0, 0, 0}) }, "GOAWAY 5 FRAME_SIZE_ERROR"},
		"PRIORITY on itself, later stream": {func(tc *tclient) { tc.fw.WritePriority(9, http2.PriorityParam{StreamDep: 9}) }, "GOAWAY 5 PROTOCOL_ERROR"},
	} {
		tc := newClient(t, nil)
		tc.handshake()
		tc.get(5, "/")
		c.frame(tc)
		tc.feed()
		out := tc.output()
		for _, f := range out {
			if strings.HasPrefix(f, "RST_STREAM") {
				t.Errorf("%s: %s on an idle stream: %v", name, f, out)
			}
		}
		if out[len(out)-1] != c.want {
			t.Errorf("%s: %v, want %s last", name, out, c.want)
		}
	}
}

func TestSniffPreface(t *testing.T) {
	for _, c := range []struct {
		in         string
		isH2, sure bool
	}{
		{"", false, false},
		{"PRI * HTTP/2.0\r\n", false, false},
		{clientPreface, true, true},
		{clientPreface + "\x00\x00", true, true},
		{"GET / HTTP/1.1\r\n", false, true},
		{"PRI * HTTP/1.1", false, true},
	} {
		if isH2, sure := SniffPreface([]byte(c.in)); isH2 != c.isH2 || sure != c.sure {
			t.Errorf("%q: %v %v, want %v %v", c.in, isH2, sure, c.isH2, c.sure)
		}
	}
}
