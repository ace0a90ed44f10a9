package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2raw is a hand-driven HTTP/2 client (x/net's framer and HPACK
// encoder) for the engine's limits: it sends what no well-behaved client
// would.
type h2raw struct {
	t   testing.TB
	c   net.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	hb  bytes.Buffer
}

// dialH2 opens an h2c connection with prior knowledge and exchanges
// SETTINGS.
func dialH2(t testing.TB, addr string) *h2raw {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &h2raw{t: t, c: c}
	r.fr = http2.NewFramer(c, c)
	r.fr.SetMaxReadFrameSize(1 << 20)
	r.enc = hpack.NewEncoder(&r.hb)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	r.fr.WriteSettings()
	r.until(func(f http2.Frame) bool {
		s, ok := f.(*http2.SettingsFrame)
		return ok && !s.IsAck()
	})
	r.fr.WriteSettingsAck()
	return r
}

// block HPACK-codes a request head: the pseudo-header fields for method
// and path, then fields (name, value pairs).
func (r *h2raw) block(method, path string, fields ...string) []byte {
	r.hb.Reset()
	for _, f := range [][2]string{{":method", method}, {":scheme", "http"}, {":authority", "example.test"}, {":path", path}} {
		r.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	for i := 0; i+1 < len(fields); i += 2 {
		r.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return append([]byte(nil), r.hb.Bytes()...)
}

// request sends a request head on stream id.
func (r *h2raw) request(id uint32, end bool, method, path string, fields ...string) {
	r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: r.block(method, path, fields...), EndStream: end, EndHeaders: true})
}

// until reads frames until match says so; it fails the test when the
// connection ends first or nothing matching comes within 10 s.
func (r *h2raw) until(match func(http2.Frame) bool) http2.Frame {
	r.t.Helper()
	f, err := r.next(match)
	if err != nil {
		r.t.Fatalf("waiting for a frame: %v", err)
	}
	return f
}

func (r *h2raw) next(match func(http2.Frame) bool) (http2.Frame, error) {
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			return nil, err
		}
		if match(f) {
			return f, nil
		}
	}
}

// goAway reads until the server's GOAWAY and returns its code; the
// connection must then close.
func (r *h2raw) goAway() http2.ErrCode {
	r.t.Helper()
	f := r.until(func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok })
	code := f.(*http2.GoAwayFrame).ErrCode
	if _, err := r.next(func(http2.Frame) bool { return false }); err == nil || errors.Is(err, errTimeout) {
		r.t.Fatalf("after GOAWAY %v the connection stays open: %v", code, err)
	}
	return code
}

var errTimeout = errors.New("timeout")

// status reads until the response head of stream id and returns its
// :status.
func (r *h2raw) status(id uint32) string {
	r.t.Helper()
	var status string
	dec := hpack.NewDecoder(4096, func(f hpack.HeaderField) {
		if f.Name == ":status" {
			status = f.Value
		}
	})
	for {
		f := r.until(func(f http2.Frame) bool {
			switch f := f.(type) {
			case *http2.HeadersFrame:
				return true
			case *http2.RSTStreamFrame:
				return f.StreamID == id
			}
			return false
		})
		if rst, ok := f.(*http2.RSTStreamFrame); ok {
			return "RST_STREAM " + rst.ErrCode.String()
		}
		h := f.(*http2.HeadersFrame)
		status = ""
		dec.Write(h.HeaderBlockFragment())
		if h.StreamID == id && status != "" && status[0] != '1' {
			return status
		}
	}
}

// attackSite serves a static file and proxies the rest to an application
// that answers at once.
func attackSite(t testing.TB) Config {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	be := startBackend(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("app"))
	}))
	return Config{
		Upstreams: []Upstream{{Name: "app", Servers: []UpstreamServer{{Addr: be.addr}}}},
		Sites:     []Site{{Routes: []Route{{Prefix: "/static/", Static: &Static{Root: root}}, {Prefix: "/", Upstream: "app"}}}},
	}
}

// TestHTTP2Limits: every limit and known attack, through the engine over
// h2c: each ends as the codec's limits say (a refused stream, a 431, or a
// GOAWAY with ENHANCE_YOUR_CALM and the connection closed), and the
// engine serves the next client.
func TestHTTP2Limits(t *testing.T) {
	cfg := attackSite(t)
	cfg.Limits.MaxStreams = 5
	he := startH2Engine(t, cfg, "example.test")
	calm := func(t *testing.T, r *h2raw) {
		t.Helper()
		if code := r.goAway(); code != http2.ErrCodeEnhanceYourCalm {
			t.Fatalf("GOAWAY %v, want ENHANCE_YOUR_CALM", code)
		}
	}
	t.Run("max concurrent streams", func(t *testing.T) {
		r := dialH2(t, he.addr)
		for id := uint32(1); id <= 11; id += 2 { // six streams, the request bodies still to come
			r.request(id, false, "POST", "/upload", "content-length", "3")
		}
		if got := r.status(11); got != "RST_STREAM REFUSED_STREAM" {
			t.Fatalf("the sixth stream: %s, want REFUSED_STREAM", got)
		}
		r.fr.WriteData(1, true, []byte("abc"))
		if got := r.status(1); got != "200" {
			t.Fatalf("the first stream: %s", got)
		}
		r.request(13, true, "GET", "/static/a.txt")
		if got := r.status(13); got != "200" {
			t.Fatalf("a stream once another ended: %s", got)
		}
	})
	t.Run("HPACK bomb", func(t *testing.T) {
		r := dialH2(t, he.addr)
		big := strings.Repeat("b", 4000)
		fields := []string{}
		for i := 0; i < 1000; i++ { // a literal, then 999 one-byte indexes
			fields = append(fields, "x-bomb", big)
		}
		block := r.block("GET", "/static/a.txt", fields...)
		if len(block) > 8000 {
			t.Fatalf("a block of %d bytes is no bomb", len(block))
		}
		r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndStream: true, EndHeaders: true})
		if got := r.status(1); got != "431" {
			t.Fatalf("the bomb: %s, want 431", got)
		}
		r.request(3, true, "GET", "/static/a.txt")
		if got := r.status(3); got != "200" {
			t.Fatalf("the next request on the connection: %s", got)
		}
	})
	t.Run("Rapid Reset", func(t *testing.T) {
		r := dialH2(t, he.addr)
		for i := 0; i < 300; i++ {
			id := uint32(2*i + 1)
			r.request(id, true, "GET", "/slow")
			r.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
		calm(t, r)
	})
	t.Run("MadeYouReset", func(t *testing.T) {
		r := dialH2(t, he.addr)
		for i := 0; i < 300; i++ {
			id := uint32(2*i + 1)
			r.request(id, false, "POST", "/upload", "content-length", "1")
			r.fr.WriteWindowUpdate(id, 0) // a stream error: we reset it
		}
		calm(t, r)
	})
	t.Run("CONTINUATION flood", func(t *testing.T) {
		r := dialH2(t, he.addr)
		r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x82}})
		for i := 0; i < 1000; i++ {
			if r.fr.WriteContinuation(1, false, []byte{0x84}) != nil {
				break
			}
		}
		calm(t, r)
	})
	floods := map[string]func(r *h2raw) error{
		"SETTINGS flood":      func(r *h2raw) error { return r.fr.WriteSettings() },
		"PING flood":          func(r *h2raw) error { return r.fr.WritePing(false, [8]byte{}) },
		"empty DATA flood":    func(r *h2raw) error { return r.fr.WriteData(1, false, nil) },
		"WINDOW_UPDATE flood": func(r *h2raw) error { return r.fr.WriteWindowUpdate(0, 1) },
	}
	for name, frame := range floods {
		t.Run(name, func(t *testing.T) {
			r := dialH2(t, he.addr)
			r.request(1, false, "POST", "/upload", "content-length", "10")
			for i := 0; i < 3000; i++ {
				if frame(r) != nil {
					break // the server has closed
				}
			}
			calm(t, r)
		})
	}
	// After all that, an ordinary client is served.
	resp, body := mustHTTP(t, he.h2cClient(), newRequest(t, "GET", "http://"+he.addr+"/static/a.txt", nil, nil))
	if resp.ProtoMajor != 2 || body != "alpha" {
		t.Fatalf("an ordinary client afterwards: %s %q", resp.Proto, body)
	}
}

// TestHTTP2StreamWithoutItsBody: a stream that announces a body and never
// sends it is answered 408 after the body's idle time, as an HTTP/1.1
// request would be, and the connection goes on; a static answer that
// waits for the request's end goes out then too.
func TestHTTP2StreamWithoutItsBody(t *testing.T) {
	cfg := attackSite(t)
	cfg.Timeouts.BodyIdle = 300 * time.Millisecond
	he := startH2Engine(t, cfg, "example.test")
	r := dialH2(t, he.addr)
	r.request(1, false, "POST", "/upload", "content-length", "10")
	r.request(3, false, "GET", "/static/a.txt")
	got := map[uint32]string{}
	for len(got) < 2 {
		f := r.until(func(f http2.Frame) bool { _, ok := f.(*http2.HeadersFrame); return ok })
		var status string
		hpack.NewDecoder(4096, func(hf hpack.HeaderField) {
			if hf.Name == ":status" {
				status = hf.Value
			}
		}).Write(f.(*http2.HeadersFrame).HeaderBlockFragment())
		got[f.Header().StreamID] = status
	}
	if got[1] != "408" || got[3] != "200" {
		t.Fatalf("answers %v, want 408 for the upload and 200 for the file", got)
	}
	r.request(5, true, "GET", "/static/a.txt")
	if s := r.status(5); s != "200" {
		t.Fatalf("the connection after the timeout: %s", s)
	}
}

// TestHTTP2SlowReaderManyStreams: a client opens 100 streams for large
// proxied responses and reads none of them. The application is read to
// the end all the same (its workers are free), each stream keeping at
// most its buffer in memory and the rest in a temporary file, so the
// engine's heap grows by about streams × buffer, not by the 100 MiB the
// responses weigh.
func TestHTTP2SlowReaderManyStreams(t *testing.T) {
	const streams, size = 100, 1 << 20
	var finished atomic.Int64
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	be := startBackend(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", fmt.Sprint(size))
		for n := 0; n < size; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		finished.Add(1)
	}))
	cfg := Config{
		Workers:   1,
		Upstreams: []Upstream{{Name: "app", Servers: []UpstreamServer{{Addr: be.addr}}}},
		Sites:     []Site{{Routes: []Route{{Prefix: "/", Upstream: "app"}}}},
	}
	cfg.Proxy.TempDir = t.TempDir()
	he := startH2Engine(t, cfg, "example.test")
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	r := dialH2(t, he.addr)
	for i := 0; i < streams; i++ {
		r.request(uint32(2*i+1), true, "GET", fmt.Sprintf("/big/%d", i))
	}
	deadline := time.Now().Add(60 * time.Second)
	for finished.Load() < streams {
		if time.Now().After(deadline) {
			t.Fatalf("the application finished %d responses of %d: a client that does not read holds its workers", finished.Load(), streams)
		}
		time.Sleep(20 * time.Millisecond)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapInuse) - int64(before.HeapInuse)
	bound := int64(streams*(64<<10) + 16<<20) // each stream's buffer, and the rest of the process
	t.Logf("heap grew by %d KiB for %d unread responses of %d KiB", grown>>10, streams, size>>10)
	if grown > bound {
		t.Fatalf("heap grew by %d MiB for unread responses; bound %d MiB", grown>>20, bound>>20)
	}
}
