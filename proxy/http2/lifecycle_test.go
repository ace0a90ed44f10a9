package http2

import (
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// A graceful shutdown: GOAWAY admitting everything and a PING; once the
// PING comes back, the final GOAWAY names the last stream served; streams
// above it are refused, those below finish; then the connection is done.
func TestGracefulShutdown(t *testing.T) {
	tc := newClient(t, nil)
	tc.handshake()
	tc.get(1, "/")
	tc.feed()
	tc.takeEvents()
	tc.c.Shutdown(tc.now)
	tc.drain()
	want(t, "first GOAWAY", tc.output(), "GOAWAY 2147483647 NO_ERROR", `PING ack=false "draining"`)
	if tc.c.Finished() {
		t.Fatal("finished with a stream open")
	}
	tc.get(3, "/") // in flight when the client saw the first GOAWAY
	tc.fw.WritePing(true, drainPing)
	tc.get(5, "/") // after the client saw it: it should not have
	tc.feed()
	want(t, "events", tc.takeEvents(), "request 3 GET / end=true", "refused 5 0")
	want(t, "final GOAWAY", tc.output(), "GOAWAY 3 NO_ERROR", "RST_STREAM 5 REFUSED_STREAM")
	tc.respond(1, "a")
	if tc.c.Finished() {
		t.Fatal("finished with stream 3 open")
	}
	tc.respond(3, "b")
	if !tc.c.Finished() {
		t.Fatal("not finished after the last stream")
	}
}

// Without the PING's answer the final GOAWAY goes out at DrainTimeout.
func TestShutdownWithoutPingAck(t *testing.T) {
	tc := newClient(t, nil)
	tc.handshake()
	tc.c.Shutdown(tc.now)
	tc.drain()
	tc.output()
	if d := tc.c.Deadline(); d != tc.now+int64(5*time.Second) {
		t.Fatalf("deadline %d", d)
	}
	tc.c.Tick(tc.now + int64(5*time.Second))
	tc.drain()
	want(t, "final GOAWAY", tc.output(), "GOAWAY 0 NO_ERROR")
	if !tc.c.Finished() || tc.c.Deadline() != 0 {
		t.Fatal("not finished")
	}
}

func TestSettingsTimeout(t *testing.T) {
	tc := newClient(t, nil)
	tc.w.WriteString(clientPreface)
	tc.fw.WriteSettings()
	tc.feed()
	tc.output()
	if tc.c.Deadline() != int64(10*time.Second) {
		t.Fatalf("deadline %d", tc.c.Deadline())
	}
	if ev := tc.c.Tick(int64(9 * time.Second)); ev.Kind != EventNone {
		t.Fatalf("early: %v", ev.Kind)
	}
	ev := tc.c.Tick(int64(10 * time.Second))
	if ev.Kind != EventClosed || ev.Code != ErrCodeSettingsTimeout {
		t.Fatalf("event %v %v", ev.Kind, ev.Code)
	}
	tc.drain()
	want(t, "output", tc.output(), "GOAWAY 0 SETTINGS_TIMEOUT")
	// Acknowledged: no timer.
	tc = newClient(t, nil)
	tc.handshake()
	if tc.c.Deadline() != 0 {
		t.Fatal("timer left after the acknowledgement")
	}
}

func TestClientGoAway(t *testing.T) {
	tc := newClient(t, nil)
	tc.handshake()
	tc.get(1, "/")
	tc.fw.WriteGoAway(1, http2.ErrCodeNo, nil)
	tc.feed()
	want(t, "events", tc.takeEvents(), "request 1 GET / end=true", "goaway NO_ERROR")
	if tc.c.Finished() {
		t.Fatal("finished before stream 1")
	}
	tc.respond(1, "x")
	if !tc.c.Finished() {
		t.Fatal("not finished")
	}
}

func TestBadPreface(t *testing.T) {
	tc := newClient(t, nil)
	tc.w.WriteString("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	tc.feed()
	want(t, "events", tc.takeEvents(), "closed PROTOCOL_ERROR")
	// First frame other than SETTINGS.
	tc = newClient(t, nil)
	tc.w.WriteString(clientPreface)
	tc.fw.WritePing(false, [8]byte{})
	tc.feed()
	want(t, "events", tc.takeEvents(), "closed PROTOCOL_ERROR")
}

func TestCloseDropsEverything(t *testing.T) {
	tc := newClient(t, nil)
	tc.handshake()
	tc.post(1, "/")
	tc.feed()
	tc.c.Close(ErrCodeNo)
	tc.drain()
	want(t, "output", tc.output(), "GOAWAY 1 NO_ERROR")
	if !tc.c.Finished() || tc.c.Streams() != 0 {
		t.Fatal("streams left")
	}
	if n, ev := tc.c.Feed([]byte("anything"), 0); n != 8 || ev.Kind != EventNone {
		t.Fatal("input after the end not dropped")
	}
	tc.c.Release()
}
