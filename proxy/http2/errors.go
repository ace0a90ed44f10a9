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
