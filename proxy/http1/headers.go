package http1

// HeaderID names the header fields the edge acts on. Other fields are
// HeaderOther and are passed through untouched.
type HeaderID uint8

// The header fields frontdoor interprets.
const (
	HeaderOther HeaderID = iota
	HeaderHost
	HeaderContentLength
	HeaderTransferEncoding
	HeaderConnection
	HeaderKeepAlive
	HeaderProxyConnection
	HeaderTE
	HeaderTrailer
	HeaderUpgrade
	HeaderExpect
	HeaderAcceptEncoding
	HeaderIfNoneMatch
	HeaderIfModifiedSince
	HeaderRange
	HeaderIfRange
	HeaderXForwardedFor
	HeaderXForwardedProto
	HeaderXForwardedHost
	HeaderXRealIP
	HeaderXRequestID
	HeaderForwarded
	HeaderContentType
	HeaderAuthorization
	HeaderCookie
	HeaderUserAgent
	HeaderReferer
	HeaderAccept
	HeaderProxyAuthorization
)

// knownHeaders maps lower-case names to IDs. Lookup compares by length first
// so that most names are rejected after one integer comparison.
var knownHeaders = [...]struct {
	name string
	id   HeaderID
}{
	{"host", HeaderHost},
	{"content-length", HeaderContentLength},
	{"transfer-encoding", HeaderTransferEncoding},
	{"connection", HeaderConnection},
	{"keep-alive", HeaderKeepAlive},
	{"proxy-connection", HeaderProxyConnection},
	{"te", HeaderTE},
	{"trailer", HeaderTrailer},
	{"upgrade", HeaderUpgrade},
	{"expect", HeaderExpect},
	{"accept-encoding", HeaderAcceptEncoding},
	{"if-none-match", HeaderIfNoneMatch},
	{"if-modified-since", HeaderIfModifiedSince},
	{"range", HeaderRange},
	{"if-range", HeaderIfRange},
	{"x-forwarded-for", HeaderXForwardedFor},
	{"x-forwarded-proto", HeaderXForwardedProto},
	{"x-forwarded-host", HeaderXForwardedHost},
	{"x-real-ip", HeaderXRealIP},
	{"x-request-id", HeaderXRequestID},
	{"forwarded", HeaderForwarded},
	{"content-type", HeaderContentType},
	{"authorization", HeaderAuthorization},
	{"cookie", HeaderCookie},
	{"user-agent", HeaderUserAgent},
	{"referer", HeaderReferer},
	{"accept", HeaderAccept},
	{"proxy-authorization", HeaderProxyAuthorization},
}

// LookupHeader returns the ID of a field name (any case).
func LookupHeader(name []byte) HeaderID {
	for i := range knownHeaders {
		if len(knownHeaders[i].name) == len(name) && EqualFold(name, knownHeaders[i].name) {
			return knownHeaders[i].id
		}
	}
	return HeaderOther
}

// IsHopByHop reports whether id is a connection-specific field that a proxy
// must not forward (RFC 9110 §7.6.1).
func IsHopByHop(id HeaderID) bool {
	switch id {
	case HeaderConnection, HeaderKeepAlive, HeaderProxyConnection, HeaderTE,
		HeaderTrailer, HeaderTransferEncoding, HeaderUpgrade, HeaderProxyAuthorization:
		return true
	}
	return false
}

// framingLookalike reports whether a field name that is not exactly
// Transfer-Encoding or Content-Length would become one after the kind of
// normalisation some servers apply (case folding, '_' or repeated '-' read as
// '-'). Such names are refused: a back end might honour them.
func framingLookalike(name []byte) bool {
	var buf [24]byte
	n := 0
	for _, c := range name {
		if c == '-' || c == '_' || c == ' ' || c == '\t' {
			continue
		}
		if n == len(buf) {
			return false
		}
		buf[n] = lower(c)
		n++
	}
	s := string(buf[:n]) // does not allocate: compared, never stored
	return s == "transferencoding" || s == "contentlength"
}
