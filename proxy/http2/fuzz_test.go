package http2

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// fuzzSeeds are frame sequences a client might send after its preface:
// requests with bodies, padding, trailers, CONTINUATION, resets, settings,
// pings, window updates, priorities, GOAWAY.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	add := func(script func(fw *http2.Framer, enc func(end bool, id uint32, kv ...string))) {
		var b bytes.Buffer
		fw := http2.NewFramer(&b, nil)
		fw.AllowIllegalWrites = true
		var blk bytes.Buffer
		e := hpack.NewEncoder(&blk)
		enc := func(end bool, id uint32, kv ...string) {
			blk.Reset()
			for i := 0; i < len(kv); i += 2 {
				e.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
			}
			fw.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: blk.Bytes(), EndHeaders: true, EndStream: end})
		}
		script(fw, enc)
		seeds = append(seeds, append([]byte(nil), b.Bytes()...))
	}
	get := []string{":method", "GET", ":scheme", "https", ":authority", "a.example", ":path", "/x?y=1", "cookie", "a=b", "cookie", "c=d"}
	post := []string{":method", "POST", ":scheme", "https", ":authority", "a.example", ":path", "/up", "content-length", "8"}
	add(func(fw *http2.Framer, enc func(bool, uint32, ...string)) {
		enc(true, 1, get...)
		enc(false, 3, post...)
		fw.WriteDataPadded(3, false, []byte("abcd"), []byte{0, 0, 0})
		fw.WriteData(3, true, []byte("efgh"))
		enc(true, 5, get...)
	})
	add(func(fw *http2.Framer, enc func(bool, uint32, ...string)) {
		enc(false, 1, post[:8]...)
		fw.WriteData(1, false, []byte("body"))
		enc(true, 1, "x-trailer", "1")
		fw.WritePing(false, [8]byte{1})
		fw.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 3}, http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 15})
		fw.WriteWindowUpdate(0, 100)
		enc(true, 3, get...)
		fw.WriteWindowUpdate(3, 10)
	})
	add(func(fw *http2.Framer, enc func(bool, uint32, ...string)) {
		fw.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x82, 0x87}, Priority: http2.PriorityParam{StreamDep: 0, Weight: 9}})
		fw.WriteContinuation(1, false, []byte{0x84})
		fw.WriteContinuation(1, true, []byte{0x41, 0x01, 'a'})
		fw.WritePriority(3, http2.PriorityParam{StreamDep: 1})
		fw.WriteRSTStream(1, http2.ErrCodeCancel)
		fw.WriteRawFrame(0x20, 0x3, 0, []byte("unknown"))
		fw.WriteGoAway(0, http2.ErrCodeNo, []byte("bye"))
	})
	add(func(fw *http2.Framer, enc func(bool, uint32, ...string)) {
		enc(false, 1, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":authority", "a", ":path", "/ws")
		fw.WriteData(1, false, []byte("frame"))
		enc(true, 3, ":method", "GET", ":path", "/", "Upper", "x")
		fw.WriteData(3, true, []byte("late"))
		fw.WriteWindowUpdate(1, 0)
		fw.WriteSettings()
		fw.WriteSettingsAck()
	})
	return seeds
}

func FuzzCodec(f *testing.F) {
	for i, s := range fuzzSeeds() {
		f.Add(s, uint16(i*7+1))
	}
	f.Fuzz(func(t *testing.T, input []byte, cut uint16) {
		whole := runFuzzCodec(t, input, 0)
		pieces := runFuzzCodec(t, input, int(cut%64)+1)
		if whole != pieces {
			t.Fatalf("whole and in pieces of %d differ:\n%s\n----\n%s", cut%64+1, whole, pieces)
		}
	})
}

// runFuzzCodec feeds the preface, an empty SETTINGS and input to a Conn in
// pieces of step bytes (0: whole), answering every request at once, and
// checks the invariants along the way. It returns the events and the
// output as text.
func runFuzzCodec(t *testing.T, input []byte, step int) string {
	cfg := Config{EnableConnectProtocol: true, MaxConcurrentStreams: 8, MaxResets: 20, MaxControlFrames: 50}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	c := NewConn(&cfg, NewPool(), 0)
	var log strings.Builder
	var out bytes.Buffer
	stream := append([]byte(clientPreface+"\x00\x00\x00\x04\x00\x00\x00\x00\x00"), input...)
	lastData := uint32(0)
	for len(stream) > 0 {
		piece := stream
		if step > 0 && len(piece) > step {
			piece = piece[:step]
		}
		n, ev := c.Feed(piece, 0)
		if n == 0 && ev.Kind == EventNone {
			t.Fatal("no progress")
		}
		stream = stream[n:]
		if ev.Kind == EventData && len(ev.Data) > 0 {
			if lastData != ev.Stream {
				fmt.Fprintf(&log, "data %d\n", ev.Stream)
			}
			lastData = ev.Stream
			c.Consume(ev.Stream, len(ev.Data))
		} else if ev.Kind != EventNone {
			lastData = 0
		}
		switch ev.Kind {
		case EventRequest:
			r := ev.Req
			fmt.Fprintf(&log, "request %d %q %q %q %d %d\n", ev.Stream, r.Method, r.Target, r.Host, len(r.Headers), r.ContentLength)
			if ev.EndStream {
				fuzzRespond(t, c, ev.Stream)
			}
		case EventData:
			if ev.EndStream {
				fmt.Fprintf(&log, "end %d\n", ev.Stream)
				fuzzRespond(t, c, ev.Stream)
			}
		case EventTrailers:
			fmt.Fprintf(&log, "trailers %d %d\n", ev.Stream, len(ev.Trailers))
			fuzzRespond(t, c, ev.Stream)
		case EventNone:
		default:
			fmt.Fprintf(&log, "%v %d %v %d\n", ev.Kind, ev.Stream, ev.Code, ev.Status)
		}
		if c.Streams() > int(cfg.MaxConcurrentStreams) {
			t.Fatalf("%d streams open", c.Streams())
		}
		if m := c.Memory(); m > 512<<10 {
			t.Fatalf("connection holds %d bytes", m)
		}
		out.Write(c.Output())
		c.Sent(len(c.Output()))
	}
	// The output must be well-formed frames with decodable header blocks.
	fr := http2.NewFramer(nil, &out)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.MaxHeaderListSize = 1 << 20
	for out.Len() > 0 {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("output: %v", err)
		}
		fmt.Fprintf(&log, "> %v\n", f.Header())
	}
	return log.String()
}

func fuzzRespond(t *testing.T, c *Conn, id uint32) {
	if err := c.WriteHeaders(id, 200, responseFields, false); err != nil {
		t.Fatalf("WriteHeaders: %v", err)
	}
	if _, err := c.WriteData(id, []byte("ok"), true); err != nil {
		t.Fatalf("WriteData: %v", err)
	}
}
