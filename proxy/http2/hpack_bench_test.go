package http2

import (
	"bytes"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// browserRequest is what a browser sends for a stylesheet of the Django
// admin: the header set HPACK meets most.
func browserRequest(path string) []hpack.HeaderField {
	return pairs(
		":method", "GET",
		":authority", "shop.example.com",
		":scheme", "https",
		":path", path,
		"sec-ch-ua", `"Chromium";v="120", "Not?A_Brand";v="24"`,
		"sec-ch-ua-mobile", "?0",
		"user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"sec-ch-ua-platform", `"Linux"`,
		"accept", "text/css,*/*;q=0.1",
		"sec-fetch-site", "same-origin",
		"sec-fetch-mode", "no-cors",
		"sec-fetch-dest", "style",
		"referer", "https://shop.example.com/admin/",
		"accept-encoding", "gzip, deflate, br",
		"accept-language", "en-US,en;q=0.9",
		"cookie", "csrftoken=Zq3k9dPzQkVnW0c1b2a3s4d5f6g7h8j9; sessionid=4x8n2m5b7v9c1x3z5a7s9d1f3g5h7j9k",
	)
}

// hpackBlocks returns the first request's block (literals, every field
// indexed) and a later one (the table hit, a new path).
func hpackBlocks() (first, later []byte) {
	var buf bytes.Buffer
	e := hpack.NewEncoder(&buf)
	for _, f := range browserRequest("/static/admin/css/base.css") {
		e.WriteField(f)
	}
	first = append([]byte(nil), buf.Bytes()...)
	buf.Reset()
	for _, f := range browserRequest("/static/admin/css/nav_sidebar.css") {
		e.WriteField(f)
	}
	return first, append([]byte(nil), buf.Bytes()...)
}

func decodeOwn(b *testing.B, d *Decoder, block, buf []byte) {
	d.Start(block)
	n := 0
	for {
		_, out, ok, err := d.Next(buf)
		if err != nil {
			b.Fatal(err)
		}
		if !ok {
			break
		}
		buf = out
		n++
	}
	if n != 16 {
		b.Fatalf("%d fields", n)
	}
}

func BenchmarkHPACKDecodeFirstOwn(b *testing.B) {
	first, _ := hpackBlocks()
	buf := make([]byte, 0, 32<<10)
	b.ReportAllocs()
	b.SetBytes(int64(len(first)))
	for i := 0; i < b.N; i++ {
		d := NewDecoder(4096)
		decodeOwn(b, d, first, buf)
	}
}

func BenchmarkHPACKDecodeFirstXNet(b *testing.B) {
	first, _ := hpackBlocks()
	b.ReportAllocs()
	b.SetBytes(int64(len(first)))
	for i := 0; i < b.N; i++ {
		n := 0
		d := hpack.NewDecoder(4096, func(hpack.HeaderField) { n++ })
		if _, err := d.Write(first); err != nil || d.Close() != nil || n != 16 {
			b.Fatal(err, n)
		}
	}
}

func BenchmarkHPACKDecodeLaterOwn(b *testing.B) {
	first, later := hpackBlocks()
	buf := make([]byte, 0, 32<<10)
	d := NewDecoder(4096)
	decodeOwn(b, d, first, buf)
	b.ReportAllocs()
	b.SetBytes(int64(len(later)))
	for i := 0; i < b.N; i++ {
		decodeOwn(b, d, later, buf)
	}
}

func BenchmarkHPACKDecodeLaterXNet(b *testing.B) {
	first, later := hpackBlocks()
	n := 0
	d := hpack.NewDecoder(4096, func(hpack.HeaderField) { n++ })
	d.Write(first)
	d.Close()
	b.ReportAllocs()
	b.SetBytes(int64(len(later)))
	for i := 0; i < b.N; i++ {
		n = 0
		if _, err := d.Write(later); err != nil || d.Close() != nil || n != 16 {
			b.Fatal(err, n)
		}
	}
}

// responseHead is a typical response head of the proxy path.
var responseHead = [][2]string{
	{"Content-Type", "text/html; charset=utf-8"},
	{"Content-Length", "5123"},
	{"Date", "Sun, 06 Dec 2026 10:00:00 GMT"},
	{"Vary", "Accept-Encoding, Cookie"},
	{"X-Frame-Options", "DENY"},
	{"X-Content-Type-Options", "nosniff"},
	{"Referrer-Policy", "same-origin"},
	{"Cross-Origin-Opener-Policy", "same-origin"},
}

func BenchmarkHPACKEncodeOwn(b *testing.B) {
	var hs [][2][]byte
	for _, h := range responseHead {
		hs = append(hs, [2][]byte{[]byte(h[0]), []byte(h[1])})
	}
	dst := make([]byte, 0, 4096)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		dst = appendStatus(dst[:0], 200)
		for _, h := range hs {
			dst = appendField(dst, h[0], h[1], false)
		}
	}
	b.SetBytes(int64(len(dst)))
}

func BenchmarkHPACKEncodeXNet(b *testing.B) {
	var buf bytes.Buffer
	e := hpack.NewEncoder(&buf)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf.Reset()
		e.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
		for _, h := range responseHead {
			// x/net wants lower-case names: the caller lowers them.
			e.WriteField(hpack.HeaderField{Name: asciiLowerNoAlloc(h[0]), Value: h[1]})
		}
	}
	b.SetBytes(int64(buf.Len()))
}

var lowered = map[string]string{}

func asciiLowerNoAlloc(s string) string {
	if l, ok := lowered[s]; ok {
		return l
	}
	l := asciiLower(s)
	lowered[s] = l
	return l
}
