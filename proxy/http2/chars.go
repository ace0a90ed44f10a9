package http2

import "encoding/binary"

// Character rules for fields (RFC 9113 §8.2.1, RFC 9110 §5) and the checks
// that keep a request's meaning the same once it is forwarded as HTTP/1.1.

// nameChar marks the bytes a field name may contain: lower-case tchar.
var nameChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// validName checks a regular field name and reports whether it contains
// '_' (see http1.Header.Underscore).
func validName(name []byte) (underscore, ok bool) {
	if len(name) == 0 {
		return false, false
	}
	for _, c := range name {
		if !nameChar[c] {
			return false, false
		}
		if c == '_' {
			underscore = true
		}
	}
	return underscore, true
}

// validValue refuses what HTTP/2 forbids in a value (NUL, CR, LF, leading
// or trailing whitespace) and the other controls HTTP/1.1 forbids, so the
// value can be forwarded in an HTTP/1.1 head unchanged. Eight bytes at a
// time: values (user agents, cookies) are the bulk of a head.
func validValue(v []byte) bool {
	if len(v) > 0 && (v[0] == ' ' || v[0] == '\t' || v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		return false
	}
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(v); i += 8 {
		x := binary.LittleEndian.Uint64(v[i:])
		// Some byte below 0x20, or equal to 0x7f (exact for "any").
		if (x-0x20*ones)&^x&highs != 0 || ((x^0x7f*ones)-ones)&^(x^0x7f*ones)&highs != 0 {
			break // look closer: it may be a tab
		}
	}
	for ; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validMethod accepts the methods an HTTP/1.1 request line accepts here:
// 1 to 20 upper-case letters.
func validMethod(m []byte) bool {
	if len(m) == 0 || len(m) > 20 {
		return false
	}
	for _, c := range m {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	_, ok := hexValue(c)
	return ok
}

func hexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// validEscapes refuses a path whose '%' is not followed by two hex digits,
// as the HTTP/1.1 parser does.
func validEscapes(p []byte) bool {
	for i := 0; i < len(p); i++ {
		if p[i] == '%' {
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return false
			}
			i += 2
		}
	}
	return true
}

// equalFold compares two ASCII strings ignoring case.
func equalFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// framingLookalike reports a name that is not content-length or
// transfer-encoding but becomes one when '-' and '_' are dropped, as some
// back ends normalise names: refused as over HTTP/1.1.
func framingLookalike(name []byte) bool {
	if len(name) < 12 || len(name) > 24 {
		return false
	}
	var buf [24]byte
	n := 0
	for _, c := range name {
		if c == '-' || c == '_' {
			continue
		}
		buf[n] = c
		n++
	}
	s := string(buf[:n]) // compared, never stored: no allocation
	return s == "transferencoding" || s == "contentlength"
}
