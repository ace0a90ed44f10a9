package http1

import "bytes"

// Response is a parsed response head from an upstream server. Reuse one
// value for many responses.
type Response struct {
	Status  int
	Reason  []byte
	Minor   int
	Headers []Header
	// ContentLength is the body length, -1 when the body is chunked or
	// delimited by the connection closing (see Framing).
	ContentLength int64
	Framing       Framing
	// KeepAlive reports whether the upstream connection may be reused.
	KeepAlive bool
	// Upgrade is set for 101 Switching Protocols.
	Upgrade bool
	HeadLen int
}

// Framing says how a response body is delimited (RFC 9112 §6.3).
type Framing uint8

// Body framings.
const (
	FramingNone    Framing = iota // no body: HEAD, 1xx, 204, 304
	FramingLength                 // Content-Length bytes
	FramingChunked                // chunked transfer coding
	FramingClose                  // until the server closes the connection
)

// Header returns the first value of the field with the given ID, or nil.
func (r *Response) Header(id HeaderID) []byte {
	for i := range r.Headers {
		if r.Headers[i].ID == id {
			return r.Headers[i].Value
		}
	}
	return nil
}

// HeaderNamed returns the first value of the field called name (lower
// case), or nil.
func (r *Response) HeaderNamed(name string) []byte {
	for i := range r.Headers {
		if EqualFold(r.Headers[i].Name, name) {
			return r.Headers[i].Value
		}
	}
	return nil
}

var (
	errBadStatusLine = &Error{502, "malformed status line from upstream"}
	errRespCLTE      = &Error{502, "upstream response has both Content-Length and Transfer-Encoding"}
	errRespBadCL     = &Error{502, "upstream response has a malformed or repeated Content-Length"}
	errRespBadTE     = &Error{502, "upstream response has a transfer coding other than chunked"}
	errRespField     = &Error{502, "malformed header field from upstream"}
	errRespTooLarge  = &Error{502, "upstream response head too large"}
)

// ScanResponse is Scan for a response head: the same framing, with errors
// that speak of the upstream's response rather than of a request.
func (s *HeadScanner) ScanResponse(buf []byte, lim *Limits) (int, error) {
	n, err := s.Scan(buf, lim)
	switch err {
	case errHeadTooLarge:
		return n, errRespTooLarge
	case errBadMethod, errBadRequestLine, errTargetTooLong:
		return n, errBadStatusLine
	}
	return n, err
}

// Parse parses a complete response head (delimited by HeadScanner.Scan).
// requestMethod decides whether a body follows (none for HEAD). Framing
// errors are refused (502): an upstream that frames ambiguously could
// desynchronise the pooled connection.
func (r *Response) Parse(head []byte, requestMethod []byte, lim *Limits) error {
	hs := r.Headers[:0]
	*r = Response{Headers: hs, HeadLen: len(head), ContentLength: -1}
	eol := bytes.IndexByte(head, '\n')
	if eol < 1 {
		return errBadStatusLine
	}
	line := head[:eol-1]
	// "HTTP/1.1 200 OK": version, SP, three digits, SP, reason (may be empty)
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' ||
		line[7] < '0' || line[7] > '9' || (len(line) > 12 && line[12] != ' ') {
		return errBadStatusLine
	}
	r.Minor = min(int(line[7]-'0'), 1)
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return errBadStatusLine
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return errBadStatusLine
	}
	r.Status = code
	if len(line) > 13 {
		r.Reason = line[13:]
	}
	for _, c := range r.Reason {
		if isValueCtl(c) {
			return errBadStatusLine
		}
	}
	var seenCL, seenTE, connClose, connKeepAlive bool
	b := head[eol+1:]
	for {
		eol := bytes.IndexByte(b, '\n')
		if eol < 1 {
			return errRespField
		}
		line := b[:eol-1]
		b = b[eol+1:]
		if len(line) == 0 {
			break
		}
		name, value, err := splitField(line)
		if err != nil {
			return errRespField
		}
		if len(r.Headers) >= lim.MaxHeaders {
			return errTooManyHeaders
		}
		id := LookupHeader(name)
		r.Headers = append(r.Headers, Header{Name: name, Value: value, ID: id})
		switch id {
		case HeaderContentLength:
			n, ok := ParseContentLength(value)
			if !ok || seenCL {
				return errRespBadCL
			}
			seenCL = true
			r.ContentLength = n
		case HeaderTransferEncoding:
			if seenTE || !EqualFold(value, "chunked") {
				return errRespBadTE
			}
			seenTE = true
		case HeaderConnection:
			forEachToken(value, func(tok []byte) {
				switch {
				case EqualFold(tok, "close"):
					connClose = true
				case EqualFold(tok, "keep-alive"):
					connKeepAlive = true
				}
			})
		}
	}
	if seenCL && seenTE {
		return errRespCLTE
	}
	if r.Minor == 1 {
		r.KeepAlive = !connClose
	} else {
		r.KeepAlive = connKeepAlive && !connClose
	}
	switch {
	case code == 101:
		r.Upgrade = true
		r.Framing = FramingNone
	case code < 200 || code == 204 || code == 304 || string(requestMethod) == "HEAD":
		r.Framing = FramingNone
		if string(requestMethod) == "HEAD" || code == 304 {
			// a Content-Length here describes the GET response; keep it
			// for the client but read no body
		} else {
			r.ContentLength = -1
		}
	case seenTE:
		r.Framing = FramingChunked
	case seenCL:
		r.Framing = FramingLength
	default:
		r.Framing = FramingClose
		r.KeepAlive = false
	}
	return nil
}

// splitField splits a field line strictly: a token name, a colon, the
// value without surrounding whitespace and without control bytes.
func splitField(line []byte) (name, value []byte, err error) {
	if line[0] == ' ' || line[0] == '\t' {
		return nil, nil, errObsFold
	}
	colon := -1
	for i, c := range line {
		if c == ':' {
			colon = i
			break
		}
		if !isTchar[c] {
			return nil, nil, errBadName
		}
	}
	if colon <= 0 {
		return nil, nil, errNoColon
	}
	value = trimOWS(line[colon+1:])
	for _, c := range value {
		if isValueCtl(c) {
			return nil, nil, errBadValue
		}
	}
	return line[:colon], value, nil
}
