package http2

import (
	"strconv"

	"frontdoor/proxy/http1"
)

// The response encoder uses the static table and literals only: it keeps
// no dynamic table, so it costs a connection no memory and never has to
// follow the peer's table size. Strings are Huffman-coded when that is
// shorter, as most are.

// appendHPACKInt appends v with an n-bit prefix; first holds the bits
// above the prefix (RFC 7541 §5.1).
func appendHPACKInt(dst []byte, n uint, first byte, v uint64) []byte {
	max := uint64(1)<<n - 1
	if v < max {
		return append(dst, first|byte(v))
	}
	dst = append(dst, first|byte(max))
	v -= max
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// appendHPACKString appends a string literal, Huffman-coded when shorter.
// With lower set, ASCII letters are written in lower case (field names).
func appendHPACKString(dst, s []byte, lower bool) []byte {
	if h := huffmanEncodedLen(s, lower); h < len(s) {
		dst = appendHPACKInt(dst, 7, 0x80, uint64(h))
		return appendHuffman(dst, s, lower)
	}
	dst = appendHPACKInt(dst, 7, 0, uint64(len(s)))
	if !lower {
		return append(dst, s...)
	}
	for _, c := range s {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// appendStatus appends the :status pseudo-header field.
func appendStatus(dst []byte, code int) []byte {
	if i := staticStatusIndex(code); i > 0 {
		return appendHPACKInt(dst, 7, 0x80, uint64(i))
	}
	var digits [3]byte
	b := strconv.AppendInt(digits[:0], int64(code), 10)
	dst = appendHPACKInt(dst, 4, 0, 8) // literal without indexing, name :status
	return appendHPACKString(dst, b, false)
}

// appendField appends a literal field without indexing (never indexed when
// sensitive), its name lower-cased. The name refers to the static table
// when it is there.
func appendField(dst, name, value []byte, sensitive bool) []byte {
	return appendFieldID(dst, name, value, http1.HeaderOther, sensitive)
}

// appendFieldID is appendField for a field whose ID is known: a known
// field finds its static index without a lookup by name.
func appendFieldID(dst, name, value []byte, id http1.HeaderID, sensitive bool) []byte {
	first := byte(0x00)
	if sensitive {
		first = 0x10
	}
	idx := int(staticIndexOfID[id])
	if idx == 0 && id == http1.HeaderOther {
		idx = lookupStaticName(name)
	}
	if idx > 0 {
		dst = appendHPACKInt(dst, 4, first, uint64(idx))
	} else {
		dst = append(dst, first)
		dst = appendHPACKString(dst, name, true)
	}
	return appendHPACKString(dst, value, false)
}

// lookupStaticName returns the static index of a field name in any case,
// or 0.
func lookupStaticName(name []byte) int {
	if len(name) > len("access-control-allow-origin") {
		return 0
	}
	var buf [32]byte
	l := buf[:len(name)]
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		l[i] = c
	}
	return int(staticNameIndex[string(l)]) // the conversion does not allocate
}

// staticIndexOfID maps the IDs of http1.LookupHeader to static table
// indexes (0: not in the table). Built once, never written afterwards.
var staticIndexOfID = func() (t [256]uint8) {
	for i := staticTableLen - 1; i >= 0; i-- {
		if id := http1.LookupHeader([]byte(staticTable[i].name)); id != http1.HeaderOther {
			t[id] = uint8(i + 1)
		}
	}
	return t
}()
