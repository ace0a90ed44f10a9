package http2

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func lastOutput(t *testing.T, tc *tclient) string {
	t.Helper()
	out := tc.output()
	if len(out) == 0 {
		t.Fatal("no output")
	}
	return out[len(out)-1]
}

func TestMaxConcurrentStreams(t *testing.T) {
	tc := newClient(t, func(c *Config) { c.MaxConcurrentStreams = 3 })
	tc.handshake()
	for id := uint32(1); id <= 7; id += 2 {
		tc.get(id, "/")
	}
	tc.feed()
	want(t, "events", tc.takeEvents(), "request 1 GET / end=true", "request 3 GET / end=true", "request 5 GET / end=true", "refused 7 0")
	want(t, "output", tc.output(), "RST_STREAM 7 REFUSED_STREAM")
	tc.respond(1, "done")
	tc.get(9, "/")
	tc.feed()
	want(t, "events", tc.takeEvents(), "request 9 GET / end=true")
}

// An HPACK bomb: one large table entry referenced over and over decodes
// to far more than the block's size. Decoding stops keeping fields at
// MaxHeaderListSize and the request is answered 431, the connection (and
// its HPACK state) intact.
func TestHPACKBomb(t *testing.T) {
	tc := newClient(t, nil)
	tc.handshake()
	big := hpack.HeaderField{Name: "x-bomb", Value: strings.Repeat("b", 4000)}
	tc.encBuf.Reset()
	for _, f := range []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "https"}, {Name: ":authority", Value: "a"}, {Name: ":path", Value: "/"}} {
		tc.enc.WriteField(f)
	}
	for i := 0; i < 1000; i++ {
		tc.enc.WriteField(big) // first a literal, then a one-byte index
	}
	block := tc.encBuf.Bytes()
	if len(block) > 6000 {
		t.Fatalf("block of %d bytes is no bomb", len(block))
	}
	tc.fw.WriteHeaders(headersParam(1, block, true))
	tc.feed()
	want(t, "events", tc.takeEvents(), "refused 1 431")
	want(t, "output", tc.output(), "HEADERS 1 end=true :status=431 content-length=0")
	if m := tc.c.Memory(); m > 16<<10 {
		t.Fatalf("connection holds %d bytes after the bomb", m)
	}
	// The table survived: the next request indexes the entry too.
	tc.get(3, "/ok", "x-bomb", big.Value)
	tc.feed()
	want(t, "next request", tc.takeEvents(), "request 3 GET /ok end=true")
}

// Rapid Reset (CVE-2023-44487): streams opened and reset at once.
func TestRapidReset(t *testing.T) {
	tc := newClient(t, func(c *Config) { c.MaxResets = 50 })
	tc.handshake()
	id := uint32(1)
	for i := 0; i < 50; i++ {
		tc.get(id, "/")
		tc.fw.WriteRSTStream(id, http2.ErrCodeCancel)
		id += 2
	}
	tc.feed()
	if tc.closed {
		t.Fatal("closed within the budget")
	}
	// A new window of time: the budget is whole again.
	tc.now += int64(10 * time.Second)
	for i := 0; i < 50; i++ {
		tc.get(id, "/")
		tc.fw.WriteRSTStream(id, http2.ErrCodeCancel)
		id += 2
	}
	tc.feed()
	if tc.closed {
		t.Fatal("closed within the budget of a new window")
	}
	tc.get(id, "/")
	tc.fw.WriteRSTStream(id, http2.ErrCodeCancel)
	tc.feed()
	if !tc.closed || !strings.HasSuffix(lastOutput(t, tc), "ENHANCE_YOUR_CALM") {
		t.Fatal("rapid reset not stopped")
	}
}

// MadeYouReset (CVE-2025-8671): the client makes the server reset
// streams with protocol errors; those resets count like its own.
func TestMadeYouReset(t *testing.T) {
	provoke := map[string]func(tc *tclient, id uint32){
		"zero WINDOW_UPDATE": func(tc *tclient, id uint32) { tc.fw.WriteWindowUpdate(id, 0) },
		"window overflow":    func(tc *tclient, id uint32) { tc.fw.WriteWindowUpdate(id, 1<<31-1) },
		"DATA after END_STREAM": func(tc *tclient, id uint32) {
			tc.fw.WriteData(id, true, []byte("x"))
			tc.fw.WriteData(id, true, []byte("x"))
		},
		"content-length mismatch": func(tc *tclient, id uint32) { tc.fw.WriteData(id, true, []byte("too long")) },
		"self-dependency": func(tc *tclient, id uint32) {
			tc.fw.WritePriority(id, http2.PriorityParam{StreamDep: id})
		},
		"malformed request": nil,
	}
	for name, bad := range provoke {
		t.Run(name, func(t *testing.T) {
			tc := newClient(t, func(c *Config) { c.MaxResets = 20 })
			tc.handshake()
			for i := 0; i < 21; i++ {
				id := uint32(2*i + 1)
				if bad == nil {
					tc.headers(id, true, ":method", "GET", ":path", "/")
				} else {
					tc.post(id, "/", "content-length", "1")
					bad(tc, id)
				}
				tc.feed()
				if i < 20 && tc.closed {
					t.Fatalf("closed after %d resets", i+1)
				}
			}
			if !tc.closed || !strings.HasSuffix(lastOutput(t, tc), "ENHANCE_YOUR_CALM") {
				t.Fatal("provoked resets not stopped")
			}
		})
	}
}

// CONTINUATION flood (CVE-2023-45288): a header block that never ends.
func TestContinuationFlood(t *testing.T) {
	t.Run("frames", func(t *testing.T) {
		tc := newClient(t, nil)
		tc.handshake()
		tc.fw.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x82}})
		for i := 0; i < 40; i++ {
			tc.fw.WriteContinuation(1, false, []byte{0x84})
		}
		tc.feed()
		if !tc.closed || lastOutput(t, tc) != "GOAWAY 1 ENHANCE_YOUR_CALM" {
			t.Fatal("endless CONTINUATION not stopped")
		}
	})
	t.Run("bytes", func(t *testing.T) {
		tc := newClient(t, nil)
		tc.handshake()
		frag := make([]byte, 16384)
		for i := range frag {
			frag[i] = 0x82 // :method GET, over and over
		}
		tc.fw.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: frag})
		for i := 0; i < 10; i++ {
			tc.fw.WriteContinuation(1, false, frag)
		}
		tc.feed()
		if !tc.closed || lastOutput(t, tc) != "GOAWAY 1 ENHANCE_YOUR_CALM" {
			t.Fatal("oversized header block not stopped")
		}
		if m := tc.c.Memory(); m > 64<<10 {
			t.Fatalf("connection holds %d bytes", m)
		}
	})
	t.Run("empty frames cost", func(t *testing.T) {
		tc := newClient(t, func(c *Config) { c.MaxControlFrames = 10; c.MaxHeaderBlockFrames = 1000 })
		tc.handshake()
		tc.fw.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x82}})
		for i := 0; i < 11; i++ {
			tc.fw.WriteContinuation(1, false, nil)
		}
		tc.feed()
		if !tc.closed || lastOutput(t, tc) != "GOAWAY 1 ENHANCE_YOUR_CALM" {
			t.Fatal("empty CONTINUATION frames not counted")
		}
	})
}

// Floods of frames that cost work and carry no request: each kind is
// allowed MaxControlFrames per ControlWindow, then the connection ends.
func TestControlFloods(t *testing.T) {
	floods := map[string]func(tc *tclient){
		"SETTINGS":            func(tc *tclient) { tc.fw.WriteSettings() },
		"PING":                func(tc *tclient) { tc.fw.WritePing(false, [8]byte{}) },
		"PRIORITY":            func(tc *tclient) { tc.fw.WritePriority(99, http2.PriorityParam{StreamDep: 1, Weight: 1}) },
		"empty DATA":          func(tc *tclient) { tc.fw.WriteData(1, false, nil) },
		"tiny WINDOW_UPDATE":  func(tc *tclient) { tc.fw.WriteWindowUpdate(0, 1) },
		"RST on closed":       func(tc *tclient) { tc.fw.WriteRSTStream(1, http2.ErrCodeCancel) },
		"unknown frame types": func(tc *tclient) { tc.fw.WriteRawFrame(0x20, 0, 0, []byte("x")) },
		"PING ACK":            func(tc *tclient) { tc.fw.WritePing(true, [8]byte{}) },
		"SETTINGS ACK":        func(tc *tclient) { tc.fw.WriteSettingsAck() },
		"WINDOW_UPDATE on closed": func(tc *tclient) {
			tc.fw.WriteWindowUpdate(1, 1<<20)
		},
	}
	for name, frame := range floods {
		t.Run(name, func(t *testing.T) {
			tc := newClient(t, func(c *Config) { c.MaxControlFrames = 100 })
			tc.handshake()
			if name == "RST on closed" || name == "WINDOW_UPDATE on closed" {
				tc.get(1, "/")
				tc.feed()
				tc.respond(1, "x")
			} else {
				tc.post(1, "/")
			}
			// A new window of time (the handshake's frames counted in
			// the first), its whole budget used twice over time.
			tc.now += int64(10 * time.Second)
			for i := 0; i < 100; i++ {
				frame(tc)
			}
			tc.feed()
			if tc.closed {
				t.Fatal("closed within the budget")
			}
			tc.now += int64(10 * time.Second)
			for i := 0; i < 100; i++ {
				frame(tc)
			}
			tc.feed()
			if tc.closed {
				t.Fatal("closed within the budget of a new window")
			}
			frame(tc)
			tc.feed()
			if !tc.closed || !strings.HasSuffix(lastOutput(t, tc), "ENHANCE_YOUR_CALM") {
				t.Fatal("flood not stopped")
			}
		})
	}
}

// A client that asks for acknowledgements and never reads them.
func TestUnreadOutput(t *testing.T) {
	tc := newClient(t, func(c *Config) { c.MaxControlFrames = 1 << 20; c.MaxPendingOutput = 128 << 10 })
	tc.handshake()
	for i := 0; i < 10000; i++ {
		tc.fw.WritePing(false, [8]byte{})
	}
	in := tc.w.Bytes()
	for len(in) > 0 && !tc.closed {
		n, ev := tc.c.Feed(in, 0) // Output never sent
		in = in[n:]
		tc.record(ev)
	}
	if !tc.closed {
		t.Fatal("unread output not stopped")
	}
	if p := len(tc.c.Output()); p > 128<<10+64 {
		t.Fatalf("%d bytes pending", p)
	}
}

// Slow readers on many streams: what waits for the socket stays within
// the output buffer, whatever the exchange offers.
func TestSlowReaderManyStreams(t *testing.T) {
	tc := newClient(t, nil)
	tc.handshake()
	tc.fw.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30})
	tc.fw.WriteWindowUpdate(0, 1<<30)
	for id := uint32(1); id < 200; id += 2 {
		tc.get(id, "/big")
	}
	tc.feed()
	tc.output()
	body := make([]byte, 1<<20)
	total := 0
	for round := 0; round < 3; round++ {
		for id := uint32(1); id < 200; id += 2 {
			if round == 0 {
				tc.c.WriteHeaders(id, 200, nil, false)
			}
			n, err := tc.c.WriteData(id, body, false)
			if err != nil {
				t.Fatal(err)
			}
			total += n
		}
	}
	if p := len(tc.c.Output()); p > 64<<10+100*64 {
		t.Fatalf("%d bytes queued for a client that does not read", p)
	}
	if total > 64<<10 {
		t.Fatalf("accepted %d bytes of body", total)
	}
	if m := tc.c.Memory(); m > 200<<10 {
		t.Fatalf("connection holds %d bytes", m)
	}
}
