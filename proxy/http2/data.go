package http2

// Receiving DATA, and the receive side of flow control.
//
// Every DATA frame counts against the connection window and its stream's
// window (RFC 9113 §6.9). Padding, and frames that go nowhere (closed or
// reset streams), are credited back at once. Body bytes handed to the
// exchange are credited back only when it calls Consume, so a stream
// whose upstream is slow stops its client once the window is used: that
// is the back-pressure.

func (c *Conn) startData() Event {
	f := &c.in
	fh := f.fh
	if fh.stream == 0 {
		return c.connError(errDataStream0)
	}
	if c.idle(fh.stream) {
		return c.connError(errIdleStream)
	}
	if fh.has(flagPadded) && fh.length == 0 {
		return c.connError(errPadding)
	}
	if int64(fh.length) > c.recvWindow {
		return c.connError(errConnFlow)
	}
	c.recvWindow -= int64(fh.length)
	if fh.length == 0 && !fh.has(flagEndStream) && c.overControl() {
		return c.connError(errControlFlood)
	}
	s := c.find(fh.stream)
	switch {
	case s == nil:
		f.discard = true
		c.creditConn(int64(fh.length))
		if c.isQuiet(fh.stream) {
			return Event{}
		}
		return c.resetClosed(fh.stream, errStreamClosedData)
	case s.recvEnd:
		f.discard = true
		c.creditConn(int64(fh.length))
		return c.streamError(s, errStreamClosedData)
	case int64(fh.length) > s.recvWindow:
		f.discard = true
		c.creditConn(int64(fh.length))
		return c.streamError(s, errStreamFlow)
	}
	s.recvWindow -= int64(fh.length)
	f.s = s
	if fh.has(flagPadded) {
		f.padded = true
		return Event{}
	}
	f.body = fh.length
	return c.checkDeclaredLength()
}

// checkDeclaredLength refuses a frame whose body would take the stream
// past its content-length, or end it short (RFC 9113 §8.1.1), before any
// of it is handed on: the exchange sees the same events however the
// frame's bytes arrive.
func (c *Conn) checkDeclaredLength() Event {
	f := &c.in
	s := f.s
	if end := s.received + int64(f.body); s.declared >= 0 && (end > s.declared || f.fh.has(flagEndStream) && end != s.declared) {
		f.discard = true
		c.creditConn(int64(f.body)) // the rest of the frame (padding is credited already)
		return c.streamError(s, errContentLength)
	}
	return Event{}
}

func (c *Conn) dataPayload(p []byte, last bool) (int, Event) {
	f := &c.in
	if f.discard {
		return len(p), Event{}
	}
	used := 0
	if f.padded {
		f.padded = false
		f.padLen = uint32(p[0])
		used = 1
		if f.padLen >= f.fh.length {
			return used, c.connError(errPadding)
		}
		f.body = f.fh.length - 1 - f.padLen
		c.creditPadding(f.s, int64(f.padLen)+1)
		if ev := c.checkDeclaredLength(); ev.Kind != EventNone {
			return used, ev
		}
	}
	if take := min(int(f.body), len(p)-used); take > 0 {
		d := p[used : used+take]
		used += take
		f.body -= uint32(take)
		s := f.s
		s.received += int64(take)
		s.held += int64(take)
		if f.body == 0 && last && used == len(p) && f.fh.has(flagEndStream) {
			f.ended = true
			return used, c.endRequestBody(s, d)
		}
		return used, Event{Kind: EventData, Stream: s.id, Data: d}
	}
	if last {
		return len(p), c.finishFrame()
	}
	return len(p), Event{}
}

// endRequestBody handles END_STREAM on a request body whose last bytes are
// d: the stream is half-closed (remote), its length checked.
func (c *Conn) endRequestBody(s *stream, d []byte) Event {
	if s.declared >= 0 && s.received != s.declared {
		return c.streamError(s, errContentLength)
	}
	s.recvEnd = true
	return Event{Kind: EventData, Stream: s.id, Data: d, EndStream: true}
}

// creditPadding returns the padding of a frame to both windows at once.
func (c *Conn) creditPadding(s *stream, n int64) {
	c.creditConn(n)
	c.creditStream(s, n)
}

// creditConn returns n bytes to the connection window, sending a
// WINDOW_UPDATE once half the window is owed.
func (c *Conn) creditConn(n int64) {
	if n <= 0 || c.dead {
		return
	}
	c.recvUnacked += n
	if c.recvUnacked >= int64(c.cfg.ConnWindowSize)/2 {
		c.ensureOut()
		c.out = appendWindowUpdate(c.out, 0, uint32(c.recvUnacked))
		c.recvWindow += c.recvUnacked
		c.recvUnacked = 0
	}
}

// creditStream returns n bytes to a stream's window, sending a
// WINDOW_UPDATE once half the window is owed. A stream whose request is
// complete needs no more window.
func (c *Conn) creditStream(s *stream, n int64) {
	if n <= 0 || s.recvEnd {
		return
	}
	s.unacked += n
	if s.unacked >= int64(c.cfg.InitialWindowSize)/2 {
		c.ensureOut()
		c.out = appendWindowUpdate(c.out, s.id, uint32(s.unacked))
		s.recvWindow += s.unacked
		s.unacked = 0
	}
}

// Consume tells the connection that n bytes of a stream's request body
// (from EventData) have been passed on, returning their flow-control
// credit to the client. Body never consumed is credited to the connection
// when its stream closes.
func (c *Conn) Consume(id uint32, n int) {
	c.releaseClosed()
	s := c.find(id)
	if s == nil || n <= 0 || c.dead {
		return
	}
	k := min(int64(n), s.held)
	s.held -= k
	c.creditConn(k)
	c.creditStream(s, k)
}
