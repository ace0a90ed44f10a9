package http2

import (
	"fmt"
	"time"
)

// Config sets a connection's limits. The zero value of a field means its
// default (DefaultConfig); Normalize fills them in and checks the rest. One
// Config is shared, read-only, by all connections of an engine.
type Config struct {
	// MaxConcurrentStreams bounds the streams a client may have open at
	// once (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused with
	// REFUSED_STREAM. Default 100.
	MaxConcurrentStreams uint32
	// InitialWindowSize is each stream's receive window: how much request
	// body a client may send ahead of what the exchange has consumed
	// (SETTINGS_INITIAL_WINDOW_SIZE). Default 256 KiB.
	InitialWindowSize uint32
	// ConnWindowSize is the connection's receive window, raised from the
	// protocol's 65,535 at the start. Default 1 MiB.
	ConnWindowSize uint32
	// MaxFrameSize is the largest frame payload accepted
	// (SETTINGS_MAX_FRAME_SIZE). Default and minimum 16,384.
	MaxFrameSize uint32
	// MaxHeaderListSize bounds a decoded request head: names plus values
	// plus 32 octets per field (SETTINGS_MAX_HEADER_LIST_SIZE). Above it
	// the request is answered 431. Default 16 KiB, as HTTP/1.1 heads; at
	// most 64 KiB (decoding buffers come from the Pool's size classes).
	MaxHeaderListSize uint32
	// MaxHeaders bounds the fields of a request head (431 above).
	// Default 100, as HTTP/1.1.
	MaxHeaders int
	// HeaderTableSize is the HPACK dynamic table a client may use for
	// its requests (SETTINGS_HEADER_TABLE_SIZE): the main part of an idle
	// connection's memory. Default 4,096; at most 65,535.
	HeaderTableSize uint32
	// MaxHeaderBlockBytes bounds a compressed header block, HEADERS and
	// CONTINUATION frames together (CONTINUATION flood, CVE-2023-45288);
	// above it the connection ends with ENHANCE_YOUR_CALM. Default twice
	// MaxHeaderListSize; at most 128 KiB.
	MaxHeaderBlockBytes int
	// MaxHeaderBlockFrames bounds the frames of one header block.
	// Default 32.
	MaxHeaderBlockFrames int
	// EnableConnectProtocol offers extended CONNECT (RFC 8441), which
	// browsers use for WebSocket over HTTP/2.
	EnableConnectProtocol bool
	// SettingsTimeout is how long the client has to acknowledge our
	// SETTINGS before the connection ends with SETTINGS_TIMEOUT.
	// Default 10 s.
	SettingsTimeout time.Duration
	// DrainTimeout is how long a graceful shutdown waits for the PING
	// that follows its first GOAWAY before it sends the final one.
	// Default 5 s.
	DrainTimeout time.Duration
	// MaxResets streams reset within ResetWindow, by the client or by us
	// because of the client's protocol errors, end the connection with
	// ENHANCE_YOUR_CALM (Rapid Reset, CVE-2023-44487; MadeYouReset,
	// CVE-2025-8671). Default 200 per 10 s.
	MaxResets   int
	ResetWindow time.Duration
	// MaxControlFrames frames that cost work but carry no request within
	// ControlWindow (SETTINGS, PING, PRIORITY, empty DATA, empty header
	// fragments, tiny WINDOW_UPDATEs, frames on closed streams, unknown
	// types) end the connection with ENHANCE_YOUR_CALM. Default 1,000
	// per 10 s.
	MaxControlFrames int
	ControlWindow    time.Duration
	// OutputBufferSize is the output buffer a connection fills with DATA
	// before the loop must send some: WriteData accepts no more beyond
	// it. Default 64 KiB; at most 128 KiB.
	OutputBufferSize int
	// MaxPendingOutput ends a connection with ENHANCE_YOUR_CALM when the
	// client makes us queue more than this (acknowledgements it does not
	// read). Default 1 MiB.
	MaxPendingOutput int
}

// DefaultConfig holds the defaults of every field.
var DefaultConfig = Config{
	MaxConcurrentStreams: 100,
	InitialWindowSize:    256 << 10,
	ConnWindowSize:       1 << 20,
	MaxFrameSize:         minMaxFrameSize,
	MaxHeaderListSize:    16 << 10,
	MaxHeaders:           100,
	HeaderTableSize:      defaultTableSize,
	MaxHeaderBlockFrames: 32,
	SettingsTimeout:      10 * time.Second,
	DrainTimeout:         5 * time.Second,
	MaxResets:            200,
	ResetWindow:          10 * time.Second,
	MaxControlFrames:     1000,
	ControlWindow:        10 * time.Second,
	OutputBufferSize:     64 << 10,
	MaxPendingOutput:     1 << 20,
}

// Normalize fills zero fields with their defaults and checks the others.
// The error names the field and its valid range.
func (c *Config) Normalize() error {
	d := &DefaultConfig
	setU32 := func(v *uint32, def uint32) {
		if *v == 0 {
			*v = def
		}
	}
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setU32(&c.MaxConcurrentStreams, d.MaxConcurrentStreams)
	setU32(&c.InitialWindowSize, d.InitialWindowSize)
	setU32(&c.ConnWindowSize, d.ConnWindowSize)
	setU32(&c.MaxFrameSize, d.MaxFrameSize)
	setU32(&c.MaxHeaderListSize, d.MaxHeaderListSize)
	setInt(&c.MaxHeaders, d.MaxHeaders)
	setU32(&c.HeaderTableSize, d.HeaderTableSize)
	setInt(&c.MaxHeaderBlockBytes, 2*int(c.MaxHeaderListSize))
	setInt(&c.MaxHeaderBlockFrames, d.MaxHeaderBlockFrames)
	setDur(&c.SettingsTimeout, d.SettingsTimeout)
	setDur(&c.DrainTimeout, d.DrainTimeout)
	setInt(&c.MaxResets, d.MaxResets)
	setDur(&c.ResetWindow, d.ResetWindow)
	setInt(&c.MaxControlFrames, d.MaxControlFrames)
	setDur(&c.ControlWindow, d.ControlWindow)
	setInt(&c.OutputBufferSize, d.OutputBufferSize)
	setInt(&c.MaxPendingOutput, d.MaxPendingOutput)
	switch {
	case c.InitialWindowSize > maxWindow:
		return fmt.Errorf("http2: InitialWindowSize %d above %d", c.InitialWindowSize, maxWindow)
	case c.ConnWindowSize > maxWindow || c.ConnWindowSize < defaultWindow:
		return fmt.Errorf("http2: ConnWindowSize %d outside %d..%d", c.ConnWindowSize, defaultWindow, maxWindow)
	case c.MaxFrameSize < minMaxFrameSize || c.MaxFrameSize > maxMaxFrameSize:
		return fmt.Errorf("http2: MaxFrameSize %d outside %d..%d", c.MaxFrameSize, minMaxFrameSize, maxMaxFrameSize)
	case c.HeaderTableSize > 65535:
		return fmt.Errorf("http2: HeaderTableSize %d above 65535", c.HeaderTableSize)
	case c.MaxHeaderListSize < 1024 || c.MaxHeaderListSize > maxPooled/2:
		return fmt.Errorf("http2: MaxHeaderListSize %d outside 1024..%d", c.MaxHeaderListSize, maxPooled/2)
	case c.MaxHeaderBlockBytes < int(minMaxFrameSize) || c.MaxHeaderBlockBytes > maxPooled:
		return fmt.Errorf("http2: MaxHeaderBlockBytes %d outside %d..%d", c.MaxHeaderBlockBytes, minMaxFrameSize, maxPooled)
	case c.OutputBufferSize < int(minMaxFrameSize)+frameHeaderLen || c.OutputBufferSize > maxPooled:
		return fmt.Errorf("http2: OutputBufferSize %d outside %d..%d", c.OutputBufferSize, minMaxFrameSize+frameHeaderLen, maxPooled)
	case c.MaxPendingOutput < c.OutputBufferSize:
		return fmt.Errorf("http2: MaxPendingOutput %d below OutputBufferSize %d", c.MaxPendingOutput, c.OutputBufferSize)
	}
	return nil
}
