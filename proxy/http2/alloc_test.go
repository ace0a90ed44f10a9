package http2

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"

	"frontdoor/proxy/http1"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// warmClient is a client's side of a connection as raw bytes: the preface
// with large windows, then requests built from templates without
// allocating.
type warmClient struct {
	c      *Conn
	get    []byte // HEADERS frame of a GET, stream id patched per request
	post   []byte // HEADERS frame of a POST
	data   []byte // DATA frame with END_STREAM, stream id patched
	nextID uint32
}

func newWarmClient(t testing.TB, cfg *Config, pool *Pool, headers []hpack.HeaderField) *warmClient {
	var b bytes.Buffer
	b.WriteString(clientPreface)
	fw := http2.NewFramer(&b, nil)
	fw.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30})
	fw.WriteWindowUpdate(0, 1<<30)
	fw.WriteSettingsAck()
	w := &warmClient{c: NewConn(cfg, pool, 0), nextID: 1}
	w.feed(t, b.Bytes(), EventNone)
	w.drain()
	// The first request fills the table; the template is a later one, as
	// a browser sends on a warm connection.
	var blk bytes.Buffer
	enc := hpack.NewEncoder(&blk)
	frame := func(end bool, fields []hpack.HeaderField) []byte {
		blk.Reset()
		for _, f := range fields {
			enc.WriteField(f)
		}
		var fb bytes.Buffer
		http2.NewFramer(&fb, nil).WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk.Bytes(), EndHeaders: true, EndStream: end})
		return append([]byte(nil), fb.Bytes()...)
	}
	// Every field of the templates must be in both tables already, so
	// that replaying them inserts nothing: first a GET and a POST that
	// fill the tables, then their twins, all indexed, as templates.
	postFields := append([]hpack.HeaderField{{Name: ":method", Value: "POST"}}, headers[1:]...)
	postFields = append(postFields, hpack.HeaderField{Name: "content-length", Value: "512"})
	var db bytes.Buffer
	http2.NewFramer(&db, nil).WriteData(1, true, make([]byte, 512))
	w.data = db.Bytes()
	for _, f := range [][]byte{frame(true, headers), frame(false, postFields)} {
		w.patch(f, w.nextID)
		w.feed(t, f, EventRequest)
		if f[4]&flagEndStream == 0 {
			w.patch(w.data, w.nextID)
			w.feed(t, w.data, EventData)
		}
		w.respond(t, w.nextID, []byte("warm"))
		w.nextID += 2
	}
	w.get = frame(true, headers)
	w.post = frame(false, postFields)
	return w
}

func (w *warmClient) patch(frame []byte, id uint32) { binary.BigEndian.PutUint32(frame[5:9], id) }

// feed hands in to the Conn and checks that the events include one of
// the kind expected (EventNone: nothing in particular).
func (w *warmClient) feed(t testing.TB, in []byte, expect EventKind) {
	seen := expect == EventNone
	for len(in) > 0 {
		n, ev := w.c.Feed(in, 0)
		in = in[n:]
		if ev.Kind == expect {
			seen = true
		}
		if ev.Kind == EventData {
			w.c.Consume(ev.Stream, len(ev.Data))
		}
		if ev.Kind == EventClosed || ev.Kind == EventReset || ev.Kind == EventRefused {
			t.Fatalf("event %v: %v", ev.Kind, ev.Err)
		}
	}
	if !seen {
		t.Fatalf("no %v event", expect)
	}
}

var responseFields = []http1.Header{
	{Name: []byte("Content-Type"), Value: []byte("text/css"), ID: http1.HeaderContentType},
	{Name: []byte("Content-Length"), Value: []byte("1024"), ID: http1.HeaderContentLength},
	{Name: []byte("Last-Modified"), Value: []byte("Sun, 06 Dec 2026 10:00:00 GMT")},
	{Name: []byte("ETag"), Value: []byte(`"5f3a-400"`)},
	{Name: []byte("Cache-Control"), Value: []byte("public, max-age=31536000, immutable")},
}

func (w *warmClient) respond(t testing.TB, id uint32, body []byte) {
	if err := w.c.WriteHeaders(id, 200, responseFields, false); err != nil {
		t.Fatal(err)
	}
	if n, err := w.c.WriteData(id, body, true); err != nil || n != len(body) {
		t.Fatalf("WriteData: %d %v", n, err)
	}
	w.drain()
}

func (w *warmClient) drain() { w.c.Sent(len(w.c.Output())) }

// cycle runs one GET and one POST with a 512-byte body, each answered
// with a 1 KiB body.
func (w *warmClient) cycle(t testing.TB, body []byte) {
	w.patch(w.get, w.nextID)
	w.feed(t, w.get, EventRequest)
	w.respond(t, w.nextID, body)
	w.nextID += 2
	w.patch(w.post, w.nextID)
	w.feed(t, w.post, EventRequest)
	w.patch(w.data, w.nextID)
	w.feed(t, w.data, EventData)
	w.respond(t, w.nextID, body)
	w.nextID += 2
}

func TestZeroAllocationsPerRequest(t *testing.T) {
	cfg := Config{}
	cfg.Normalize()
	pool := NewPool()
	w := newWarmClient(t, &cfg, pool, browserRequest("/static/admin/css/base.css"))
	body := make([]byte, 1024)
	for i := 0; i < 10; i++ {
		w.cycle(t, body)
	}
	if a := testing.AllocsPerRun(1000, func() { w.cycle(t, body) }); a != 0 {
		t.Fatalf("%.2f allocations per GET+POST on a warm connection", a)
	}
}

// TestZeroAllocationsManyOpenStreams: 50 connections with 10 streams
// open each (h2load -c50 -m10) share a worker's pool; once all 500 are
// answered they go back to it, and the next burst takes them out again
// without allocating. The pool used to keep 256 of each kind and let the
// rest go to the garbage collector.
func TestZeroAllocationsManyOpenStreams(t *testing.T) {
	cfg := Config{}
	cfg.Normalize()
	pool := NewPool()
	const conns, streams = 50, 10
	clients := make([]*warmClient, conns)
	for i := range clients {
		clients[i] = newWarmClient(t, &cfg, pool, browserRequest("/static/admin/css/base.css"))
	}
	body := make([]byte, 64)
	burst := func() {
		for _, w := range clients {
			for j := uint32(0); j < streams; j++ {
				w.patch(w.get, w.nextID+2*j)
				w.feed(t, w.get, EventRequest)
			}
		}
		for _, w := range clients {
			for j := uint32(0); j < streams; j++ {
				w.respond(t, w.nextID+2*j, body)
			}
			w.nextID += 2 * streams
			w.c.Feed(nil, 0) // releases the closed streams
		}
	}
	burst()
	burst()
	if a := testing.AllocsPerRun(20, burst); a != 0 {
		t.Fatalf("%.2f allocations per burst of %d streams", a, conns*streams)
	}
}

func BenchmarkRequestCycle(b *testing.B) {
	cfg := Config{}
	cfg.Normalize()
	w := newWarmClient(b, &cfg, NewPool(), browserRequest("/static/admin/css/base.css"))
	body := make([]byte, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.cycle(b, body)
	}
}

// The memory an idle connection keeps: its Conn and its HPACK table,
// everything else back in the pool. Measured over many connections that
// each served requests and went idle.
func TestIdleConnectionMemory(t *testing.T) {
	cases := []struct {
		name    string
		headers []hpack.HeaderField
		max     int
	}{
		{"h2load-like request", pairs(":method", "GET", ":scheme", "https", ":authority", "127.0.0.1:8443", ":path", "/", "user-agent", "h2load nghttp2/1.52.0"), 1536},
		{"browser request", browserRequest("/static/admin/css/base.css"), 3072},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{}
			cfg.Normalize()
			pool := NewPool()
			const n = 2000
			conns := make([]*Conn, n)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for i := range conns {
				w := newWarmClient(t, &cfg, pool, c.headers)
				w.cycle(t, []byte("x"))
				w.c.Feed(nil, 0) // releases the closed streams
				if !w.c.Idle() {
					t.Fatal("connection not idle")
				}
				conns[i] = w.c
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			per := int(after.HeapAlloc-before.HeapAlloc) / n
			t.Logf("%s: %d bytes of heap per idle connection (Conn struct %d, HPACK table %d)",
				c.name, per, sizeofConn, conns[0].Memory())
			if per > c.max {
				t.Fatalf("%d bytes per idle connection, want at most %d", per, c.max)
			}
			runtime.KeepAlive(conns)
		})
	}
}
