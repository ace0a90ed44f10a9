package http2

import "encoding/binary"

// Control frames (SETTINGS, PING, GOAWAY, WINDOW_UPDATE, RST_STREAM,
// PRIORITY) and the stream errors the codec raises itself.

// streamError resets an open stream for a protocol error of the client's
// (RFC 9113 §5.4.2) and tells the exchange. Such resets count against the
// same budget as the client's own (MadeYouReset, CVE-2025-8671).
func (c *Conn) streamError(s *stream, err *Error) Event {
	c.ensureOut()
	c.out = appendRSTStream(c.out, s.id, err.Code)
	c.closeStream(s, true)
	if c.overResets() {
		return c.connError(errResetFlood)
	}
	return Event{Kind: EventReset, Stream: s.id, Code: err.Code, Err: err}
}

// resetClosed answers a frame on a closed stream with RST_STREAM.
func (c *Conn) resetClosed(id uint32, err *Error) Event {
	c.ensureOut()
	c.out = appendRSTStream(c.out, id, err.Code)
	c.markQuiet(id)
	if c.overResets() {
		return c.connError(errResetFlood)
	}
	return Event{}
}

// refuseStream resets a stream that never reached the exchange; counted
// when the client provoked it.
func (c *Conn) refuseStream(id uint32, err *Error, count bool) Event {
	c.ensureOut()
	c.out = appendRSTStream(c.out, id, err.Code)
	c.markQuiet(id)
	if count && c.overResets() {
		return c.connError(errResetFlood)
	}
	return Event{Kind: EventRefused, Stream: id, Code: err.Code, Err: err}
}

// answer responds to a request the codec refuses with an HTTP status (an
// oversized head, say): the response, and RST_STREAM(NO_ERROR) when the
// client has more of the request to send (RFC 9113 §8.1).
func (c *Conn) answer(id uint32, status int, unfinished bool) Event {
	c.ensureOut()
	start := len(c.out)
	c.out = appendFrameHeader(c.out, 0, frameHeaders, flagEndHeaders|flagEndStream, id)
	c.out = appendStatus(c.out, status)
	c.out = appendField(c.out, []byte("content-length"), []byte("0"), false)
	putFrameHeader(c.out[start:], len(c.out)-start-frameHeaderLen, frameHeaders, flagEndHeaders|flagEndStream, id)
	if unfinished {
		c.out = appendRSTStream(c.out, id, ErrCodeNo)
	}
	c.markQuiet(id)
	if c.overResets() {
		return c.connError(errResetFlood)
	}
	return Event{Kind: EventRefused, Stream: id, Status: status, Err: statusErrors[status]}
}

func (c *Conn) startPriority() Event {
	fh := c.in.fh
	if fh.stream == 0 {
		return c.connError(errPriorityStream0)
	}
	if c.overControl() {
		return c.connError(errControlFlood)
	}
	if fh.length != 5 {
		c.in.discard = true
		if s := c.find(fh.stream); s != nil {
			return c.streamError(s, errPrioritySize)
		}
		if c.idle(fh.stream) {
			// No RST_STREAM on an idle stream (RFC 9113 §6.4): the
			// stream error becomes the connection's.
			return c.connError(errPrioritySize)
		}
		return c.resetClosed(fh.stream, errPrioritySize)
	}
	return Event{}
}

// finishPriority checks a PRIORITY frame; priorities are otherwise
// ignored (RFC 9113 §5.3.2 deprecates the scheme).
func (c *Conn) finishPriority() Event {
	id := c.in.fh.stream
	if binary.BigEndian.Uint32(c.in.buf[:4])&streamIDMask != id {
		return Event{}
	}
	if s := c.find(id); s != nil {
		return c.streamError(s, errSelfDependency)
	}
	if c.idle(id) {
		return c.connError(errSelfDependency) // no RST_STREAM on an idle stream
	}
	return c.resetClosed(id, errSelfDependency)
}

func (c *Conn) startRSTStream() Event {
	fh := c.in.fh
	switch {
	case fh.length != 4:
		return c.connError(errRSTSize)
	case fh.stream == 0:
		return c.connError(errRSTStream0)
	case c.idle(fh.stream):
		return c.connError(errIdleStream)
	}
	return Event{}
}

// finishRSTStream handles the client's reset of a stream.
func (c *Conn) finishRSTStream() Event {
	id := c.in.fh.stream
	code := ErrCode(binary.BigEndian.Uint32(c.in.buf[:4]))
	s := c.find(id)
	if s == nil {
		// A stream that is already closed: nothing to do, but it costs.
		if c.overControl() {
			return c.connError(errControlFlood)
		}
		return Event{}
	}
	c.closeStream(s, false)
	if c.overResets() {
		return c.connError(errResetFlood) // Rapid Reset, CVE-2023-44487
	}
	return Event{Kind: EventReset, Stream: id, Code: code}
}

func (c *Conn) startSettings() Event {
	fh := c.in.fh
	switch {
	case fh.stream != 0:
		return c.connError(errSettingsStream)
	case fh.has(flagAck) && fh.length != 0:
		return c.connError(errSettingsAckSize)
	case fh.length%6 != 0:
		return c.connError(errSettingsSize)
	}
	if c.overControl() { // acknowledgements too: we ask for one
		return c.connError(errControlFlood)
	}
	return Event{}
}

func (c *Conn) settingsPayload(p []byte, last bool) (int, Event) {
	f := &c.in
	for _, b := range p {
		f.buf[f.n] = b
		f.n++
		if f.n == 6 {
			f.n = 0
			if err := c.applySetting(binary.BigEndian.Uint16(f.buf[:2]), binary.BigEndian.Uint32(f.buf[2:6])); err != nil {
				return len(p), c.connError(err)
			}
		}
	}
	if last {
		return len(p), c.finishFrame()
	}
	return len(p), Event{}
}

// applySetting applies one of the client's settings, in the order they
// come (RFC 9113 §6.5.3).
func (c *Conn) applySetting(id uint16, v uint32) *Error {
	switch id {
	case settingEnablePush:
		if v > 1 {
			return errSettingsPush
		}
	case settingInitialWindowSize:
		if v > maxWindow {
			return errSettingsWindow
		}
		delta := int64(v) - c.peerInitWindow
		c.peerInitWindow = int64(v)
		for _, s := range c.streams {
			s.sendWindow += delta
			if s.sendWindow > maxWindow {
				return errSettingsWindow
			}
		}
		if delta > 0 {
			c.windowOpened = true // reported as EventWindow{Stream: 0}
		}
	case settingMaxFrameSize:
		if v < minMaxFrameSize || v > maxMaxFrameSize {
			return errSettingsFrameSize
		}
		c.peerMaxFrame = v
	case settingEnableConnectProtocol:
		if v > 1 {
			return errSettingsConnect
		}
	}
	// SETTINGS_HEADER_TABLE_SIZE concerns an encoder's dynamic table,
	// which ours does not use; MAX_CONCURRENT_STREAMS concerns pushes,
	// which we never make; MAX_HEADER_LIST_SIZE is advisory. Unknown
	// settings are ignored.
	return nil
}

func (c *Conn) finishSettings() Event {
	if c.in.fh.has(flagAck) {
		if c.settingsAckDue != 0 {
			c.settingsAckDue = 0
			c.ackedSettings()
		}
		return Event{}
	}
	c.ensureOut()
	c.out = appendSettingsAck(c.out)
	if c.windowOpened {
		c.windowOpened = false
		return Event{Kind: EventWindow}
	}
	return Event{}
}

// ackedSettings applies our SETTINGS_INITIAL_WINDOW_SIZE once the client
// knows it: until then it may have used the protocol's 65,535.
func (c *Conn) ackedSettings() {
	w := int64(c.cfg.InitialWindowSize)
	if delta := w - c.recvInit; delta != 0 {
		for _, s := range c.streams {
			s.recvWindow += delta
		}
		c.recvInit = w
	}
}

func (c *Conn) startPing() Event {
	fh := c.in.fh
	switch {
	case fh.stream != 0:
		return c.connError(errPingStream)
	case fh.length != 8:
		return c.connError(errPingSize)
	}
	if c.overControl() { // acknowledgements too: we send one PING at most
		return c.connError(errControlFlood)
	}
	return Event{}
}

func (c *Conn) finishPing() Event {
	if c.in.fh.has(flagAck) {
		if c.in.buf == drainPing && c.goAwaySent {
			c.sendFinalGoAway()
		}
		return Event{}
	}
	c.ensureOut()
	c.out = appendPing(c.out, true, &c.in.buf)
	return Event{}
}

func (c *Conn) startGoAway() Event {
	fh := c.in.fh
	switch {
	case fh.stream != 0:
		return c.connError(errGoAwayStream)
	case fh.length < 8:
		return c.connError(errGoAwaySize)
	}
	return Event{}
}

// finishGoAway handles the client's GOAWAY: it opens no more streams, so
// we answer with our final GOAWAY and drain.
func (c *Conn) finishGoAway() Event {
	c.peerGoAway = true
	c.sendFinalGoAway()
	return Event{Kind: EventGoAway, Code: ErrCode(binary.BigEndian.Uint32(c.in.buf[4:8]))}
}

func (c *Conn) startWindowUpdate() Event {
	fh := c.in.fh
	switch {
	case fh.length != 4:
		return c.connError(errWindowUpdateSize)
	case fh.stream != 0 && c.idle(fh.stream):
		return c.connError(errIdleStream)
	}
	return Event{}
}

// smallIncrement is a WINDOW_UPDATE increment small enough to count as a
// control frame: legitimate clients return credit in large steps.
const smallIncrement = 1024

func (c *Conn) finishWindowUpdate() Event {
	id := c.in.fh.stream
	incr := int64(binary.BigEndian.Uint32(c.in.buf[:4]) & streamIDMask)
	if incr < smallIncrement && c.overControl() {
		return c.connError(errControlFlood)
	}
	if id == 0 {
		if incr == 0 {
			return c.connError(errWindowUpdateZero)
		}
		c.sendWindow += incr
		if c.sendWindow > maxWindow {
			return c.connError(errConnSendFlow)
		}
		if c.connBlocked {
			c.connBlocked = false
			return Event{Kind: EventWindow}
		}
		return Event{}
	}
	s := c.find(id)
	if s == nil {
		// Closed: a late update is normal, many of them are not.
		if incr >= smallIncrement && c.overControl() {
			return c.connError(errControlFlood)
		}
		return Event{}
	}
	if incr == 0 {
		return c.streamError(s, errWindowUpdateZero)
	}
	s.sendWindow += incr
	if s.sendWindow > maxWindow {
		return c.streamError(s, errStreamSendFlow)
	}
	if s.blocked && s.sendWindow > 0 {
		s.blocked = false
		return Event{Kind: EventWindow, Stream: id}
	}
	return Event{}
}
