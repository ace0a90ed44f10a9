package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// FuzzHTTP2Engine sends the HTTP/2 preface and then arbitrary bytes to a
// running engine's h2c listener (files under /s/, everything else proxied
// to an application), half-closes, and reads until the engine closes. The
// engine must never crash, hang or recover a panic, must answer only with
// well-formed frames, on streams the client opened (odd ids, never one it
// did not use), and must serve the next client as if nothing happened.
func FuzzHTTP2Engine(f *testing.F) {
	root := f.TempDir()
	writeFile(f, filepath.Join(root, "a.txt"), "alpha")
	be := startBackend(f, true, http.HandlerFunc(echoHandler))
	cfg := proxySite(be.addr)
	cfg.Workers = 1
	var panics panicWatch
	cfg.Logger = panics.logger()
	cfg.Timeouts.BodyIdle = 200 * time.Millisecond
	cfg.Timeouts.RequestHead = time.Second
	cfg.Sites[0].Routes = append(cfg.Sites[0].Routes, Route{Prefix: "/s/", Static: &Static{Root: root}})
	he := startH2Engine(f, cfg, "example.test")

	for _, seed := range h2Seeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		frames, err := h2HalfCloseExchange(he.addr, raw)
		panics.failOnPanic(t, raw)
		if err != nil {
			t.Fatalf("%v\ninput %q", err, raw)
		}
		maxID := clientMaxStream(raw)
		for _, f := range frames {
			if id := f.Stream; id != 0 && (id%2 == 0 || id > maxID) {
				t.Fatalf("a %v frame on stream %d, which the client never opened (highest %d)\ninput %q", f.Type, id, maxID, raw)
			}
		}
		next := he.h2cClient()
		defer next.CloseIdleConnections() // thousands of inputs: no connection left open
		resp, body := mustHTTP(t, next, newRequest(t, "GET", "http://"+he.addr+"/s/a.txt", nil, nil))
		if resp.ProtoMajor != 2 || body != "alpha" {
			t.Fatalf("the next client: %s %q\ninput %q", resp.Proto, body, raw)
		}
	})
}

// h2Seeds are frame sequences that exercise each path: requests for a
// file and for the application, a body, trailers, a reset, a WebSocket's
// extended CONNECT, window updates, a ping.
func h2Seeds() [][]byte {
	var seeds [][]byte
	frames := func(write func(fr *http2.Framer, block func(fields ...string) []byte)) []byte {
		var buf, hb bytes.Buffer
		fr := http2.NewFramer(&buf, nil)
		enc := hpack.NewEncoder(&hb)
		block := func(fields ...string) []byte {
			hb.Reset()
			for i := 0; i+1 < len(fields); i += 2 {
				enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
			}
			return append([]byte(nil), hb.Bytes()...)
		}
		fr.WriteSettings()
		write(fr, block)
		return buf.Bytes()
	}
	get := func(path string) []string {
		return []string{":method", "GET", ":scheme", "http", ":authority", "example.test", ":path", path}
	}
	seeds = append(seeds, frames(func(fr *http2.Framer, block func(...string) []byte) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(get("/s/a.txt")...), EndStream: true, EndHeaders: true})
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block(get("/app")...), EndStream: true, EndHeaders: true})
	}))
	seeds = append(seeds, frames(func(fr *http2.Framer, block func(...string) []byte) {
		post := []string{":method", "POST", ":scheme", "http", ":authority", "example.test", ":path", "/up", "content-length", "5"}
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(post...), EndHeaders: true})
		fr.WriteData(1, false, []byte("hel"))
		fr.WriteData(1, false, []byte("lo"))
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block("x-trailer", "1"), EndStream: true, EndHeaders: true})
		fr.WriteWindowUpdate(0, 1<<20)
		fr.WritePing(false, [8]byte{1})
	}))
	seeds = append(seeds, frames(func(fr *http2.Framer, block func(...string) []byte) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(get("/app")...), EndStream: true, EndHeaders: true})
		fr.WriteRSTStream(1, http2.ErrCodeCancel)
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block(":method", "CONNECT", ":protocol", "websocket",
			":scheme", "http", ":authority", "example.test", ":path", "/ws", "sec-websocket-version", "13"), EndHeaders: true})
		fr.WriteData(3, true, []byte("frame"))
	}))
	for i, s := range seeds {
		seeds[i] = append([]byte(http2.ClientPreface), s...)
	}
	return seeds
}

// clientMaxStream is the highest stream id among the frames in raw (after
// the preface), read as the engine reads them; 0 when there is none.
func clientMaxStream(raw []byte) uint32 {
	raw = bytes.TrimPrefix(raw, []byte(http2.ClientPreface))
	var max uint32
	for len(raw) >= 9 {
		n := int(raw[0])<<16 | int(raw[1])<<8 | int(raw[2])
		id := (uint32(raw[5])<<24 | uint32(raw[6])<<16 | uint32(raw[7])<<8 | uint32(raw[8])) & (1<<31 - 1)
		max = maxUint32(max, id)
		if len(raw) < 9+n {
			break
		}
		raw = raw[9+n:]
	}
	return max
}

func maxUint32(a, b uint32) uint32 {
	if a > b {
		return a
	}
	return b
}

// h2Got is a frame the engine sent, copied out of the framer's buffer:
// its type and stream, a header block's fields, a DATA frame's bytes.
type h2Got struct {
	Type   http2.FrameType
	Stream uint32
	Fields []hpack.HeaderField
	Data   []byte
}

// h2HalfCloseExchange writes raw to an h2c connection, shuts down the
// write side, and reads the engine's frames until it closes the
// connection: they must parse as HTTP/2 frames, and their header blocks
// decode with HPACK.
func h2HalfCloseExchange(addr string, raw []byte) ([]h2Got, error) {
	return h2HalfClose(addr, raw, false)
}

// h2HalfClose is h2HalfCloseExchange; with afterAck the client shuts down
// its write side only once the engine has acknowledged its SETTINGS (so
// the engine has read what followed them in the same write, and the
// half-close reaches it as an event of its own).
func h2HalfClose(addr string, raw []byte, afterAck bool) ([]h2Got, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(raw); err != nil && !isReset(err) {
		return nil, err
	}
	if !afterAck {
		c.(*net.TCPConn).CloseWrite()
	}
	fr := http2.NewFramer(io.Discard, c)
	fr.SetMaxReadFrameSize(1 << 24)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	var frames []h2Got
	for {
		f, err := fr.ReadFrame()
		switch {
		case err == nil:
			if afterAck && f.Header().Type == http2.FrameSettings && f.Header().Flags.Has(http2.FlagSettingsAck) {
				c.(*net.TCPConn).CloseWrite()
				afterAck = false
			}
			g := h2Got{Type: f.Header().Type, Stream: f.Header().StreamID}
			switch f := f.(type) {
			case *http2.MetaHeadersFrame:
				g.Fields = f.Fields
			case *http2.DataFrame:
				g.Data = bytes.Clone(f.Data())
			}
			frames = append(frames, g)
		case errors.Is(err, io.EOF) || isReset(err):
			return frames, nil
		case errors.As(err, new(http2.StreamError)):
			// A frame x/net's framer judges: still well framed.
		default:
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return frames, errors.New("no close from the engine")
			}
			return frames, errors.New("the engine's output is not HTTP/2 frames: " + err.Error())
		}
	}
}
