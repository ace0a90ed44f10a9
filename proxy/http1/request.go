package http1

// Header is one field line of a message head. Name and Value are slices of
// the buffer the head was parsed from; Value has surrounding whitespace
// removed.
type Header struct {
	Name  []byte
	Value []byte
	ID    HeaderID
	// Underscore is set when the name contains '_'. Such fields are dropped
	// before forwarding (as nginx does by default): CGI-style servers map
	// '-' and '_' to the same environment key, so "X_Forwarded_For" could
	// impersonate "X-Forwarded-For" at the application.
	Underscore bool
}

// Limits bounds what a request head may contain.
type Limits struct {
	MaxHeadBytes   int // whole head, request line included (431 above)
	MaxTargetBytes int // request target (414 above)
	MaxHeaders     int // number of field lines (431 above)
}

// DefaultLimits are the limits used when a field of Limits is zero.
var DefaultLimits = Limits{MaxHeadBytes: 16 << 10, MaxTargetBytes: 8 << 10, MaxHeaders: 100}

// Request is a parsed request head. Reuse one value for many requests: Parse
// resets it and reuses its Headers slice.
type Request struct {
	Method []byte
	// Target is the request target as sent; for an absolute-form target it
	// is rewritten to its origin-form part (path and query).
	Target []byte
	Path   []byte // Target up to '?'
	Query  []byte // after '?', without it; nil when there is no '?'
	Major  int    // always 1
	Minor  int    // 0 or 1 (HTTP/1.2+ is treated as 1.1)
	// Host is the Host header value (or the absolute-form authority).
	Host    []byte
	Headers []Header

	// ContentLength is the body length from Content-Length, 0 when the
	// request has no body, and -1 when the body is chunked.
	ContentLength int64
	Chunked       bool
	// Codings are the transfer codings applied before chunked, in the
	// order the sender applied them (decode in reverse).
	Codings    [MaxCodings]Coding
	NumCodings int
	// KeepAlive reports whether the connection may be reused afterwards.
	KeepAlive bool
	// Expect100 is set for "Expect: 100-continue".
	Expect100 bool
	// Upgrade is set when "Connection: upgrade" and an Upgrade header are
	// both present (a WebSocket handshake, say).
	Upgrade bool
	// AbsoluteForm is set when the target was sent in absolute form.
	AbsoluteForm bool
	// HeadLen is the number of bytes of the head, final empty line included
	// (and any empty lines skipped before the request line).
	HeadLen int
}

// Header returns the value of the first field with the given ID, or nil.
func (r *Request) Header(id HeaderID) []byte {
	for i := range r.Headers {
		if r.Headers[i].ID == id {
			return r.Headers[i].Value
		}
	}
	return nil
}

func (r *Request) reset() {
	hs := r.Headers[:0]
	*r = Request{Headers: hs}
}
