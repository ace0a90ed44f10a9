package http2

import "encoding/binary"

// Frame layout and the codes of RFC 9113 §4 and §6–7.

// frameHeaderLen is the size of every frame header (RFC 9113 §4.1).
const frameHeaderLen = 9

// clientPreface is what a client sends before its first frame (RFC 9113 §3.4).
const clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

type frameType uint8

const (
	frameData         frameType = 0x0
	frameHeaders      frameType = 0x1
	framePriority     frameType = 0x2
	frameRSTStream    frameType = 0x3
	frameSettings     frameType = 0x4
	framePushPromise  frameType = 0x5
	framePing         frameType = 0x6
	frameGoAway       frameType = 0x7
	frameWindowUpdate frameType = 0x8
	frameContinuation frameType = 0x9
)

// Frame flags. Each is defined only for some frame types; a flag a frame
// type does not define is ignored (RFC 9113 §4.1).
const (
	flagEndStream  = 0x1 // DATA, HEADERS
	flagAck        = 0x1 // SETTINGS, PING
	flagEndHeaders = 0x4 // HEADERS, CONTINUATION
	flagPadded     = 0x8 // DATA, HEADERS
	flagPriority   = 0x20
)

// Setting identifiers (RFC 9113 §6.5.2, RFC 8441 §3).
const (
	settingHeaderTableSize       = 0x1
	settingEnablePush            = 0x2
	settingMaxConcurrentStreams  = 0x3
	settingInitialWindowSize     = 0x4
	settingMaxFrameSize          = 0x5
	settingMaxHeaderListSize     = 0x6
	settingEnableConnectProtocol = 0x8
)

// Protocol bounds (RFC 9113 §4.2, §6.9).
const (
	minMaxFrameSize   = 1 << 14
	maxMaxFrameSize   = 1<<24 - 1
	maxWindow         = 1<<31 - 1
	defaultWindow     = 65535
	maxStreamID       = 1<<31 - 1
	defaultTableSize  = 4096
	streamIDMask      = 1<<31 - 1
	defaultFrameLimit = minMaxFrameSize
)

// ErrCode is an HTTP/2 error code, carried by RST_STREAM and GOAWAY
// (RFC 9113 §7).
type ErrCode uint32

// The error codes of RFC 9113 §7.
const (
	ErrCodeNo                 ErrCode = 0x0
	ErrCodeProtocol           ErrCode = 0x1
	ErrCodeInternal           ErrCode = 0x2
	ErrCodeFlowControl        ErrCode = 0x3
	ErrCodeSettingsTimeout    ErrCode = 0x4
	ErrCodeStreamClosed       ErrCode = 0x5
	ErrCodeFrameSize          ErrCode = 0x6
	ErrCodeRefusedStream      ErrCode = 0x7
	ErrCodeCancel             ErrCode = 0x8
	ErrCodeCompression        ErrCode = 0x9
	ErrCodeConnect            ErrCode = 0xa
	ErrCodeEnhanceYourCalm    ErrCode = 0xb
	ErrCodeInadequateSecurity ErrCode = 0xc
	ErrCodeHTTP11Required     ErrCode = 0xd
)

var errCodeNames = [...]string{
	"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
	"SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM",
	"CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
	"INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
}

func (c ErrCode) String() string {
	if int(c) < len(errCodeNames) {
		return errCodeNames[c]
	}
	return "unknown error code"
}

// frameHeader is a parsed frame header.
type frameHeader struct {
	length uint32
	typ    frameType
	flags  uint8
	stream uint32 // reserved bit cleared
}

func parseFrameHeader(b *[frameHeaderLen]byte) frameHeader {
	return frameHeader{
		length: uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]),
		typ:    frameType(b[3]),
		flags:  b[4],
		stream: binary.BigEndian.Uint32(b[5:]) & streamIDMask,
	}
}

func (h *frameHeader) has(flag uint8) bool { return h.flags&flag != 0 }

func appendFrameHeader(dst []byte, length int, typ frameType, flags uint8, stream uint32) []byte {
	return append(dst, byte(length>>16), byte(length>>8), byte(length),
		byte(typ), flags,
		byte(stream>>24), byte(stream>>16), byte(stream>>8), byte(stream))
}

// putFrameHeader writes a frame header into b[0:9].
func putFrameHeader(b []byte, length int, typ frameType, flags uint8, stream uint32) {
	_ = b[8]
	b[0], b[1], b[2] = byte(length>>16), byte(length>>8), byte(length)
	b[3], b[4] = byte(typ), flags
	binary.BigEndian.PutUint32(b[5:], stream)
}

func appendUint32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// setting is one SETTINGS parameter.
type setting struct {
	id  uint16
	val uint32
}

func appendSettings(dst []byte, s []setting) []byte {
	dst = appendFrameHeader(dst, 6*len(s), frameSettings, 0, 0)
	for _, p := range s {
		dst = append(dst, byte(p.id>>8), byte(p.id))
		dst = appendUint32(dst, p.val)
	}
	return dst
}

func appendSettingsAck(dst []byte) []byte {
	return appendFrameHeader(dst, 0, frameSettings, flagAck, 0)
}

func appendPing(dst []byte, ack bool, data *[8]byte) []byte {
	var flags uint8
	if ack {
		flags = flagAck
	}
	dst = appendFrameHeader(dst, 8, framePing, flags, 0)
	return append(dst, data[:]...)
}

func appendWindowUpdate(dst []byte, stream uint32, incr uint32) []byte {
	dst = appendFrameHeader(dst, 4, frameWindowUpdate, 0, stream)
	return appendUint32(dst, incr)
}

func appendRSTStream(dst []byte, stream uint32, code ErrCode) []byte {
	dst = appendFrameHeader(dst, 4, frameRSTStream, 0, stream)
	return appendUint32(dst, uint32(code))
}

func appendGoAway(dst []byte, lastStream uint32, code ErrCode) []byte {
	dst = appendFrameHeader(dst, 8, frameGoAway, 0, 0)
	dst = appendUint32(dst, lastStream)
	return appendUint32(dst, uint32(code))
}
