package http2

import (
	"strings"
	"testing"

	"frontdoor/proxy/http1"

	"golang.org/x/net/http2"
)

func TestResponseHeadAcrossFrames(t *testing.T) {
	tc := newClient(t, nil)
	tc.handshake()
	tc.get(1, "/")
	tc.feed()
	var hs []http1.Header
	for i := 0; i < 6; i++ {
		hs = append(hs, fields("X-Big-"+string(rune('a'+i)), strings.Repeat("v", 9000))...)
	}
	if err := tc.c.WriteHeaders(1, 200, hs, true); err != nil {
		t.Fatal(err)
	}
	tc.drain()
	fs := tc.frames()
	var kinds []string
	for _, f := range fs {
		kinds = append(kinds, f.Header().Type.String())
		if f.Header().Length > 16384 {
			t.Fatalf("frame of %d bytes", f.Header().Length)
		}
	}
	if len(fs) < 3 || kinds[0] != "HEADERS" || kinds[len(kinds)-1] != "CONTINUATION" {
		t.Fatalf("frames %v", kinds)
	}
	out := tc.texts(fs)
	if len(out) != 1 || !strings.HasPrefix(out[0], "HEADERS 1 end=true :status=200 x-big-a=vvv") || strings.Count(out[0], "x-big-") != 6 {
		t.Fatalf("head %.200q", out)
	}
}

func TestInterimResponseAndTrailers(t *testing.T) {
	tc := newClient(t, nil)
	tc.handshake()
	tc.post(1, "/", "expect", "100-continue")
	tc.feed()
	if !tc.reqs[1].Expect100 {
		t.Fatal("Expect100 not set")
	}
	if err := tc.c.WriteHeaders(1, 100, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := tc.c.WriteHeaders(1, 101, nil, false); err != ErrStatus {
		t.Fatalf("101 on HTTP/2: %v", err)
	}
	if _, err := tc.c.WriteData(1, []byte("x"), false); err != ErrNoHead {
		t.Fatalf("data before the final head: %v", err)
	}
	tc.fw.WriteData(1, true, []byte("body"))
	tc.feed()
	tc.c.WriteHeaders(1, 200, fields("Trailer", "x-sum"), false)
	tc.c.WriteData(1, []byte("ok"), false)
	if err := tc.c.WriteTrailers(1, fields("x-sum", "42", "Connection", "close")); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.c.WriteData(1, []byte("late"), false); err != ErrStreamClosed {
		t.Fatalf("data after the trailers: %v", err)
	}
	tc.drain()
	want(t, "output", tc.output(),
		"HEADERS 1 end=false :status=100",
		"HEADERS 1 end=false :status=200 trailer=x-sum",
		"DATA 1 len=2 end=false",
		"HEADERS 1 end=true x-sum=42")
}

func TestOptionsAsterisk(t *testing.T) {
	tc := newClient(t, nil)
	tc.handshake()
	tc.headers(1, true, ":method", "OPTIONS", ":scheme", "https", ":authority", "a", ":path", "*")
	tc.headers(3, true, ":method", "GET", ":scheme", "https", ":authority", "a", ":path", "*")
	tc.feed()
	want(t, "events", tc.takeEvents(), "request 1 OPTIONS * end=true", "refused 3 0")
	want(t, "output", tc.output(), "RST_STREAM 3 PROTOCOL_ERROR")
}

// The client's SETTINGS_MAX_FRAME_SIZE sizes our DATA frames.
func TestPeerMaxFrameSize(t *testing.T) {
	tc := newClient(t, nil)
	tc.handshake()
	tc.fw.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 15}, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	tc.fw.WriteWindowUpdate(0, 1<<20)
	tc.get(1, "/")
	tc.feed()
	tc.c.WriteHeaders(1, 200, nil, false)
	if n, _ := tc.c.WriteData(1, make([]byte, 40000), true); n != 40000 {
		t.Fatalf("wrote %d", n)
	}
	tc.drain()
	out := tc.output()
	want(t, "frames", out[len(out)-2:], "DATA 1 len=32768 end=false", "DATA 1 len=7232 end=true")
}
