package http2

// Error is a protocol error: Code is what goes into the RST_STREAM or
// GOAWAY that answers it, Reason says what the peer did, for the log.
type Error struct {
	Code   ErrCode
	Reason string
}

func (e *Error) Error() string { return "http2: " + e.Reason + " (" + e.Code.String() + ")" }

// Each error is a preallocated value, so that refusing costs no allocation.
var (
	errHPACKIndex          = &Error{ErrCodeCompression, "hpack: invalid index"}
	errHPACKInteger        = &Error{ErrCodeCompression, "hpack: integer too large"}
	errHPACKTruncated      = &Error{ErrCodeCompression, "hpack: truncated field"}
	errHPACKHuffman        = &Error{ErrCodeCompression, "hpack: invalid Huffman coding"}
	errHPACKSizeUpdate     = &Error{ErrCodeCompression, "hpack: table size update above SETTINGS_HEADER_TABLE_SIZE"}
	errHPACKLateSizeUpdate = &Error{ErrCodeCompression, "hpack: table size update after a field"}
	errHPACKNoRoom         = &Error{ErrCodeInternal, "hpack: decoding buffer too small for the dynamic table"}
)

// Errors of the response API.
var (
	ErrStreamClosed = &Error{ErrCodeStreamClosed, "stream is closed"}
	ErrHeadSent     = &Error{ErrCodeInternal, "response head already sent"}
	ErrNoHead       = &Error{ErrCodeInternal, "response head not sent yet"}
	ErrStreamEnded  = &Error{ErrCodeInternal, "response already ended"}
	ErrStatus       = &Error{ErrCodeInternal, "invalid response status"}
)

// Connection errors (RFC 9113 §5.4.1).
var (
	errPreface             = &Error{ErrCodeProtocol, "invalid connection preface"}
	errNoSettings          = &Error{ErrCodeProtocol, "first frame is not SETTINGS"}
	errFrameSize           = &Error{ErrCodeFrameSize, "frame larger than SETTINGS_MAX_FRAME_SIZE"}
	errHeaderBlockBroken   = &Error{ErrCodeProtocol, "frame inside a header block"}
	errPushPromise         = &Error{ErrCodeProtocol, "PUSH_PROMISE from a client"}
	errDataStream0         = &Error{ErrCodeProtocol, "DATA on stream 0"}
	errIdleStream          = &Error{ErrCodeProtocol, "frame on an idle stream"}
	errConnFlow            = &Error{ErrCodeFlowControl, "DATA beyond the connection window"}
	errPadding             = &Error{ErrCodeProtocol, "padding longer than the frame"}
	errHeadersStream0      = &Error{ErrCodeProtocol, "HEADERS on stream 0"}
	errEvenStream          = &Error{ErrCodeProtocol, "client stream id is even"}
	errStreamOrder         = &Error{ErrCodeProtocol, "stream id lower than an earlier one"}
	errHeadersShort        = &Error{ErrCodeFrameSize, "HEADERS too short for its priority fields"}
	errContinuation        = &Error{ErrCodeProtocol, "CONTINUATION without a header block"}
	errContinuationFlood   = &Error{ErrCodeEnhanceYourCalm, "too many CONTINUATION frames in a header block"}
	errHeaderBlockSize     = &Error{ErrCodeEnhanceYourCalm, "header block too large"}
	errPriorityStream0     = &Error{ErrCodeProtocol, "PRIORITY on stream 0"}
	errRSTSize             = &Error{ErrCodeFrameSize, "RST_STREAM length is not 4"}
	errRSTStream0          = &Error{ErrCodeProtocol, "RST_STREAM on stream 0"}
	errSettingsStream      = &Error{ErrCodeProtocol, "SETTINGS on a stream"}
	errSettingsAckSize     = &Error{ErrCodeFrameSize, "SETTINGS ACK with a payload"}
	errSettingsSize        = &Error{ErrCodeFrameSize, "SETTINGS length not a multiple of 6"}
	errSettingsPush        = &Error{ErrCodeProtocol, "SETTINGS_ENABLE_PUSH above 1"}
	errSettingsWindow      = &Error{ErrCodeFlowControl, "SETTINGS_INITIAL_WINDOW_SIZE too large"}
	errSettingsFrameSize   = &Error{ErrCodeProtocol, "SETTINGS_MAX_FRAME_SIZE out of range"}
	errSettingsConnect     = &Error{ErrCodeProtocol, "SETTINGS_ENABLE_CONNECT_PROTOCOL above 1"}
	errSettingsTimeout     = &Error{ErrCodeSettingsTimeout, "SETTINGS not acknowledged in time"}
	errPingStream          = &Error{ErrCodeProtocol, "PING on a stream"}
	errPingSize            = &Error{ErrCodeFrameSize, "PING length is not 8"}
	errGoAwayStream        = &Error{ErrCodeProtocol, "GOAWAY on a stream"}
	errGoAwaySize          = &Error{ErrCodeFrameSize, "GOAWAY shorter than 8"}
	errWindowUpdateSize    = &Error{ErrCodeFrameSize, "WINDOW_UPDATE length is not 4"}
	errConnSendFlow        = &Error{ErrCodeFlowControl, "connection window above 2^31-1"}
	errStreamClosedHeaders = &Error{ErrCodeStreamClosed, "HEADERS on a closed stream"}
	errResetFlood          = &Error{ErrCodeEnhanceYourCalm, "too many stream resets"}
	errControlFlood        = &Error{ErrCodeEnhanceYourCalm, "too many control frames"}
	errOutputFlood         = &Error{ErrCodeEnhanceYourCalm, "client does not read what it asks for"}
)

// Stream errors (RFC 9113 §5.4.2, §8.1.1).
var (
	errStreamClosedData   = &Error{ErrCodeStreamClosed, "DATA on a closed stream"}
	errStreamFlow         = &Error{ErrCodeFlowControl, "DATA beyond the stream window"}
	errStreamSendFlow     = &Error{ErrCodeFlowControl, "stream window above 2^31-1"}
	errWindowUpdateZero   = &Error{ErrCodeProtocol, "WINDOW_UPDATE with increment 0"}
	errContentLength      = &Error{ErrCodeProtocol, "body length differs from content-length"}
	errSelfDependency     = &Error{ErrCodeProtocol, "stream depends on itself"}
	errPrioritySize       = &Error{ErrCodeFrameSize, "PRIORITY length is not 5"}
	errRefused            = &Error{ErrCodeRefusedStream, "too many concurrent streams"}
	errAfterGoAway        = &Error{ErrCodeRefusedStream, "stream opened after GOAWAY"}
	errTrailersNoEnd      = &Error{ErrCodeProtocol, "trailers without END_STREAM"}
	errTrailersSize       = &Error{ErrCodeProtocol, "trailer section too large"}
	errPseudoInTrailers   = &Error{ErrCodeProtocol, "pseudo-header field in trailers"}
	errFieldName          = &Error{ErrCodeProtocol, "invalid field name (upper case or forbidden character)"}
	errFieldValue         = &Error{ErrCodeProtocol, "invalid field value"}
	errPseudoAfterRegular = &Error{ErrCodeProtocol, "pseudo-header field after a regular one"}
	errPseudoUnknown      = &Error{ErrCodeProtocol, "unknown or response pseudo-header field"}
	errPseudoDuplicate    = &Error{ErrCodeProtocol, "duplicate pseudo-header field"}
	errConnectionSpecific = &Error{ErrCodeProtocol, "connection-specific header field"}
	errTE                 = &Error{ErrCodeProtocol, "te other than trailers"}
	errContentLengthField = &Error{ErrCodeProtocol, "malformed or repeated content-length"}
	errNoMethod           = &Error{ErrCodeProtocol, "missing :method"}
	errConnectPseudo      = &Error{ErrCodeProtocol, "CONNECT with wrong pseudo-header fields"}
	errProtocolPseudo     = &Error{ErrCodeProtocol, ":protocol without CONNECT"}
	errMissingPseudo      = &Error{ErrCodeProtocol, "missing :scheme or :path"}
	errEmptyPath          = &Error{ErrCodeProtocol, "empty :path"}
	errAuthority          = &Error{ErrCodeProtocol, ":authority with userinfo"}
	errHostMismatch       = &Error{ErrCodeProtocol, "host differs from :authority"}
	errPath               = &Error{ErrCodeProtocol, "malformed :path"}
)

// statusErrors say why the codec answered a request with a status itself.
var statusErrors = map[int]*Error{
	400: {ErrCodeNo, "bad request (400)"},
	417: {ErrCodeNo, "unsupported expectation (417)"},
	431: {ErrCodeNo, "request header fields too large (431)"},
	501: {ErrCodeNo, "CONNECT is not supported (501)"},
}
