package http2

import "encoding/binary"

// The Huffman code of RFC 7541 Appendix B. The code is canonical (codes of
// one length are consecutive and ordered by symbol, shorter codes first), so
// the code lengths alone define it; the codes are rebuilt from them once.

// huffmanLen is the code length of each symbol, 256 being EOS.
var huffmanLen = [257]uint8{
	13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
	28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
	6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
	5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
	13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
	7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
	15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
	6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
	20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
	24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
	22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
	21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
	26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
	19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
	20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
	26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
	30,
}

const (
	huffmanEOS    = 256
	huffmanMaxLen = 30
	// huffmanPeek is how many bits the fast decoding table looks at:
	// every symbol of printable ASCII but a few has a code this short.
	huffmanPeek = 11
)

// huffmanTables are the encoding and decoding tables, computed once from
// huffmanLen and never written afterwards.
type huffmanTables struct {
	code [257]uint32
	// fast maps the next huffmanPeek bits to a symbol whose code is at
	// most that long: sym<<8 | length, or 0 when the code is longer.
	fast [1 << huffmanPeek]uint16
	// Canonical decoding of longer codes: for each length, the first code
	// and the index in bySym of its first symbol, and how many there are.
	first, start, count [huffmanMaxLen + 1]uint32
	sorted              [257]uint16
}

var huff = buildHuffman()

func buildHuffman() *huffmanTables {
	t := &huffmanTables{}
	n := 0
	for l := 1; l <= huffmanMaxLen; l++ {
		t.start[l] = uint32(n)
		for s := 0; s <= huffmanEOS; s++ {
			if int(huffmanLen[s]) == l {
				t.sorted[n] = uint16(s)
				n++
			}
		}
		t.count[l] = uint32(n) - t.start[l]
	}
	code := uint32(0)
	for l := 1; l <= huffmanMaxLen; l++ {
		t.first[l] = code
		for i := t.start[l]; i < t.start[l]+t.count[l]; i++ {
			t.code[t.sorted[i]] = code
			code++
		}
		code <<= 1
	}
	for s := 0; s < huffmanEOS; s++ {
		l := uint(huffmanLen[s])
		if l > huffmanPeek {
			continue
		}
		base := t.code[s] << (huffmanPeek - l)
		for j := uint32(0); j < 1<<(huffmanPeek-l); j++ {
			t.fast[base+j] = uint16(s)<<8 | uint16(l)
		}
	}
	return t
}

// huffmanEncodedLen is the length of s Huffman-coded, in bytes; with
// lower set, as appendHuffman codes it (upper-case letters as lower case,
// whose codes are shorter).
func huffmanEncodedLen(s []byte, lower bool) int {
	n := 0
	for _, c := range s {
		if lower && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		n += int(huffmanLen[c])
	}
	return (n + 7) / 8
}

// appendHuffman appends s Huffman-coded, padded with the EOS prefix. With
// lower set, upper-case ASCII letters are coded as lower case.
func appendHuffman(dst, s []byte, lower bool) []byte {
	var acc uint64
	var n uint
	for _, c := range s {
		if lower && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		l := uint(huffmanLen[c])
		acc = acc<<l | uint64(huff.code[c])
		n += l
		for n >= 8 {
			n -= 8
			dst = append(dst, byte(acc>>n))
		}
	}
	if n > 0 {
		dst = append(dst, byte(acc<<(8-n))|byte(0xff>>n))
	}
	return dst
}

// huffmanDecode decodes src, appending to dst as long as dst's spare
// capacity lasts (it never grows dst). It returns dst, the decoded length
// (also when it did not fit) and whether src was a valid coding: no EOS
// symbol, and padding of at most seven bits, all ones (RFC 7541 §5.2).
func huffmanDecode(dst, src []byte) (out []byte, n int, ok bool) {
	room := dst[len(dst):cap(dst)]
	var cur uint64 // right-aligned bits not yet decoded
	var nb uint    // how many
	i := 0
	for {
		if nb <= 56 {
			if i+8 <= len(src) {
				// Take as many whole bytes as fit, in one load.
				v := binary.BigEndian.Uint64(src[i:])
				k := (64 - nb) >> 3
				cur = cur<<(k*8) | v>>(64-k*8)
				nb += k * 8
				i += int(k)
			} else {
				for nb <= 56 && i < len(src) {
					cur = cur<<8 | uint64(src[i])
					nb += 8
					i++
				}
			}
		}
		if nb < huffmanPeek {
			break
		}
		e := huff.fast[(cur>>(nb-huffmanPeek))&(1<<huffmanPeek-1)]
		if e == 0 {
			sym, l, found := huffmanSlow(cur, nb)
			if !found || l > nb || sym == huffmanEOS {
				// A long code cut short is padding longer than 7 bits.
				return dst[:len(dst)+min(n, len(room))], n, false
			}
			e = uint16(sym)<<8 | uint16(l)
		}
		nb -= uint(e & 0xff)
		if n < len(room) {
			room[n] = byte(e >> 8)
		}
		n++
	}
	// Fewer than huffmanPeek bits left: symbols, then padding.
	for nb > 0 {
		peek := cur<<(huffmanPeek-nb) | (1<<(huffmanPeek-nb) - 1)
		e := huff.fast[peek&(1<<huffmanPeek-1)]
		l := uint(e & 0xff)
		if e == 0 || l > nb {
			// What is left is padding: at most 7 bits, all ones.
			mask := uint64(1)<<nb - 1
			return dst[:len(dst)+min(n, len(room))], n, nb <= 7 && cur&mask == mask
		}
		nb -= l
		if n < len(room) {
			room[n] = byte(e >> 8)
		}
		n++
	}
	return dst[:len(dst)+min(n, len(room))], n, true
}

// huffmanSlow decodes a code longer than huffmanPeek bits from the top of
// the nb bits in cur (padded with ones when fewer than needed remain).
func huffmanSlow(cur uint64, nb uint) (sym uint32, l uint, ok bool) {
	for l = huffmanPeek + 1; l <= huffmanMaxLen; l++ {
		var c uint64
		if nb >= l {
			c = cur >> (nb - l)
		} else {
			c = cur<<(l-nb) | (1<<(l-nb) - 1)
		}
		c &= 1<<l - 1
		if d := uint32(c) - huff.first[l]; uint32(c) >= huff.first[l] && d < huff.count[l] {
			return uint32(huff.sorted[huff.start[l]+d]), l, true
		}
	}
	return 0, 0, false
}
