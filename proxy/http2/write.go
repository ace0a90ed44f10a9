package http2

import "frontdoor/proxy/http1"

// The response side: what the exchange layer calls to answer a stream.
// Everything written is framed into Output at once; nothing blocks.

// Output returns the bytes waiting to be sent. The slice is valid until
// the next call into the Conn.
func (c *Conn) Output() []byte { return c.out[c.outOff:] }

// Sent records that the first n bytes of Output reached the socket. A
// drained output buffer goes back to the pool.
func (c *Conn) Sent(n int) {
	c.outOff += n
	if c.outOff >= len(c.out) {
		c.pool.putBuf(c.out)
		c.out, c.outOff = nil, 0
	}
}

// ensureOut borrows an output buffer when there is none.
func (c *Conn) ensureOut() {
	if c.out == nil {
		c.out = c.pool.getBuf(c.cfg.OutputBufferSize)
	}
}

// outRoom is how many more bytes WriteData may queue, moving what is
// pending to the front of the buffer when that makes the room.
func (c *Conn) outRoom() int {
	c.ensureOut()
	pending := len(c.out) - c.outOff
	room := c.cfg.OutputBufferSize - pending
	if c.outOff > 0 && cap(c.out)-len(c.out) < room {
		copy(c.out, c.out[c.outOff:])
		c.out, c.outOff = c.out[:pending], 0
	}
	return room
}

// Writable reports whether WriteData would accept bytes for some stream
// with window: the output buffer has room for a frame.
func (c *Conn) Writable() bool {
	return len(c.out)-c.outOff+frameHeaderLen < c.cfg.OutputBufferSize
}

// WriteHeaders sends a response head on a stream: status and fields,
// HPACK-coded into HEADERS and as many CONTINUATION frames as the client's
// frame size needs. Field names may come in any case (an HTTP/1.1
// upstream's): they are lower-cased. Connection-specific fields
// (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade)
// are dropped, as HTTP/2 forbids them. A 1xx status sends an interim head;
// end ends the response (a response without body).
func (c *Conn) WriteHeaders(id uint32, status int, fields []http1.Header, end bool) error {
	c.releaseClosed()
	s := c.find(id)
	switch {
	case c.dead || s == nil:
		return ErrStreamClosed
	case s.sentHead || s.sentEnd:
		return ErrHeadSent
	case status < 100 || status > 999 || status == 101 || (status < 200 && end):
		return ErrStatus
	}
	flags := uint8(0)
	if end {
		flags = flagEndStream
	}
	c.ensureOut()
	start := len(c.out)
	c.out = appendFrameHeader(c.out, 0, frameHeaders, flags, id)
	c.out = appendStatus(c.out, status)
	for i := range fields {
		h := &fields[i]
		switch h.ID {
		case http1.HeaderConnection, http1.HeaderKeepAlive, http1.HeaderProxyConnection,
			http1.HeaderTransferEncoding, http1.HeaderUpgrade:
			continue
		}
		if len(h.Name) == 0 || h.Name[0] == ':' {
			continue
		}
		c.out = appendFieldID(c.out, h.Name, h.Value, h.ID, false)
	}
	c.frameHeaderBlock(start, flags, id)
	if status >= 200 {
		s.sentHead = true
	}
	if end {
		c.endSent(s)
	}
	return nil
}

// WriteTrailers ends a stream's response with trailer fields.
func (c *Conn) WriteTrailers(id uint32, fields []http1.Header) error {
	c.releaseClosed()
	s := c.find(id)
	switch {
	case c.dead || s == nil:
		return ErrStreamClosed
	case !s.sentHead:
		return ErrNoHead
	case s.sentEnd:
		return ErrStreamEnded
	}
	c.ensureOut()
	start := len(c.out)
	c.out = appendFrameHeader(c.out, 0, frameHeaders, flagEndStream, id)
	for i := range fields {
		h := &fields[i]
		if len(h.Name) == 0 || h.Name[0] == ':' || http1.IsHopByHop(h.ID) {
			continue
		}
		c.out = appendField(c.out, h.Name, h.Value, false)
	}
	c.frameHeaderBlock(start, flagEndStream, id)
	c.endSent(s)
	return nil
}

// frameHeaderBlock sets the header of the HEADERS frame at out[start:]
// whose block runs to the end of out, splitting the block into
// CONTINUATION frames where it exceeds the client's frame size.
func (c *Conn) frameHeaderBlock(start int, flags uint8, id uint32) {
	max := int(c.peerMaxFrame)
	blockLen := len(c.out) - start - frameHeaderLen
	if blockLen <= max {
		putFrameHeader(c.out[start:], blockLen, frameHeaders, flags|flagEndHeaders, id)
		return
	}
	extra := (blockLen - 1) / max // CONTINUATION frames
	old := len(c.out)
	for i := 0; i < extra*frameHeaderLen; i++ {
		c.out = append(c.out, 0)
	}
	// Move the fragments up from the last, inserting their headers.
	blockStart := start + frameHeaderLen
	for k := extra; k >= 1; k-- {
		fragStart := blockStart + k*max
		fragEnd := min(fragStart+max, old)
		dst := fragStart + k*frameHeaderLen
		copy(c.out[dst:], c.out[fragStart:fragEnd])
		f := uint8(0)
		if k == extra {
			f = flagEndHeaders
		}
		putFrameHeader(c.out[dst-frameHeaderLen:], fragEnd-fragStart, frameContinuation, f, id)
	}
	putFrameHeader(c.out[start:], max, frameHeaders, flags, id)
}

// WriteData sends response body bytes on a stream, as much as the
// stream's and the connection's send windows and the output buffer allow,
// and returns how much it took. With end set and all of p taken, the
// response ends (p may be empty for that). When it takes less than p
// because of a window, EventWindow reports when to try again; when the
// output buffer is full, try again once the loop has sent some.
func (c *Conn) WriteData(id uint32, p []byte, end bool) (int, error) {
	c.releaseClosed()
	s := c.find(id)
	switch {
	case c.dead || s == nil:
		return 0, ErrStreamClosed
	case !s.sentHead:
		return 0, ErrNoHead
	case s.sentEnd:
		return 0, ErrStreamEnded
	}
	if len(p) == 0 {
		if end { // an empty DATA frame is not flow-controlled
			c.ensureOut()
			c.out = appendFrameHeader(c.out, 0, frameData, flagEndStream, id)
			c.endSent(s)
		}
		return 0, nil
	}
	room := c.outRoom()
	n := len(p)
	if w := min(s.sendWindow, c.sendWindow); int64(n) > w {
		n = int(max(w, 0))
		s.blocked = s.blocked || s.sendWindow <= c.sendWindow
		c.connBlocked = c.connBlocked || c.sendWindow <= s.sendWindow
	}
	frame := int(c.peerMaxFrame)
	written := 0
	for written < n {
		k := min(n-written, frame, room-frameHeaderLen)
		if k <= 0 {
			break
		}
		flags := uint8(0)
		if end && written+k == len(p) {
			flags = flagEndStream
		}
		c.out = appendFrameHeader(c.out, k, frameData, flags, id)
		c.out = append(c.out, p[written:written+k]...)
		written += k
		room -= frameHeaderLen + k
	}
	s.sendWindow -= int64(written)
	c.sendWindow -= int64(written)
	if end && written == len(p) {
		c.endSent(s)
	}
	return written, nil
}

// endSent records that a stream's response has ended: the stream closes,
// after telling the client to stop sending a request body it no longer
// needs (RST_STREAM NO_ERROR, RFC 9113 §8.1).
func (c *Conn) endSent(s *stream) {
	s.sentEnd = true
	if s.recvEnd {
		c.closeStream(s, false)
		return
	}
	c.out = appendRSTStream(c.out, s.id, ErrCodeNo)
	c.closeStream(s, true)
}

// Reset abandons a stream from the server side (an upstream failure, a
// timeout): RST_STREAM with code, the stream closed.
func (c *Conn) Reset(id uint32, code ErrCode) {
	c.releaseClosed()
	s := c.find(id)
	if c.dead || s == nil {
		return
	}
	c.ensureOut()
	c.out = appendRSTStream(c.out, id, code)
	c.closeStream(s, true)
}
