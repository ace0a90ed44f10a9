package http1

// Character classes from RFC 9110 §5.6.2 and RFC 9112 §3. The tables are
// computed once and never written afterwards.

// isTchar reports whether c may appear in a token (field names, methods).
var isTchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// isTargetChar reports whether c may appear in a request target: visible
// ASCII and, as nginx and most servers tolerate, raw bytes above 0x7F (UTF-8
// paths sent unencoded). Controls, SP and DEL never: they would let a target
// be read as two.
var isTargetChar = func() (t [256]bool) {
	for c := 0x21; c < 0x100; c++ {
		t[c] = c != 0x7f
	}
	return t
}()

// isRegNameChar reports whether c may appear in a host name (RFC 3986
// reg-name without percent-encoding, which no real client sends in a Host).
// The comma is left out although reg-name allows it: no DNS name has one,
// and "Host: a, b" is what an intermediary makes of two Host fields when it
// combines field lines into a list (RFC 9110 §5.3), so it is read as the
// duplicate Host that RFC 9112 §3.2 answers with 400.
var isRegNameChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "-._~!$&'()*+;=" {
		t[c] = true
	}
	return t
}()

// ValidHost checks a Host value or absolute-form authority (HTTP/2's
// :authority too): a reg-name or IPv4 address, or a bracketed IPv6
// literal, then an optional ":port" of at most five digits.
func ValidHost(h []byte) bool {
	i := 0
	if len(h) > 0 && h[0] == '[' {
		end := -1
		for j := 1; j < len(h); j++ {
			c := h[j]
			if c == ']' {
				end = j
				break
			}
			if _, hex := HexDigit(c); !hex && c != ':' && c != '.' {
				return false
			}
		}
		if end < 2 {
			return false
		}
		i = end + 1
	} else {
		for i < len(h) && isRegNameChar[h[i]] {
			i++
		}
	}
	if i == len(h) {
		return true
	}
	if h[i] != ':' || len(h)-i-1 > 5 {
		return false
	}
	for _, c := range h[i+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isValueCtl reports bytes forbidden in a field value: controls other than
// HTAB, and DEL. obs-text (0x80-0xFF) is tolerated as RFC 9110 allows.
func isValueCtl(c byte) bool { return (c < 0x20 && c != '\t') || c == 0x7f }

// lower returns c in lower case for ASCII letters.
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// EqualFold reports whether the ASCII strings a and b are equal ignoring case.
// b must already be lower case.
func EqualFold(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != b[i] {
			return false
		}
	}
	return true
}

// trimOWS removes optional whitespace (SP, HTAB) at both ends.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
