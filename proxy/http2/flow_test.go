package http2

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

func TestSendWindows(t *testing.T) {
	tc := newClient(t, nil)
	tc.handshake()
	tc.fw.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
	tc.get(1, "/")
	tc.feed()
	tc.takeEvents()
	tc.output()
	body := bytes.Repeat([]byte("x"), 100)
	tc.c.WriteHeaders(1, 200, nil, false)
	n, _ := tc.c.WriteData(1, body, true)
	if n != 10 {
		t.Fatalf("wrote %d with a window of 10", n)
	}
	tc.drain()
	want(t, "output", tc.output(), "HEADERS 1 end=false :status=200", "DATA 1 len=10 end=false")
	// A stream update reopens the stream.
	tc.fw.WriteWindowUpdate(1, 5)
	tc.feed()
	want(t, "events", tc.takeEvents(), "window 1")
	n, _ = tc.c.WriteData(1, body[10:], true)
	if n != 5 {
		t.Fatalf("wrote %d after an update of 5", n)
	}
	// Lowering SETTINGS_INITIAL_WINDOW_SIZE makes the window negative:
	// it takes two updates to get back above zero.
	tc.fw.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	tc.fw.WriteWindowUpdate(1, 5)
	tc.feed()
	if n, _ = tc.c.WriteData(1, body[15:], true); n != 0 {
		t.Fatalf("wrote %d with a window of -5", n)
	}
	tc.fw.WriteWindowUpdate(1, 100)
	tc.feed()
	want(t, "events", tc.takeEvents(), "window 1")
	if n, _ = tc.c.WriteData(1, body[15:], true); n != 85 {
		t.Fatalf("wrote %d of 85 with a window of 95", n)
	}
	// The connection window: 65,535 minus the 100 bytes above, then
	// nothing until the client adds to it.
	tc.fw.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	tc.get(3, "/")
	tc.feed()
	tc.takeEvents()
	big := make([]byte, 70000)
	tc.c.WriteHeaders(3, 200, nil, false)
	n, _ = tc.c.WriteData(3, big, true)
	if n != 65535-100 {
		t.Fatalf("wrote %d, connection window %d", n, 65535-100)
	}
	tc.fw.WriteWindowUpdate(0, 10000)
	tc.feed()
	want(t, "events", tc.takeEvents(), "window 0")
	if m, _ := tc.c.WriteData(3, big[n:], true); m != 70000-n {
		t.Fatalf("wrote %d of the rest %d", m, 70000-n)
	}
	tc.drain()
	fs := tc.output()
	if fs[len(fs)-1] != "DATA 3 len=4565 end=true" {
		t.Fatalf("last frame %q", fs[len(fs)-1])
	}
	total := 0
	for _, f := range fs {
		var id, l int
		var end bool
		if n, _ := fmt.Sscanf(f, "DATA %d len=%d end=%t", &id, &l, &end); n == 3 && id == 3 {
			if l > 16384 {
				t.Fatalf("frame %q above the client's frame size", f)
			}
			total += l
		}
	}
	if total != 70000 {
		t.Fatalf("%d bytes of DATA on stream 3", total)
	}
}

// WINDOW_UPDATE overflows and zero increments (RFC 9113 §6.9.1).
func TestWindowUpdateErrors(t *testing.T) {
	tc := newClient(t, nil)
	tc.handshake()
	tc.post(1, "/")
	tc.fw.WriteWindowUpdate(1, 1<<31-1)
	tc.post(3, "/")
	tc.fw.WriteWindowUpdate(3, 0)
	tc.feed()
	want(t, "events", tc.takeEvents(), "request 1 POST / end=false", "reset 1 FLOW_CONTROL_ERROR ours=true",
		"request 3 POST / end=false", "reset 3 PROTOCOL_ERROR ours=true")
	tc.fw.WriteWindowUpdate(0, 1<<31-1)
	tc.feed()
	out := tc.output()
	want(t, "output", out[len(out)-1:], "GOAWAY 3 FLOW_CONTROL_ERROR")
}

func TestReceiveWindows(t *testing.T) {
	tc := newClient(t, func(c *Config) { c.InitialWindowSize = 65535; c.ConnWindowSize = 1 << 20 })
	tc.handshake()
	tc.post(1, "/up")
	chunk := make([]byte, 16384)
	for i := 0; i < 3; i++ {
		tc.fw.WriteData(1, false, chunk)
	}
	tc.feed()
	tc.takeEvents()
	// Nothing consumed: no window update yet.
	want(t, "no credit before Consume", tc.output())
	tc.c.Consume(1, 3*16384)
	tc.drain()
	want(t, "credit", tc.output(), "WINDOW_UPDATE 1 49152")
	// Past the stream window: FLOW_CONTROL_ERROR on the stream.
	for i := 0; i < 5; i++ {
		tc.fw.WriteData(1, false, chunk)
	}
	tc.feed()
	ev := tc.takeEvents()
	want(t, "events", ev[len(ev)-1:], "reset 1 FLOW_CONTROL_ERROR ours=true")
	// The connection window still sees every byte: 8 frames received,
	// 3 consumed, 5 dropped with the stream; half of 1 MiB owed → update.
	tc.post(3, "/up")
	for i := 0; i < 60; i++ {
		tc.fw.WriteData(3, false, chunk[:10000])
		tc.feed()
		tc.c.Consume(3, 10000)
	}
	tc.drain()
	var conn int
	for _, f := range tc.output() {
		if strings.HasPrefix(f, "WINDOW_UPDATE 0 ") {
			conn++
		}
	}
	if conn != 1 {
		t.Fatalf("%d connection window updates", conn)
	}
}

// Body handed to the exchange and never consumed returns to the
// connection window when its stream closes, so abandoned streams cannot
// starve the connection.
func TestUnconsumedBodyCredited(t *testing.T) {
	tc := newClient(t, func(c *Config) { c.ConnWindowSize = 65535; c.InitialWindowSize = 65535 })
	tc.handshake()
	chunk := make([]byte, 16000)
	for id := uint32(1); id < 40; id += 2 {
		tc.post(id, "/")
		tc.fw.WriteData(id, false, chunk)
		tc.fw.WriteRSTStream(id, http2.ErrCodeCancel)
		tc.feed()
	}
	for _, e := range tc.takeEvents() {
		if strings.HasPrefix(e, "closed") {
			t.Fatalf("connection ended: %s", e)
		}
	}
	if tc.c.recvWindow < 32000 {
		t.Fatalf("connection receive window %d: credit leaked", tc.c.recvWindow)
	}
}
