package static

import "frontdoor/proxy/http1"

// CleanPath turns the part of a URL path below a static route's prefix into
// a relative file name inside the route's root, written to dst. It decodes
// percent-escapes and refuses every way of naming something outside the
// root: a ".." segment (before or after decoding), an encoded slash or
// backslash ("%2f" would let one segment hide a separator from a later
// decoder), and NUL. Empty and "." segments are dropped. The result never
// starts with '/'; the root itself is ".". ok is false when the path must be
// refused with 400.
func CleanPath(dst []byte, p []byte) (rel []byte, ok bool) {
	out := dst[:0]
	segStart := 0 // start of the current segment in out
	flush := func() bool {
		seg := out[segStart:]
		switch {
		case len(seg) == 0:
		case len(seg) == 1 && seg[0] == '.':
			out = out[:segStart]
		case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
			return false
		default:
			out = append(out, '/')
		}
		segStart = len(out)
		return true
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch c {
		case '/':
			if !flush() {
				return nil, false
			}
			continue
		case '%':
			if i+2 >= len(p) {
				return nil, false
			}
			hi, ok1 := http1.HexDigit(p[i+1])
			lo, ok2 := http1.HexDigit(p[i+2])
			if !ok1 || !ok2 {
				return nil, false
			}
			c = hi<<4 | lo
			i += 2
			if c == '/' || c == '\\' {
				return nil, false
			}
		}
		if c == 0 {
			return nil, false
		}
		if len(out) == cap(out) {
			return nil, false // longer than any file name we serve
		}
		out = append(out, c)
	}
	if !flush() {
		return nil, false
	}
	if len(out) == 0 {
		return append(out, '.'), true
	}
	return out[:len(out)-1], true // drop the separator flush added
}

// HasDotSegment reports whether a relative name from CleanPath has a
// segment starting with '.' (".env", ".git/config", "app/.htpasswd"):
// such files are private by convention and are not served unless the
// route allows them. A leading ".well-known" is public (RFC 8615) when the
// name sits at the URL's root (atURLRoot: the route's prefix is "/"); a
// dot segment inside it is not.
func HasDotSegment(rel []byte, atURLRoot bool) bool {
	if len(rel) == 0 || (len(rel) == 1 && rel[0] == '.') {
		return false // the root itself
	}
	i := 0
	if rel[0] == '.' {
		const wellKnown = ".well-known"
		if !atURLRoot || len(rel) < len(wellKnown) || string(rel[:len(wellKnown)]) != wellKnown ||
			(len(rel) > len(wellKnown) && rel[len(wellKnown)] != '/') {
			return true
		}
		i = len(wellKnown)
	}
	for ; i+1 < len(rel); i++ {
		if rel[i] == '/' && rel[i+1] == '.' {
			return true
		}
	}
	return false
}

// isHashedName reports whether a file name carries a content hash as
// Django's ManifestStaticFilesStorage writes it ("app.0123456789ab.css"):
// such a file never changes, so it may be cached for a year.
func isHashedName(rel []byte) bool {
	base := rel
	for i := len(rel) - 1; i >= 0; i-- {
		if rel[i] == '/' {
			base = rel[i+1:]
			break
		}
	}
	// look for ".<12 hex>." anywhere in the base name
	for i := 0; i+14 <= len(base); i++ {
		if base[i] != '.' || base[i+13] != '.' {
			continue
		}
		hex := true
		for _, c := range base[i+1 : i+13] {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				hex = false
				break
			}
		}
		if hex {
			return true
		}
	}
	return false
}
