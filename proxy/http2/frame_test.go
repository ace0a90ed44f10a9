package http2

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

type rawFrame struct {
	fh      frameHeader
	payload []byte
}

// readAll cuts stream into frames, feeding it in pieces of the given sizes
// (cycled), and returns what the reader saw.
func readAll(t *testing.T, stream []byte, sizes []int) []rawFrame {
	t.Helper()
	var r frameReader
	var out []rawFrame
	for i := 0; len(stream) > 0; i++ {
		k := min(sizes[i%len(sizes)], len(stream))
		in := stream[:k]
		stream = stream[k:]
		for len(in) > 0 {
			n, step, chunk := r.next(in)
			in = in[n:]
			switch step {
			case stepHeader:
				out = append(out, rawFrame{fh: r.fh, payload: []byte{}})
			case stepPayload:
				f := &out[len(out)-1]
				f.payload = append(f.payload, chunk...)
			}
			if n == 0 && step == stepNone {
				t.Fatal("reader made no progress")
			}
		}
	}
	if r.pending() {
		t.Fatal("reader holds a partial frame at the end of a whole stream")
	}
	return out
}

func TestFrameReaderSplits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var stream []byte
	var want []rawFrame
	for i := 0; i < 200; i++ {
		n := rng.IntN(40)
		if i%17 == 0 {
			n = 20000 // larger than any read
		}
		p := make([]byte, n)
		for j := range p {
			p[j] = byte(rng.Uint32())
		}
		fh := frameHeader{length: uint32(n), typ: frameType(rng.IntN(12)), flags: uint8(rng.Uint32()), stream: rng.Uint32() & streamIDMask}
		stream = appendFrameHeader(stream, n, fh.typ, fh.flags, fh.stream|uint32(rng.IntN(2))<<31) // reserved bit ignored
		stream = append(stream, p...)
		want = append(want, rawFrame{fh: fh, payload: p})
	}
	for _, sizes := range [][]int{{len(stream)}, {1}, {2, 7, 9, 13}, {4096}, {8, 1, 100, 3}} {
		got := readAll(t, stream, sizes)
		if len(got) != len(want) {
			t.Fatalf("sizes %v: %d frames, want %d", sizes, len(got), len(want))
		}
		for i := range got {
			if got[i].fh != want[i].fh || !bytes.Equal(got[i].payload, want[i].payload) {
				t.Fatalf("sizes %v: frame %d = %+v, want %+v", sizes, i, got[i].fh, want[i].fh)
			}
		}
	}
}

func TestFrameAppenders(t *testing.T) {
	var ping = [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	cases := []struct {
		name string
		got  []byte
		want string
	}{
		{"settings", appendSettings(nil, []setting{{settingMaxConcurrentStreams, 100}, {settingEnablePush, 0}}),
			"\x00\x00\x0c\x04\x00\x00\x00\x00\x00" + "\x00\x03\x00\x00\x00\x64" + "\x00\x02\x00\x00\x00\x00"},
		{"settings ack", appendSettingsAck(nil), "\x00\x00\x00\x04\x01\x00\x00\x00\x00"},
		{"ping ack", appendPing(nil, true, &ping), "\x00\x00\x08\x06\x01\x00\x00\x00\x00\x01\x02\x03\x04\x05\x06\x07\x08"},
		{"window update", appendWindowUpdate(nil, 3, 0x10000), "\x00\x00\x04\x08\x00\x00\x00\x00\x03\x00\x01\x00\x00"},
		{"rst", appendRSTStream(nil, 5, ErrCodeRefusedStream), "\x00\x00\x04\x03\x00\x00\x00\x00\x05\x00\x00\x00\x07"},
		{"goaway", appendGoAway(nil, 7, ErrCodeEnhanceYourCalm), "\x00\x00\x08\x07\x00\x00\x00\x00\x00\x00\x00\x00\x07\x00\x00\x00\x0b"},
	}
	for _, c := range cases {
		if string(c.got) != c.want {
			t.Errorf("%s: % x, want % x", c.name, c.got, c.want)
		}
	}
	var b [9]byte
	putFrameHeader(b[:], 0x123456, frameHeaders, flagEndHeaders, 9)
	if fh := parseFrameHeader(&b); fh != (frameHeader{0x123456, frameHeaders, flagEndHeaders, 9}) {
		t.Errorf("round trip: %+v", fh)
	}
}
