package proxy

import (
	"bytes"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestHTTP2ClientHalfCloses: a client that sends its requests and shuts
// down its side of the connection sends nothing more. A GET whose stream
// the client left open (no END_STREAM) is answered at once rather than
// held for a request end that cannot come; an upload cut short is
// abandoned, never passed to the application; then the engine says
// GOAWAY and closes — without waiting for the body's idle time (30 s
// here, beyond the client's 10 s deadline). Each case twice: the
// half-close arriving with the frames, and after the engine has read
// them (it acknowledged the client's SETTINGS), as an event of its own.
func TestHTTP2ClientHalfCloses(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	var reached atomic.Int32
	be := startBackend(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.Write([]byte("app"))
	}))
	cfg := proxySite(be.addr)
	cfg.Workers = 1
	cfg.Sites[0].Routes = append(cfg.Sites[0].Routes, Route{Prefix: "/s/", Static: &Static{Root: root}})
	he := startH2Engine(t, cfg, "example.test")

	request := func(write func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer)) []byte {
		var buf, hb bytes.Buffer
		buf.WriteString(http2.ClientPreface)
		fr := http2.NewFramer(&buf, nil)
		fr.WriteSettings()
		write(fr, hpack.NewEncoder(&hb), &hb)
		return buf.Bytes()
	}
	fields := func(enc *hpack.Encoder, hb *bytes.Buffer, kv ...string) []byte {
		hb.Reset()
		for i := 0; i+1 < len(kv); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
		}
		return hb.Bytes()
	}

	for _, afterAck := range []bool{false, true} {
		halfClose(t, he.addr, afterAck, request, fields, &reached)
	}
}

func halfClose(t *testing.T, addr string, afterAck bool, request func(func(*http2.Framer, *hpack.Encoder, *bytes.Buffer)) []byte,
	fields func(*hpack.Encoder, *bytes.Buffer, ...string) []byte, reached *atomic.Int32) {
	when := " (half-close with the frames)"
	if afterAck {
		when = " (half-close after the engine read them)"
	}
	t.Run("file on a stream left open"+when, func(t *testing.T) {
		raw := request(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true,
				BlockFragment: fields(enc, hb, ":method", "GET", ":scheme", "http", ":authority", "example.test", ":path", "/s/a.txt")})
		})
		frames, err := h2HalfClose(addr, raw, afterAck)
		if err != nil {
			t.Fatal(err)
		}
		status, body, goaway := h2Answer(frames, 1)
		if status != "200" || body != "alpha" || !goaway {
			t.Fatalf("answer %q %q, GOAWAY %v; want 200 \"alpha\" and a GOAWAY\nframes %+v", status, body, goaway, frames)
		}
	})

	t.Run("upload cut short"+when, func(t *testing.T) {
		raw := request(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true,
				BlockFragment: fields(enc, hb, ":method", "POST", ":scheme", "http", ":authority", "example.test", ":path", "/up", "content-length", "5")})
			fr.WriteData(1, false, []byte("hel"))
		})
		frames, err := h2HalfClose(addr, raw, afterAck)
		if err != nil {
			t.Fatal(err)
		}
		status, _, goaway := h2Answer(frames, 1)
		if status != "" || !goaway {
			t.Fatalf("answer %q, GOAWAY %v; want no answer and a GOAWAY\nframes %+v", status, goaway, frames)
		}
		if n := reached.Load(); n != 0 {
			t.Fatalf("the application got %d requests; want none", n)
		}
	})
}

// h2Answer reads stream id's answer among frames: its final :status, its
// body, and whether the connection sent a GOAWAY.
func h2Answer(frames []h2Got, id uint32) (status, body string, goaway bool) {
	for _, f := range frames {
		switch {
		case f.Type == http2.FrameGoAway:
			goaway = true
		case f.Stream != id:
		case f.Type == http2.FrameHeaders:
			for _, hf := range f.Fields {
				if hf.Name == ":status" {
					status = hf.Value
				}
			}
		case f.Type == http2.FrameData:
			body += string(f.Data)
		}
	}
	return status, body, goaway
}
