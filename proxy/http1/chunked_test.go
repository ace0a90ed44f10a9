package http1

import (
	"bytes"
	"io"
	"net/http/httputil"
	"strings"
	"testing"
)

// decodeAll decodes in, feeding step bytes more each time (0 = all at once).
func decodeAll(in []byte, step int) (data []byte, rest int, done bool, err error) {
	return decodeWith(&ChunkedDecoder{}, in, step)
}

// decodeWith is decodeAll with a decoder set up by the caller.
func decodeWith(d *ChunkedDecoder, in []byte, step int) (data []byte, rest int, done bool, err error) {
	buf := []byte{}
	fed := 0
	for {
		if step == 0 {
			buf = in[fed:]
			fed = len(in)
		} else if fed < len(in) {
			n := min(step, len(in)-fed)
			buf = append(buf, in[fed:fed+n]...)
			fed += n
		}
		for len(buf) > 0 && !d.Done() {
			n, chunk, e := d.Decode(buf)
			if e != nil {
				return data, 0, false, e
			}
			data = append(data, chunk...)
			buf = buf[n:]
			if n == 0 {
				break
			}
		}
		if d.Done() {
			return data, len(buf) + len(in) - fed, true, nil
		}
		if fed == len(in) {
			return data, 0, false, ErrIncomplete
		}
	}
}

func TestChunkedDecoder(t *testing.T) {
	tests := []struct {
		name, in, want string
		status         int // 0 ok, -1 incomplete
	}{
		{"simple", "5\r\nhello\r\n0\r\n\r\n", "hello", 0},
		{"two chunks", "3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n", "abc0123456789", 0},
		{"extension", "5;name=value\r\nhello\r\n0;x\r\n\r\n", "hello", 0},
		{"quoted extension", "5;n=\"v\"\r\nhello\r\n0\r\n\r\n", "hello", 0},
		{"trailers discarded", "5\r\nhello\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n", "hello", 0},
		{"upper hex", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789", 0},
		{"lower hex", "a\r\n0123456789\r\nf\r\nabcdefghijklmno\r\n0\r\n\r\n", "0123456789abcdefghijklmno", 0},
		{"leading zeros", "0000a\r\n0123456789\r\n00\r\n\r\n", "0123456789", 0},
		{"incomplete", "5\r\nhel", "hel", -1},
		{"no size", "\r\nhello\r\n0\r\n\r\n", "", 400},
		{"bad hex", "g\r\nhello\r\n0\r\n\r\n", "", 400},
		{"size overflow", "1000000000000000\r\nx\r\n0\r\n\r\n", "", 400},
		{"negative size", "-5\r\nhello\r\n0\r\n\r\n", "", 400},
		{"bare LF after size", "5\nhello\r\n0\r\n\r\n", "", 400},
		{"bare CR after size", "5\rhello\r\n0\r\n\r\n", "", 400},
		{"data longer than size", "3\r\nhello\r\n0\r\n\r\n", "hel", 400},
		{"bare LF after data", "5\r\nhello\n0\r\n\r\n", "hello", 400},
		{"NUL in extension", "5;a\x00\r\nhello\r\n0\r\n\r\n", "", 400},
		{"bare LF in trailer", "0\r\nX: 1\n\r\n", "", 400},
		{"obs-fold in trailer", "0\r\nX: 1\r\n y\r\n\r\n", "", 400},
		{"control in trailer", "0\r\nX: \x01\r\n\r\n", "", 400},
		{"size line too long", "5;" + strings.Repeat("a", 5000) + "\r\nhello\r\n0\r\n\r\n", "", 400},
		{"space before size", " 5\r\nhello\r\n0\r\n\r\n", "", 400},
		{"garbage after size", "5x\r\nhello\r\n0\r\n\r\n", "", 400},
		{"space before extension", "5 ;x\r\nhello\r\n0\r\n\r\n", "", 400},
		{"space after size", "5 \r\nhello\r\n0\r\n\r\n", "hello", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, step := range []int{0, 1, 3} {
				data, _, _, err := decodeAll([]byte(tc.in), step)
				if got := status(err); got != tc.status {
					t.Fatalf("step %d: status %d (%v), want %d", step, got, err, tc.status)
				}
				if tc.status <= 0 && string(data) != tc.want {
					t.Fatalf("step %d: data %q, want %q", step, data, tc.want)
				}
			}
		})
	}
}

// TestChunkedLimits: a size line (digits, extensions and CRLF) may be
// MaxChunkLine bytes long, the trailer section (its final CRLF included)
// MaxTrailerBytes, and not one byte more.
func TestChunkedLimits(t *testing.T) {
	const maxLine, maxTrailer = 16, 14
	tests := []struct {
		name, in string
		status   int
	}{
		{"size line of the limit", "00000005;aaaaa\r\nhello\r\n0\r\n\r\n", 0},
		{"size line over the limit", "00000005;aaaaaa\r\nhello\r\n0\r\n\r\n", 400},
		{"digits count", "000000000000005\r\nhello\r\n0\r\n\r\n", 400},
		{"trailers of the limit", "0\r\nX: 1\r\nY: 2\r\n\r\n", 0},
		{"trailers over the limit", "0\r\nX: 1\r\nY: 23\r\n\r\n", 431},
	}
	for _, tc := range tests {
		for _, step := range []int{0, 1} {
			d := &ChunkedDecoder{MaxChunkLine: maxLine, MaxTrailerBytes: maxTrailer}
			_, _, _, err := decodeWith(d, []byte(tc.in), step)
			if got := status(err); got != tc.status {
				t.Errorf("%s (step %d): status %d (%v), want %d", tc.name, step, got, err, tc.status)
			}
		}
	}
}

func TestChunkedStopsAtEnd(t *testing.T) {
	in := []byte("2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\n")
	_, rest, done, err := decodeAll(in, 0)
	if err != nil || !done || rest != len("GET / HTTP/1.1\r\n") {
		t.Fatalf("rest %d done %v err %v", rest, done, err)
	}
}

func FuzzChunked(f *testing.F) {
	for _, s := range []string{"5\r\nhello\r\n0\r\n\r\n", "3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n", "0\r\n\r\n", "ffffffffffffffff\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		whole, _, doneW, errW := decodeAll(in, 0)
		bytewise, _, doneB, errB := decodeAll(in, 1)
		if status(errW) != status(errB) || doneW != doneB || !bytes.Equal(whole, bytewise) {
			t.Fatalf("whole (%q, %v, %v) != bytewise (%q, %v, %v)", whole, doneW, errW, bytewise, doneB, errB)
		}
		if !doneW {
			return
		}
		// What we accept, Go's decoder must read to the same bytes.
		ref, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(in)))
		if err != nil {
			t.Fatalf("accepted %q but net/http's chunked reader says %v", in, err)
		}
		if !bytes.Equal(ref, whole) {
			t.Fatalf("decoded %q, net/http %q", whole, ref)
		}
	})
}

// With KeepTrailer the trailer section's field lines are collected
// (without the empty line that ends the body), fed whole or byte by byte;
// Reset empties them for the next body.
func TestChunkedKeepsTrailer(t *testing.T) {
	for _, c := range []struct{ in, trailer string }{
		{"2\r\nhi\r\n0\r\nX-Checksum: abc\r\nX-Two: 2\r\n\r\n", "X-Checksum: abc\r\nX-Two: 2\r\n"},
		{"2\r\nhi\r\n0\r\n\r\n", ""},
	} {
		for _, step := range []int{0, 1} {
			var d ChunkedDecoder
			d.KeepTrailer = true
			in := []byte(c.in)
			for len(in) > 0 && !d.Done() {
				piece := in
				if step > 0 {
					piece = in[:step]
				}
				n, _, err := d.Decode(piece)
				if err != nil {
					t.Fatalf("%q: %v", c.in, err)
				}
				in = in[n:]
			}
			if !d.Done() || string(d.Trailer) != c.trailer {
				t.Errorf("%q step %d: done %v, trailer %q; want %q", c.in, step, d.Done(), d.Trailer, c.trailer)
			}
			d.Reset()
			if len(d.Trailer) != 0 || d.KeepTrailer {
				t.Errorf("after Reset: trailer %q, keep %v", d.Trailer, d.KeepTrailer)
			}
		}
	}
}
