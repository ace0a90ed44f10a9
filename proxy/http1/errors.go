package http1

import "errors"

// ErrIncomplete reports that more bytes are needed before the message head
// (or the chunk line) can be judged. It is not a protocol error.
var ErrIncomplete = errors.New("http1: incomplete message")

// Error is a protocol violation. Status is the HTTP status code a server
// answers with (400, 413, 414, 417, 431, 501, 505); the connection must be
// closed after the answer because the framing of what follows is unknown.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string { return "http1: " + e.Reason }

// Each protocol error is a preallocated value so that refusing a request does
// not allocate either; callers compare with errors.As or read Status.
var (
	errBareLF           = &Error{400, "bare LF in message head"}
	errBareCR           = &Error{400, "bare CR in message head"}
	errHeadTooLarge     = &Error{431, "request header block too large"}
	errTooManyHeaders   = &Error{431, "too many header fields"}
	errTargetTooLong    = &Error{414, "request target too long"}
	errBadRequestLine   = &Error{400, "malformed request line"}
	errBadMethod        = &Error{400, "malformed method"}
	errBadTarget        = &Error{400, "malformed request target"}
	errBadVersion       = &Error{400, "malformed HTTP version"}
	errVersion          = &Error{505, "HTTP version not supported"}
	errObsFold          = &Error{400, "obsolete line folding in header"}
	errEmptyName        = &Error{400, "empty header field name"}
	errBadName          = &Error{400, "invalid character in header field name"}
	errSpaceBeforeColon = &Error{400, "whitespace between header field name and colon"}
	errNoColon          = &Error{400, "header line without colon"}
	errBadValue         = &Error{400, "control character in header field value"}
	errSuspiciousName   = &Error{400, "header field name resembles Transfer-Encoding or Content-Length"}
	errNoHost           = &Error{400, "missing Host header"}
	errDupHost          = &Error{400, "duplicate Host header"}
	errBadHost          = &Error{400, "malformed Host header"}
	errHostMismatch     = &Error{400, "absolute-form target disagrees with Host"}
	errBadCL            = &Error{400, "malformed Content-Length"}
	errDupCL            = &Error{400, "multiple Content-Length headers"}
	errCLAndTE          = &Error{400, "both Content-Length and Transfer-Encoding"}
	errBadTE            = &Error{400, "Transfer-Encoding other than a single chunked"}
	errDupTE            = &Error{400, "multiple Transfer-Encoding headers"}
	errTEOnHTTP10       = &Error{400, "Transfer-Encoding in an HTTP/1.0 request"}
	errBodyNotAllowed   = &Error{400, "request body on a method without body semantics"}
	errExpectation      = &Error{417, "unsupported expectation"}
	errBodyTooLarge     = &Error{413, "request body too large"}
	errBadChunk         = &Error{400, "malformed chunked encoding"}
	errChunkLine        = &Error{400, "chunk size line too long"}
	errTrailerTooLarge  = &Error{431, "chunked trailer section too large"}
	errConnect          = &Error{501, "CONNECT is not supported"}
)
