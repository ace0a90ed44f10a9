package http2

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/net/http2/hpack"
)

func dehex(s string) []byte {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' {
			return -1
		}
		return r
	}, s)
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// decodeAll decodes a whole block with a generous buffer.
func decodeAll(d *Decoder, block []byte) ([]hpack.HeaderField, error) {
	buf := make([]byte, 0, 64<<10)
	var out []hpack.HeaderField
	d.Start(block)
	for {
		f, b, ok, err := d.Next(buf)
		if err != nil {
			return out, err
		}
		if !ok {
			return out, nil
		}
		buf = b
		out = append(out, hpack.HeaderField{Name: string(f.Name), Value: string(f.Value), Sensitive: f.Sensitive})
	}
}

// tableFields lists the dynamic table, newest first.
func tableFields(d *Decoder) []hpack.HeaderField {
	var out []hpack.HeaderField
	for i := 1; i <= d.table.len(); i++ {
		e := d.table.entry(i)
		out = append(out, hpack.HeaderField{
			Name:  string(d.table.appendName(make([]byte, 0, e.nameLen), e)),
			Value: string(d.table.appendValue(make([]byte, 0, e.valueLen), e)),
		})
	}
	return out
}

func pairs(kv ...string) []hpack.HeaderField {
	var out []hpack.HeaderField
	for i := 0; i < len(kv); i += 2 {
		out = append(out, hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

func sameFields(a, b []hpack.HeaderField) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Value != b[i].Value || a[i].Sensitive != b[i].Sensitive {
			return false
		}
	}
	return true
}

type rfcStep struct {
	block     string
	fields    []hpack.HeaderField
	table     []hpack.HeaderField
	tableSize int
}

// The examples of RFC 7541 Appendix C.3 to C.6: header lists decoded one
// after another on one connection, with the dynamic table after each.
func TestRFC7541AppendixC(t *testing.T) {
	req1 := pairs(":method", "GET", ":scheme", "http", ":path", "/", ":authority", "www.example.com")
	req2 := append(pairs(":method", "GET", ":scheme", "http", ":path", "/", ":authority", "www.example.com"), pairs("cache-control", "no-cache")...)
	req3 := pairs(":method", "GET", ":scheme", "https", ":path", "/index.html", ":authority", "www.example.com", "custom-key", "custom-value")
	reqTables := [][]hpack.HeaderField{
		pairs(":authority", "www.example.com"),
		pairs("cache-control", "no-cache", ":authority", "www.example.com"),
		pairs("custom-key", "custom-value", "cache-control", "no-cache", ":authority", "www.example.com"),
	}
	date1, date2 := "Mon, 21 Oct 2013 20:13:21 GMT", "Mon, 21 Oct 2013 20:13:22 GMT"
	cookie := "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"
	resp1 := pairs(":status", "302", "cache-control", "private", "date", date1, "location", "https://www.example.com")
	resp2 := pairs(":status", "307", "cache-control", "private", "date", date1, "location", "https://www.example.com")
	resp3 := pairs(":status", "200", "cache-control", "private", "date", date2, "location", "https://www.example.com", "content-encoding", "gzip", "set-cookie", cookie)
	respTables := [][]hpack.HeaderField{
		pairs("location", "https://www.example.com", "date", date1, "cache-control", "private", ":status", "302"),
		pairs(":status", "307", "location", "https://www.example.com", "date", date1, "cache-control", "private"),
		pairs("set-cookie", cookie, "content-encoding", "gzip", "date", date2),
	}
	series := []struct {
		name      string
		tableSize uint32
		steps     []rfcStep
	}{
		{"C.3", 4096, []rfcStep{
			{"8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", req1, reqTables[0], 57},
			{"8286 84be 5808 6e6f 2d63 6163 6865", req2, reqTables[1], 110},
			{"8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65", req3, reqTables[2], 164},
		}},
		{"C.4", 4096, []rfcStep{
			{"8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", req1, reqTables[0], 57},
			{"8286 84be 5886 a8eb 1064 9cbf", req2, reqTables[1], 110},
			{"8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf", req3, reqTables[2], 164},
		}},
		{"C.5", 256, []rfcStep{
			{`4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
			  2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
			  6c65 2e63 6f6d`, resp1, respTables[0], 222},
			{"4803 3330 37c1 c0bf", resp2, respTables[1], 222},
			{`88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
			  54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
			  5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
			  3d31`, resp3, respTables[2], 215},
		}},
		{"C.6", 256, []rfcStep{
			{`4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
			  2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`, resp1, respTables[0], 222},
			{"4883 640e ffc1 c0bf", resp2, respTables[1], 222},
			{`88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
			  77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
			  9587 3160 65c0 03ed 4ee5 b106 3d50 07`, resp3, respTables[2], 215},
		}},
	}
	for _, s := range series {
		d := NewDecoder(s.tableSize)
		for i, step := range s.steps {
			got, err := decodeAll(d, dehex(strings.ReplaceAll(step.block, "\t", "")))
			if err != nil {
				t.Fatalf("%s step %d: %v", s.name, i+1, err)
			}
			if !sameFields(got, step.fields) {
				t.Fatalf("%s step %d: fields %v, want %v", s.name, i+1, got, step.fields)
			}
			if tab := tableFields(d); !sameFields(tab, step.table) || d.TableSize() != step.tableSize {
				t.Fatalf("%s step %d: table %v (size %d), want %v (size %d)", s.name, i+1, tab, d.TableSize(), step.table, step.tableSize)
			}
		}
	}
}

// The single-field examples of RFC 7541 Appendix C.2.
func TestRFC7541AppendixC2(t *testing.T) {
	cases := []struct {
		block     string
		field     hpack.HeaderField
		tableSize int
	}{
		{"400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572", hpack.HeaderField{Name: "custom-key", Value: "custom-header"}, 55},
		{"040c 2f73 616d 706c 652f 7061 7468", hpack.HeaderField{Name: ":path", Value: "/sample/path"}, 0},
		{"1008 7061 7373 776f 7264 0673 6563 7265 74", hpack.HeaderField{Name: "password", Value: "secret", Sensitive: true}, 0},
		{"82", hpack.HeaderField{Name: ":method", Value: "GET"}, 0},
	}
	for _, c := range cases {
		d := NewDecoder(4096)
		got, err := decodeAll(d, dehex(c.block))
		if err != nil || len(got) != 1 || got[0] != c.field || d.TableSize() != c.tableSize {
			t.Errorf("%s: %v %v (table %d), want %v (table %d)", c.block, got, err, d.TableSize(), c.field, c.tableSize)
		}
	}
}

func TestHuffmanCodesMatchRFC(t *testing.T) {
	if huff.code[huffmanEOS] != 0x3fffffff {
		t.Fatalf("EOS code %#x", huff.code[huffmanEOS])
	}
	for c := 0; c < 256; c++ {
		s := []byte{byte(c)}
		if got, want := appendHuffman(nil, s, false), hpack.AppendHuffmanString(nil, string(s)); !bytes.Equal(got, want) {
			t.Fatalf("symbol %d: % x, want % x", c, got, want)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 2000; i++ {
		s := make([]byte, rng.IntN(60))
		for j := range s {
			if i%2 == 0 {
				s[j] = byte(rng.Uint32())
			} else {
				s[j] = byte(' ' + rng.IntN(95))
			}
		}
		enc := hpack.AppendHuffmanString(nil, string(s))
		if got := appendHuffman(nil, s, false); !bytes.Equal(got, enc) {
			t.Fatalf("encode %q: % x, want % x", s, got, enc)
		}
		if huffmanEncodedLen(s, false) != len(enc) {
			t.Fatalf("length of %q: %d, want %d", s, huffmanEncodedLen(s, false), len(enc))
		}
		dec, n, ok := huffmanDecode(make([]byte, 0, 100), enc)
		if !ok || n != len(s) || !bytes.Equal(dec, s) {
			t.Fatalf("decode %q: %q %d %v", s, dec, n, ok)
		}
		// Too little room: the length is still reported, nothing spills.
		small := make([]byte, 0, len(s)/2)
		dec, n, ok = huffmanDecode(small, enc)
		if !ok || n != len(s) || len(dec) != len(s)/2 || cap(dec) != cap(small) {
			t.Fatalf("decode %q into %d bytes: %q %d %v", s, cap(small), dec, n, ok)
		}
	}
}

func TestHuffmanInvalid(t *testing.T) {
	eos := appendHuffman(nil, []byte("a"), false) // 'a' is 00011, then 111 padding
	cases := []struct {
		name string
		b    []byte
	}{
		{"padding longer than 7 bits", append(append([]byte{}, eos...), 0xff)},
		{"padding with zeros", []byte{0x18}}, // 00011 000
		{"EOS symbol", []byte{0xff, 0xff, 0xff, 0xff}},
		{"EOS after a symbol", []byte{0x1f, 0xff, 0xff, 0xff, 0xff}},
	}
	for _, c := range cases {
		if _, _, ok := huffmanDecode(nil, c.b); ok {
			t.Errorf("%s (% x): accepted", c.name, c.b)
		}
		if _, err := hpack.HuffmanDecodeToString(c.b); err == nil {
			t.Errorf("%s: x/net accepts it too: the case is wrong", c.name)
		}
	}
}

func TestHPACKDecodingErrors(t *testing.T) {
	cases := []struct {
		name  string
		block string
		err   *Error
	}{
		{"index 0", "80", errHPACKIndex},
		{"index past the tables", "be", errHPACKIndex},
		{"size update after a field", "82 3f e1 1f", errHPACKLateSizeUpdate},
		{"size update above the limit", "3f e2 1f", errHPACKSizeUpdate},
		{"truncated string", "40 05 61", errHPACKTruncated},
		{"truncated integer", "ff", errHPACKTruncated},
		{"huge integer", "ff ff ff ff ff ff 7f", errHPACKInteger},
		{"bad huffman", "40 81 ff 81 ff", errHPACKHuffman},
	}
	for _, c := range cases {
		_, err := decodeAll(NewDecoder(4096), dehex(c.block))
		if err != c.err {
			t.Errorf("%s: %v, want %v", c.name, err, c.err)
		}
	}
	// Size updates at the start are fine, several of them too.
	if f, err := decodeAll(NewDecoder(4096), dehex("20 3f e1 1f 82")); err != nil || len(f) != 1 {
		t.Errorf("size updates at the start: %v %v", f, err)
	}
}

// A field too large for the buffer comes back truncated, with the table
// still updated as the encoder expects.
func TestDecoderTruncates(t *testing.T) {
	var enc bytes.Buffer
	e := hpack.NewEncoder(&enc)
	big := strings.Repeat("v", 3000)
	e.WriteField(hpack.HeaderField{Name: "x-big", Value: big})
	e.WriteField(hpack.HeaderField{Name: "x-small", Value: "s"})
	d := NewDecoder(4096)
	d.Start(enc.Bytes())
	buf := make([]byte, 0, 100)
	// 3000 bytes fit the 4096-byte table but not the 100-byte buffer:
	// the contract of Next (room for the table) is broken.
	_, _, _, err := d.Next(buf)
	if err != errHPACKNoRoom {
		t.Fatalf("field the table needs, buffer too small: %v", err)
	}
	// With room for the table the big field is kept.
	d = NewDecoder(4096)
	d.Start(enc.Bytes())
	buf = make([]byte, 0, 4096)
	f, buf, ok, err := d.Next(buf)
	if err != nil || !ok || f.Truncated || string(f.Value) != big {
		t.Fatalf("big field: %v %v %v", ok, err, f.Truncated)
	}
	// Referenced again: it does not fit what is left, and comes back
	// truncated with its size.
	d.Start([]byte{0x80 | byte(staticTableLen+1)})
	f, _, ok, err = d.Next(buf)
	if err != nil || !ok || !f.Truncated || f.Size != len("x-big")+3000+32 {
		t.Fatalf("indexed again: %v %v %+v", ok, err, f)
	}
}

// FuzzHPACKDecode compares the decoder with x/net's on arbitrary blocks,
// two blocks in a row so that the dynamic table carries over.
func FuzzHPACKDecode(f *testing.F) {
	f.Add(dehex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"), dehex("8286 84be 5886 a8eb 1064 9cbf"), uint16(4096))
	f.Add(dehex("3f e1 1f 82 400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"), dehex("be 20 be"), uint16(256))
	f.Add(dehex("1008 7061 7373 776f 7264 0673 6563 7265 74"), dehex("88c1"), uint16(0))
	f.Fuzz(func(t *testing.T, a, b []byte, size uint16) {
		ours := NewDecoder(uint32(size))
		theirs := hpack.NewDecoder(uint32(size), nil)
		for i, block := range [][]byte{a, b} {
			want, werr := theirs.DecodeFull(block)
			got, gerr := decodeAll(ours, block)
			if gerr == errHPACKLateSizeUpdate && werr == nil ||
				gerr == nil && werr != nil && strings.Contains(werr.Error(), "MUST occur at the beginning") {
				// x/net judges a size update by whether its table is
				// empty: it lets one follow a field while the table is
				// empty, and refuses a second update at the start of a
				// block once the table holds something. RFC 7541 §4.2
				// allows updates exactly at the start of a block, two
				// of them included, and so do we (our decoder refuses a
				// late one with errHPACKLateSizeUpdate).
				return
			}
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("block %d: x/net %v, ours %v", i, werr, gerr)
			}
			if werr != nil {
				return // the connection would end here
			}
			if !sameFields(got, want) {
				t.Fatalf("block %d: ours %v, x/net %v", i, got, want)
			}
			if ours.TableSize() > int(size) {
				t.Fatalf("table size %d above %d", ours.TableSize(), size)
			}
		}
	})
}

// FuzzHPACKRoundTrip encodes header lists with x/net's encoder (which
// indexes, evicts and announces table size changes) and decodes them with
// ours; and encodes with ours and decodes with x/net's.
func FuzzHPACKRoundTrip(f *testing.F) {
	f.Add("content-type", "text/html", "x-Custom", "value", uint16(4096), uint16(100), uint8(3))
	f.Add("cookie", strings.Repeat("a=b; ", 50), "set-cookie", "x", uint16(64), uint16(0), uint8(9))
	// An HTTP/1.1 application's capitalised names: lower case codes
	// shorter, and the length prefix must say so.
	f.Add("X-Content-Type-Options", "nosniff", "Content-Security-Policy", "default-src 'self'", uint16(4096), uint16(0), uint8(1))
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2 string, size1, size2 uint16, reps uint8) {
		limit := uint32(4096)
		var buf bytes.Buffer
		enc := hpack.NewEncoder(&buf)
		enc.SetMaxDynamicTableSizeLimit(limit)
		ours := NewDecoder(limit)
		for r := 0; r < int(reps%12); r++ {
			switch r % 4 {
			case 1:
				enc.SetMaxDynamicTableSize(uint32(size1) % (limit + 1))
			case 3:
				enc.SetMaxDynamicTableSize(uint32(size2) % (limit + 1))
			}
			want := pairs(n1, v1, n2, fmt.Sprint(v2, r), "x-n", fmt.Sprint(r))
			if r%3 == 2 {
				want[0].Sensitive = true
			}
			buf.Reset()
			for _, hf := range want {
				enc.WriteField(hf)
			}
			got, err := decodeAll(ours, buf.Bytes())
			if err != nil {
				t.Fatalf("rep %d: %v", r, err)
			}
			if !sameFields(got, want) {
				t.Fatalf("rep %d: %v, want %v", r, got, want)
			}
		}
		// Ours to x/net: names are lower-cased on the way.
		block := appendStatus(nil, 200+int(reps))
		block = appendField(block, []byte(n1), []byte(v1), false)
		block = appendField(block, []byte(n2), []byte(v2), true)
		got, err := hpack.NewDecoder(4096, nil).DecodeFull(block)
		if err != nil {
			t.Fatalf("x/net cannot decode ours: %v", err)
		}
		want := pairs(":status", fmt.Sprint(200+int(reps)), asciiLower(n1), v1, asciiLower(n2), v2)
		want[2].Sensitive = true
		if !sameFields(got, want) {
			t.Fatalf("x/net decodes ours as %v, want %v", got, want)
		}
	})
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
