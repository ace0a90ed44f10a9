package http1

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST /p?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"GET http://a/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
	"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
	"GET / HTTP/1.1\nHost: a\n\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
}

// FuzzParseSplit checks that a head fed byte by byte, or split at any point,
// parses exactly as when it arrives whole.
func FuzzParseSplit(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), uint16(7))
	}
	f.Fuzz(func(t *testing.T, raw []byte, cut uint16) {
		var whole, bytewise, split Request
		nW, errW := parseWhole(raw, &whole)
		nB, errB := parseBytewise(raw, &bytewise)
		nS, errS := parseSplit(raw, int(cut), &split)
		if status(errW) != status(errB) || nW != nB || status(errW) != status(errS) || nW != nS {
			t.Fatalf("whole (%d, %v) bytewise (%d, %v) split (%d, %v)", nW, errW, nB, errB, nS, errS)
		}
		if errW == nil && (summary(&whole) != summary(&bytewise) || summary(&whole) != summary(&split)) {
			t.Fatalf("whole %s\nbytewise %s\nsplit %s", summary(&whole), summary(&bytewise), summary(&split))
		}
	})
}

func parseSplit(raw []byte, cut int, r *Request) (int, error) {
	var s HeadScanner
	lim := DefaultLimits
	if len(raw) > 0 {
		cut %= len(raw) + 1
		n, err := s.Scan(raw[:cut], &lim)
		if err != nil {
			return 0, err
		}
		if n > 0 {
			return n, r.Parse(raw[:n], &lim)
		}
	}
	n, err := s.Scan(raw, &lim)
	if err != nil || n == 0 {
		if err == nil {
			err = ErrIncomplete
		}
		return 0, err
	}
	return n, r.Parse(raw[:n], &lim)
}

func summary(r *Request) string {
	var b strings.Builder
	b.Write(r.Method)
	b.WriteByte(' ')
	b.Write(r.Target)
	b.WriteByte(' ')
	b.Write(r.Host)
	for _, h := range r.Headers {
		b.WriteString("|")
		b.Write(h.Name)
		b.WriteString(":")
		b.Write(h.Value)
	}
	return b.String()
}

// FuzzAgainstNetHTTP checks that whatever this parser accepts, Go's
// net/http.ReadRequest accepts too and reads the same way: method, target,
// Host, header values, body length and connection persistence. The parser
// may refuse more (it is stricter by design), never less, except for
// transfer codings before chunked, which net/http does not implement.
func FuzzAgainstNetHTTP(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var r Request
		n, err := parseWhole(raw, &r)
		if err != nil {
			return
		}
		if r.NumCodings > 0 || (r.Chunked && !EqualFold(r.Header(HeaderTransferEncoding), "chunked")) {
			return // net/http supports only a bare "chunked"
		}
		head := raw[:n]
		for bytes.HasPrefix(head, []byte("\r\n")) {
			head = head[2:] // RFC 9112 §2.2: we skip empty lines first; net/http does not
		}
		if line, _, _ := bytes.Cut(head, []byte("\r\n")); bytes.IndexByte(line, '#') >= 0 {
			return // we drop a fragment unread; net/http's URL parser validates it
		}
		ref, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if err != nil {
			t.Fatalf("accepted %q, net/http refuses: %v", head, err)
		}
		if ref.Method != string(r.Method) {
			t.Fatalf("method %q vs net/http %q", r.Method, ref.Method)
		}
		if !r.AbsoluteForm {
			uri := ref.RequestURI
			if i := strings.IndexByte(uri, '#'); i >= 0 {
				uri = uri[:i]
			}
			if uri != string(r.Target) {
				t.Fatalf("target %q vs net/http %q", r.Target, uri)
			}
		}
		if !strings.EqualFold(ref.Host, string(r.Host)) {
			t.Fatalf("host %q vs net/http %q", r.Host, ref.Host)
		}
		wantCL := r.ContentLength
		if ref.ContentLength != wantCL {
			t.Fatalf("content length %d vs net/http %d", wantCL, ref.ContentLength)
		}
		if ref.Close == r.KeepAlive && !r.Upgrade {
			t.Fatalf("keep-alive %v vs net/http close %v", r.KeepAlive, ref.Close)
		}
		for _, h := range r.Headers {
			if h.ID == HeaderHost || h.ID == HeaderTransferEncoding || h.ID == HeaderContentLength {
				continue // net/http moves these out of Header
			}
			vals := ref.Header.Values(string(h.Name))
			found := false
			for _, v := range vals {
				if v == string(h.Value) {
					found = true
				}
			}
			if !found {
				t.Fatalf("header %q: %q not among net/http's %q", h.Name, h.Value, vals)
			}
		}
	})
}
