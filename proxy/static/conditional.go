package static

import (
	"bytes"

	"frontdoor/proxy/http1"
)

// Variant is the precompressed sibling an Accept-Encoding value accepts,
// the smallest first (brotli, zstd, gzip), or f itself.
func (f *File) Variant(ae []byte) *File {
	if !f.vary || ae == nil {
		return f
	}
	if f.br != nil && AcceptsEncoding(ae, "br") {
		return f.br
	}
	if f.zst != nil && AcceptsEncoding(ae, "zstd") {
		return f.zst
	}
	if f.gz != nil && AcceptsEncoding(ae, "gzip") {
		return f.gz
	}
	return f
}

// AcceptsEncoding reports whether an Accept-Encoding value lists coding
// with a non-zero quality.
func AcceptsEncoding(ae []byte, coding string) bool {
	for len(ae) > 0 {
		var item []byte
		if i := bytes.IndexByte(ae, ','); i >= 0 {
			item, ae = ae[:i], ae[i+1:]
		} else {
			item, ae = ae, nil
		}
		item = bytes.TrimSpace(item)
		name, params, _ := bytes.Cut(item, []byte{';'})
		name = bytes.TrimSpace(name)
		if !http1.EqualFold(name, coding) {
			continue
		}
		return !qualityIsZero(params)
	}
	return false
}

func qualityIsZero(params []byte) bool {
	params = bytes.TrimSpace(params)
	if len(params) < 2 || (params[0] != 'q' && params[0] != 'Q') || params[1] != '=' {
		return false
	}
	v := bytes.TrimSpace(params[2:])
	for _, c := range v {
		if c != '0' && c != '.' {
			return false
		}
	}
	return true
}

// NotModified evaluates a request's If-None-Match, or its
// If-Modified-Since when there is no If-None-Match (RFC 9110 §13.2.2);
// nil means the field is absent.
func (f *File) NotModified(ifNoneMatch, ifModifiedSince []byte) bool {
	if ifNoneMatch != nil {
		return etagListMatches(ifNoneMatch, f.etag)
	}
	if ifModifiedSince != nil {
		t, ok := parseHTTPDate(ifModifiedSince)
		return ok && f.mtimeSec <= t
	}
	return false
}

// etagListMatches does the weak comparison of If-None-Match.
func etagListMatches(list, etag []byte) bool {
	list = bytes.TrimSpace(list)
	if len(list) == 1 && list[0] == '*' {
		return true
	}
	for len(list) > 0 {
		var tag []byte
		if i := bytes.IndexByte(list, ','); i >= 0 {
			tag, list = list[:i], list[i+1:]
		} else {
			tag, list = list, nil
		}
		tag = bytes.TrimSpace(tag)
		tag = bytes.TrimPrefix(tag, []byte("W/"))
		if bytes.Equal(tag, etag) {
			return true
		}
	}
	return false
}

// RangeApplies reports whether a Range header applies given the
// request's If-Range (nil when absent): without If-Range it does; with
// one, only if it names the current representation (strong ETag
// comparison, or the exact Last-Modified date).
func (f *File) RangeApplies(ir []byte) bool {
	if ir == nil {
		return true
	}
	if len(ir) > 0 && ir[0] == '"' {
		return bytes.Equal(ir, f.etag)
	}
	return bytes.Equal(ir, f.lastMod)
}

// ParseRange parses a single byte range against size. ok reports a
// satisfiable range [start, end). For an unsatisfiable one it returns
// start == -2; for anything it does not serve (several ranges, another
// unit, bad syntax) start == -1, and the whole file is sent (RFC 9110 lets
// a server ignore Range).
func ParseRange(v []byte, size int64) (start, end int64, ok bool) {
	const prefix = "bytes="
	if len(v) <= len(prefix) || !http1.EqualFold(v[:len(prefix)], prefix) {
		return -1, 0, false
	}
	spec := bytes.TrimSpace(v[len(prefix):])
	if bytes.IndexByte(spec, ',') >= 0 {
		return -1, 0, false
	}
	dash := bytes.IndexByte(spec, '-')
	if dash < 0 {
		return -1, 0, false
	}
	first, last := bytes.TrimSpace(spec[:dash]), bytes.TrimSpace(spec[dash+1:])
	switch {
	case len(first) == 0: // suffix: the last N bytes
		n, valid := http1.ParseContentLength(last)
		if !valid {
			return -1, 0, false
		}
		if n == 0 || size == 0 {
			return -2, 0, false
		}
		return max(size-n, 0), size, true
	default:
		s, valid := http1.ParseContentLength(first)
		if !valid {
			return -1, 0, false
		}
		e := size - 1
		if len(last) > 0 {
			l, valid := http1.ParseContentLength(last)
			if !valid || l < s {
				return -1, 0, false
			}
			e = min(l, size-1)
		}
		if s >= size {
			return -2, 0, false
		}
		return s, e + 1, true
	}
}
