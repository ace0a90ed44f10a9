package http2

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// tclient drives a Conn in memory the way a client would: frames written
// with x/net's Framer and HPACK encoder, the Conn's output read back with
// x/net's Framer. Events are recorded as text, data copied.
type tclient struct {
	t    *testing.T
	cfg  Config
	pool *Pool
	c    *Conn
	now  int64

	w      bytes.Buffer // bytes for the Conn
	fw     *http2.Framer
	encBuf bytes.Buffer
	enc    *hpack.Encoder

	out  bytes.Buffer // the Conn's output, not yet read as frames
	fr   *http2.Framer
	dec  *hpack.Decoder
	step int // feed the Conn in pieces of this size (0: whole)

	serverSettings map[http2.SettingID]uint32

	events []string
	reqs   map[uint32]*Request
	body   map[uint32][]byte
	closed bool
}

func newClient(t *testing.T, mod func(*Config)) *tclient {
	t.Helper()
	tc := &tclient{t: t, pool: NewPool(), reqs: map[uint32]*Request{}, body: map[uint32][]byte{}}
	if mod != nil {
		mod(&tc.cfg)
	}
	if err := tc.cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	tc.c = NewConn(&tc.cfg, tc.pool, 0)
	tc.fw = http2.NewFramer(&tc.w, nil)
	tc.fw.AllowIllegalWrites = true
	tc.enc = hpack.NewEncoder(&tc.encBuf)
	tc.fr = http2.NewFramer(nil, &tc.out)
	tc.fr.ReadMetaHeaders = nil
	tc.dec = hpack.NewDecoder(4096, nil)
	return tc
}

// handshake sends the preface and the client's SETTINGS, acknowledges the
// server's and checks what it offered.
func (tc *tclient) handshake() {
	tc.t.Helper()
	tc.w.WriteString(clientPreface)
	tc.fw.WriteSettings()
	tc.feed()
	fs := tc.frames()
	if len(fs) < 2 {
		tc.t.Fatalf("server preface: %v", fs)
	}
	sf, ok := fs[0].(*settingsFrame)
	if !ok || sf.ack {
		tc.t.Fatalf("first frame %v", fs[0])
	}
	tc.serverSettings = map[http2.SettingID]uint32{}
	for _, s := range sf.settings {
		tc.serverSettings[s.ID] = s.Val
	}
	if last := tc.texts(fs[len(fs)-1:]); last[0] != "SETTINGS ack" {
		tc.t.Fatalf("client SETTINGS not acknowledged: %v", last)
	}
	tc.fw.WriteSettingsAck()
	tc.feed()
}

// feed hands everything written so far to the Conn.
func (tc *tclient) feed() {
	tc.t.Helper()
	in := append([]byte(nil), tc.w.Bytes()...)
	tc.w.Reset()
	for len(in) > 0 {
		piece := in
		if tc.step > 0 && len(piece) > tc.step {
			piece = piece[:tc.step]
		}
		n, ev := tc.c.Feed(piece, tc.now)
		if n == 0 && ev.Kind == EventNone {
			tc.t.Fatal("Feed made no progress")
		}
		in = in[n:]
		tc.record(ev)
	}
	tc.drain()
}

func (tc *tclient) drain() {
	out := tc.c.Output()
	tc.out.Write(out)
	tc.c.Sent(len(out))
}

func (tc *tclient) record(ev Event) {
	switch ev.Kind {
	case EventNone:
		return
	case EventRequest:
		tc.reqs[ev.Stream] = ev.Req
		tc.events = append(tc.events, fmt.Sprintf("request %d %s %s end=%v", ev.Stream, ev.Req.Method, ev.Req.Target, ev.EndStream))
	case EventData:
		tc.body[ev.Stream] = append(tc.body[ev.Stream], ev.Data...)
		mark := fmt.Sprintf("data %d", ev.Stream)
		if len(ev.Data) > 0 && (len(tc.events) == 0 || tc.events[len(tc.events)-1] != mark) {
			tc.events = append(tc.events, mark)
		}
		if ev.EndStream {
			tc.events = append(tc.events, fmt.Sprintf("end %d", ev.Stream))
		}
	case EventTrailers:
		tc.events = append(tc.events, fmt.Sprintf("trailers %d %d", ev.Stream, len(ev.Trailers)))
	case EventReset:
		tc.events = append(tc.events, fmt.Sprintf("reset %d %v ours=%v", ev.Stream, ev.Code, ev.Err != nil))
	case EventWindow:
		tc.events = append(tc.events, fmt.Sprintf("window %d", ev.Stream))
	case EventGoAway:
		tc.events = append(tc.events, fmt.Sprintf("goaway %v", ev.Code))
	case EventRefused:
		tc.events = append(tc.events, fmt.Sprintf("refused %d %d", ev.Stream, ev.Status))
	case EventClosed:
		tc.closed = true
		tc.events = append(tc.events, fmt.Sprintf("closed %v", ev.Code))
	}
}

// takeEvents returns the events so far and forgets them.
func (tc *tclient) takeEvents() []string {
	e := tc.events
	tc.events = nil
	return e
}

// frames reads the Conn's output as frames (header blocks decoded into
// MetaHeadersFrame-like text by frameText).
func (tc *tclient) frames() []http2.Frame {
	tc.t.Helper()
	var fs []http2.Frame
	for tc.out.Len() > 0 {
		f, err := tc.fr.ReadFrame()
		if err != nil {
			tc.t.Fatalf("server output: %v", err)
		}
		fs = append(fs, copyFrame(f))
	}
	return fs
}

// copyFrame detaches a frame from the Framer's buffer.
func copyFrame(f http2.Frame) http2.Frame {
	switch f := f.(type) {
	case *http2.DataFrame:
		return &dataFrame{f.FrameHeader, append([]byte(nil), f.Data()...)}
	case *http2.HeadersFrame:
		return &headersFrame{f.FrameHeader, append([]byte(nil), f.HeaderBlockFragment()...)}
	case *http2.ContinuationFrame:
		return &headersFrame{f.FrameHeader, append([]byte(nil), f.HeaderBlockFragment()...)}
	case *http2.SettingsFrame:
		sf := &settingsFrame{FrameHeader: f.FrameHeader, ack: f.IsAck()}
		f.ForeachSetting(func(s http2.Setting) error { sf.settings = append(sf.settings, s); return nil })
		return sf
	}
	return f
}

type settingsFrame struct {
	http2.FrameHeader
	ack      bool
	settings []http2.Setting
}

type dataFrame struct {
	http2.FrameHeader
	data []byte
}

type headersFrame struct {
	http2.FrameHeader
	frag []byte
}

// texts summarizes frames: "HEADERS 1 end :status=200 ..." etc.
func (tc *tclient) texts(fs []http2.Frame) []string {
	var out []string
	var block []byte
	var blockEnd bool
	for _, f := range fs {
		switch f := f.(type) {
		case *dataFrame:
			out = append(out, fmt.Sprintf("DATA %d len=%d end=%v", f.StreamID, len(f.data), f.Flags.Has(http2.FlagDataEndStream)))
		case *headersFrame:
			if f.Type == http2.FrameHeaders {
				blockEnd = f.Flags.Has(http2.FlagHeadersEndStream)
			}
			block = append(block, f.frag...)
			if !f.Flags.Has(http2.FlagHeadersEndHeaders) {
				continue
			}
			hf, err := tc.dec.DecodeFull(block)
			block = nil
			if err != nil {
				tc.t.Fatalf("response head: %v", err)
			}
			var b strings.Builder
			fmt.Fprintf(&b, "HEADERS %d end=%v", f.StreamID, blockEnd)
			for _, h := range hf {
				fmt.Fprintf(&b, " %s=%s", h.Name, h.Value)
			}
			out = append(out, b.String())
		case *http2.RSTStreamFrame:
			out = append(out, fmt.Sprintf("RST_STREAM %d %v", f.StreamID, f.ErrCode))
		case *http2.GoAwayFrame:
			out = append(out, fmt.Sprintf("GOAWAY %d %v", f.LastStreamID, f.ErrCode))
		case *http2.WindowUpdateFrame:
			out = append(out, fmt.Sprintf("WINDOW_UPDATE %d %d", f.StreamID, f.Increment))
		case *http2.PingFrame:
			out = append(out, fmt.Sprintf("PING ack=%v %q", f.IsAck(), f.Data[:]))
		case *settingsFrame:
			if f.ack {
				out = append(out, "SETTINGS ack")
			} else {
				out = append(out, "SETTINGS")
			}
		default:
			out = append(out, fmt.Sprintf("%v", f))
		}
	}
	return out
}

// output returns the server's frames so far as text.
func (tc *tclient) output() []string { return tc.texts(tc.frames()) }

// headers writes a HEADERS frame with the given fields (name, value...).
func (tc *tclient) headers(id uint32, end bool, kv ...string) {
	tc.encBuf.Reset()
	for i := 0; i < len(kv); i += 2 {
		tc.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	tc.fw.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: tc.encBuf.Bytes(), EndStream: end, EndHeaders: true})
}

// get writes a GET request on stream id.
func (tc *tclient) get(id uint32, path string, extra ...string) {
	tc.headers(id, true, append([]string{":method", "GET", ":scheme", "https", ":authority", "example.com", ":path", path}, extra...)...)
}

// post writes a POST head on stream id (the body to follow).
func (tc *tclient) post(id uint32, path string, extra ...string) {
	tc.headers(id, false, append([]string{":method", "POST", ":scheme", "https", ":authority", "example.com", ":path", path}, extra...)...)
}

// respond answers stream id with a small response.
func (tc *tclient) respond(id uint32, body string) {
	tc.t.Helper()
	if err := tc.c.WriteHeaders(id, 200, fields("content-type", "text/plain"), body == ""); err != nil {
		tc.t.Fatalf("WriteHeaders %d: %v", id, err)
	}
	if body != "" {
		if n, err := tc.c.WriteData(id, []byte(body), true); err != nil || n != len(body) {
			tc.t.Fatalf("WriteData %d: %d %v", id, n, err)
		}
	}
	tc.drain()
}

func want(t *testing.T, what string, got []string, w ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(w, "\n") {
		t.Fatalf("%s:\n got  %q\n want %q", what, got, w)
	}
}
