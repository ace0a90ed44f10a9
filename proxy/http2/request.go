package http2

import (
	"bytes"

	"frontdoor/proxy/http1"
)

// Building and checking request heads (RFC 9113 §8.1–8.3). A request that
// breaks HTTP/2's own rules is malformed: the stream is reset with
// PROTOCOL_ERROR. A request HTTP/2 allows but the edge refuses as it does
// over HTTP/1.1 (an oversized head, a malformed Host, an unsupported
// expectation or CONNECT) is answered with the same status as there.

// scratchSize is the decoding buffer for a head: the largest head, plus
// room for the largest field the dynamic table can hold (Decoder.Next's
// contract).
func (c *Conn) scratchSize() int {
	return int(c.cfg.MaxHeaderListSize) + int(c.cfg.HeaderTableSize)
}

// headCheck gathers what the fields of a head say.
type headCheck struct {
	method, scheme, authority, path, protocol []byte
	host                                      []byte
	sawRegular, sawHost, sawCL                bool
	cookies                                   int
	cookieBytes                               int
	declared                                  int64
	expect100                                 bool
	perr                                      *Error // malformed
	status                                    int    // refused with this status
}

// decodeRequest decodes a request's header block into s. It returns the
// status to answer with, or the protocol error to reset the stream with,
// or a decoding error that ends the connection.
func (c *Conn) decodeRequest(block []byte, s *stream, endStream bool) (int, *Error, *Error) {
	scratch := c.pool.getBuf(c.scratchSize())
	defer c.pool.putBuf(scratch)
	dst := scratch[:0]
	hc := headCheck{declared: -1}
	r := &s.req
	r.Headers = r.Headers[:0]
	listSize := 0
	overflow := false
	c.dec.Start(block)
	for {
		f, out, ok, err := c.dec.Next(dst)
		if err != nil {
			return 0, nil, err.(*Error)
		}
		if !ok {
			break
		}
		listSize += f.Size
		if overflow || f.Truncated || listSize > int(c.cfg.MaxHeaderListSize) {
			// Too large (an HPACK bomb, or just too many cookies): keep
			// decoding for the table's sake, keep nothing.
			overflow = true
			dst = scratch[:0]
			continue
		}
		dst = out
		if hc.perr == nil && hc.status == 0 {
			c.requestField(&hc, r, f)
		}
	}
	switch {
	case overflow:
		return 431, nil, nil
	case hc.perr != nil:
		return 0, hc.perr, nil
	case hc.status != 0:
		return hc.status, nil, nil
	}
	if status, perr := c.checkRequest(&hc, r, endStream); perr != nil || status != 0 {
		return status, perr, nil
	}
	c.moveHead(s, scratch, len(dst), &hc)
	return 0, nil, nil
}

// requestField checks one field of a request head and records it.
func (c *Conn) requestField(hc *headCheck, r *Request, f Field) {
	name, value := f.Name, f.Value
	if !validValue(value) {
		hc.perr = errFieldValue
		return
	}
	if len(name) > 0 && name[0] == ':' {
		if hc.sawRegular {
			hc.perr = errPseudoAfterRegular
			return
		}
		var p *[]byte
		switch string(name) {
		case ":method":
			p = &hc.method
		case ":scheme":
			p = &hc.scheme
		case ":authority":
			p = &hc.authority
		case ":path":
			p = &hc.path
		case ":protocol":
			if !c.cfg.EnableConnectProtocol {
				hc.perr = errPseudoUnknown
				return
			}
			p = &hc.protocol
		default:
			hc.perr = errPseudoUnknown // :status included
			return
		}
		if *p != nil {
			hc.perr = errPseudoDuplicate
			return
		}
		*p = value
		return
	}
	hc.sawRegular = true
	underscore, ok := validName(name)
	if !ok {
		hc.perr = errFieldName
		return
	}
	id := http1.LookupHeader(name)
	switch id {
	case http1.HeaderConnection, http1.HeaderKeepAlive, http1.HeaderProxyConnection,
		http1.HeaderTransferEncoding, http1.HeaderUpgrade:
		hc.perr = errConnectionSpecific
		return
	case http1.HeaderTE:
		if !http1.EqualFold(value, "trailers") {
			hc.perr = errTE
			return
		}
	case http1.HeaderContentLength:
		n, ok := http1.ParseContentLength(value)
		if !ok || hc.sawCL {
			hc.perr = errContentLengthField
			return
		}
		hc.sawCL, hc.declared = true, n
	case http1.HeaderHost:
		if hc.sawHost {
			hc.status = 400 // two Host fields: 400 as over HTTP/1.1
			return
		}
		hc.sawHost, hc.host = true, value
	case http1.HeaderExpect:
		if !http1.EqualFold(value, "100-continue") {
			hc.status = 417
			return
		}
		hc.expect100 = true
	case http1.HeaderCookie:
		hc.cookies++
		hc.cookieBytes += len(value)
	case http1.HeaderOther:
		if framingLookalike(name) {
			hc.status = 400
			return
		}
	}
	if len(r.Headers) >= c.cfg.MaxHeaders {
		hc.status = 431
		return
	}
	r.Headers = append(r.Headers, http1.Header{Name: name, Value: value, ID: id, Underscore: underscore})
}

// checkRequest applies the rules that concern the head as a whole and
// fills in r.
func (c *Conn) checkRequest(hc *headCheck, r *Request, endStream bool) (int, *Error) {
	if hc.method == nil {
		return 0, errNoMethod
	}
	connect := string(hc.method) == "CONNECT"
	switch {
	case connect && hc.protocol == nil:
		// Plain CONNECT carries only :method and :authority (RFC 9113
		// §8.5); the edge does not tunnel to arbitrary hosts.
		if hc.scheme != nil || hc.path != nil || hc.authority == nil {
			return 0, errConnectPseudo
		}
		return 501, nil
	case hc.protocol != nil && !connect:
		return 0, errProtocolPseudo
	case hc.scheme == nil || hc.path == nil:
		return 0, errMissingPseudo
	case len(hc.path) == 0:
		return 0, errEmptyPath
	case connect && hc.authority == nil:
		return 0, errConnectPseudo
	}
	if hc.authority != nil && bytes.IndexByte(hc.authority, '@') >= 0 {
		return 0, errAuthority // userinfo is forbidden (RFC 9113 §8.3.1)
	}
	if hc.authority != nil && hc.sawHost && !equalFold(hc.authority, hc.host) {
		return 0, errHostMismatch
	}
	host := hc.authority
	if host == nil {
		host = hc.host
	}
	if len(host) == 0 || !http1.ValidHost(host) {
		return 400, nil
	}
	if !validMethod(hc.method) || !(string(hc.scheme) == "https" || string(hc.scheme) == "http") {
		return 400, nil
	}
	status, perr := splitPath(r, hc.path, hc.method)
	if perr != nil || status != 0 {
		return status, perr
	}
	if endStream && hc.declared > 0 {
		return 0, errContentLength // no DATA can follow
	}
	r.Method, r.Host, r.Scheme, r.Protocol = hc.method, host, hc.scheme, hc.protocol
	r.Major, r.Minor = 2, 0
	r.KeepAlive = true
	r.Expect100 = hc.expect100
	switch {
	case hc.declared >= 0:
		r.ContentLength = hc.declared
	case endStream:
		r.ContentLength = 0
	default:
		r.ContentLength = -1 // DATA frames until END_STREAM
	}
	return 0, nil
}

// splitPath sets Target, Path and Query from :path.
func splitPath(r *Request, p, method []byte) (int, *Error) {
	if len(p) == 1 && p[0] == '*' {
		if string(method) != "OPTIONS" {
			return 0, errPath
		}
		r.Target, r.Path = p, p
		return 0, nil
	}
	if p[0] != '/' {
		return 0, errPath
	}
	for _, b := range p {
		if b <= ' ' || b == 0x7f {
			return 0, errPath
		}
	}
	if h := bytes.IndexByte(p, '#'); h >= 0 {
		p = p[:h] // a fragment is never part of a request
	}
	r.Target = p
	if q := bytes.IndexByte(p, '?'); q >= 0 {
		r.Path, r.Query = p[:q], p[q+1:]
	} else {
		r.Path = p
	}
	if !validEscapes(r.Path) {
		return 400, nil // as over HTTP/1.1
	}
	return 0, nil
}

// moveHead copies the decoded head from scratch into a buffer of its size
// borrowed for the stream's life, joining cookie crumbs into one field
// (RFC 9113 §8.2.3) for the HTTP/1.1 side.
func (c *Conn) moveHead(s *stream, scratch []byte, used int, hc *headCheck) {
	size := used
	if hc.cookies > 1 {
		size += hc.cookieBytes + 2*(hc.cookies-1)
	}
	arena := c.pool.getBuf(size)[:used]
	copy(arena, scratch[:used])
	base := cap(scratch)
	rb := func(b []byte) []byte { return rebase(arena, base, b) }
	r := &s.req
	r.Method, r.Host, r.Scheme, r.Protocol = rb(r.Method), rb(r.Host), rb(r.Scheme), rb(r.Protocol)
	r.Target, r.Path, r.Query = rb(r.Target), rb(r.Path), rb(r.Query)
	for i := range r.Headers {
		h := &r.Headers[i]
		h.Name, h.Value = rb(h.Name), rb(h.Value)
	}
	if hc.cookies > 1 {
		arena = joinCookies(r, arena)
	}
	s.arena = arena
	s.declared = hc.declared
}

// rebase moves a slice of a buffer of capacity base to the same offset in
// arena. The offset shows in the slice's capacity, which runs to the
// buffer's end.
func rebase(arena []byte, base int, b []byte) []byte {
	if b == nil {
		return nil
	}
	off := base - cap(b)
	return arena[off : off+len(b) : off+len(b)]
}

// joinCookies replaces the cookie fields with one whose value is their
// values joined with "; ", built at the end of arena (which has room).
func joinCookies(r *Request, arena []byte) []byte {
	start := len(arena)
	first := -1
	kept := r.Headers[:0]
	for _, h := range r.Headers {
		if h.ID != http1.HeaderCookie {
			kept = append(kept, h)
			continue
		}
		if first < 0 {
			first = len(kept)
			kept = append(kept, h)
		} else {
			arena = append(arena, "; "...)
		}
		arena = append(arena, h.Value...)
	}
	r.Headers = kept
	r.Headers[first].Value = arena[start:len(arena):len(arena)]
	return arena
}

// decodeTrailers decodes a trailer section into s.trailers.
func (c *Conn) decodeTrailers(block []byte, s *stream) (*Error, *Error) {
	scratch := c.pool.getBuf(c.scratchSize())
	defer c.pool.putBuf(scratch)
	dst := scratch[:0]
	s.trailers = s.trailers[:0]
	var perr *Error
	listSize := 0
	c.dec.Start(block)
	for {
		f, out, ok, err := c.dec.Next(dst)
		if err != nil {
			return nil, err.(*Error)
		}
		if !ok {
			break
		}
		listSize += f.Size
		if perr != nil || f.Truncated || listSize > int(c.cfg.MaxHeaderListSize) {
			if perr == nil {
				perr = errTrailersSize
			}
			dst = scratch[:0]
			continue
		}
		dst = out
		underscore, ok := validName(f.Name)
		switch {
		case len(f.Name) > 0 && f.Name[0] == ':':
			perr = errPseudoInTrailers
		case !ok:
			perr = errFieldName
		case !validValue(f.Value):
			perr = errFieldValue
		case len(s.trailers) >= c.cfg.MaxHeaders:
			perr = errTrailersSize
		default:
			s.trailers = append(s.trailers, http1.Header{Name: f.Name, Value: f.Value, ID: http1.LookupHeader(f.Name), Underscore: underscore})
		}
	}
	if perr != nil {
		return perr, nil
	}
	arena := c.pool.getBuf(len(dst))[:len(dst)]
	copy(arena, dst)
	for i := range s.trailers {
		h := &s.trailers[i]
		h.Name, h.Value = rebase(arena, cap(scratch), h.Name), rebase(arena, cap(scratch), h.Value)
	}
	c.pool.putBuf(s.tarena)
	s.tarena = arena
	return nil, nil
}

// discardBlock decodes a block whose fields are not wanted, for the sake
// of the HPACK state.
func (c *Conn) discardBlock(block []byte) *Error {
	scratch := c.pool.getBuf(int(c.cfg.HeaderTableSize) + 64)
	defer c.pool.putBuf(scratch)
	c.dec.Start(block)
	for {
		_, _, ok, err := c.dec.Next(scratch[:0])
		if err != nil {
			return err.(*Error)
		}
		if !ok {
			return nil
		}
	}
}
