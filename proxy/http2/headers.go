package http2

// Receiving header blocks: HEADERS and CONTINUATION frames (RFC 9113
// §6.2, §6.10). A block is gathered whole, then decoded: HPACK needs every
// block decoded in order whatever happens to its stream, so even a block
// for a stream about to be refused is decoded before it is dropped.

func (c *Conn) startHeaders() Event {
	f := &c.in
	fh := f.fh
	id := fh.stream
	if id == 0 {
		return c.connError(errHeadersStream0)
	}
	if id%2 == 0 {
		return c.connError(errEvenStream)
	}
	hb := &c.hb
	*hb = headerBlock{active: true, stream: id, endStream: fh.has(flagEndStream), frames: 1}
	if s := c.find(id); s != nil {
		hb.kind = blockTrailers
		if s.recvEnd {
			hb.kind = blockStreamClosed
		}
	} else if id > c.maxClientID {
		c.openStream(id)
		switch {
		case id > c.lastAccepted:
			hb.kind = blockAfterGoAway
		case len(c.streams) >= int(c.cfg.MaxConcurrentStreams):
			hb.kind = blockRefused
		default:
			hb.kind = blockRequest
		}
	} else if c.isQuiet(id) {
		hb.kind = blockIgnore
	} else if c.wasOpened(id) {
		return c.connError(errStreamClosedHeaders)
	} else {
		return c.connError(errStreamOrder)
	}
	if fh.has(flagPriority) {
		f.prio = 5
	}
	if fh.has(flagPadded) {
		if fh.length < 1+uint32(f.prio) {
			return c.connError(errPadding)
		}
		f.padded = true
	} else {
		if fh.length < uint32(f.prio) {
			return c.connError(errHeadersShort)
		}
		f.body = fh.length - uint32(f.prio)
	}
	if fh.length == 0 && !fh.has(flagEndHeaders) && c.overControl() {
		return c.connError(errControlFlood)
	}
	return Event{}
}

func (c *Conn) startContinuation() Event {
	f := &c.in
	hb := &c.hb
	if !hb.active {
		return c.connError(errContinuation)
	}
	hb.frames++
	if hb.frames > c.cfg.MaxHeaderBlockFrames {
		return c.connError(errContinuationFlood)
	}
	if f.fh.length == 0 && !f.fh.has(flagEndHeaders) && c.overControl() {
		return c.connError(errControlFlood)
	}
	f.body = f.fh.length
	return Event{}
}

func (c *Conn) headerPayload(p []byte, last bool) (int, Event) {
	f := &c.in
	hb := &c.hb
	used := 0
	if f.padded {
		f.padded = false
		f.padLen = uint32(p[0])
		used = 1
		if f.fh.length < 1+uint32(f.prio)+f.padLen {
			return used, c.connError(errPadding)
		}
		f.body = f.fh.length - 1 - uint32(f.prio) - f.padLen
	}
	for f.prio > 0 && used < len(p) {
		f.buf[5-f.prio] = p[used]
		used++
		f.prio--
		if f.prio == 0 && uint32(f.buf[0]&0x7f)<<24|uint32(f.buf[1])<<16|uint32(f.buf[2])<<8|uint32(f.buf[3]) == hb.stream {
			hb.err = errSelfDependency
		}
	}
	if take := min(int(f.body), len(p)-used); take > 0 {
		frag := p[used : used+take]
		f.body -= uint32(take)
		hb.size += take
		if hb.size > c.cfg.MaxHeaderBlockBytes {
			return used, c.connError(errHeaderBlockSize)
		}
		if len(hb.buf) == 0 && f.body == 0 && last && f.fh.has(flagEndHeaders) {
			hb.direct = frag // the whole block is here: no copy
		} else {
			c.appendFragment(frag)
		}
	}
	if last {
		return len(p), c.finishFrame()
	}
	return len(p), Event{}
}

// appendFragment adds a fragment to the block being gathered, moving it to
// a larger pool buffer when it outgrows its own.
func (c *Conn) appendFragment(frag []byte) {
	hb := &c.hb
	if len(hb.buf)+len(frag) > cap(hb.buf) {
		nb := c.pool.getBuf(max(len(hb.buf)+len(frag), int(minMaxFrameSize)))
		nb = append(nb, hb.buf...)
		c.pool.putBuf(hb.buf)
		hb.buf = nb
	}
	hb.buf = append(hb.buf, frag...)
}

// endHeaderBlock decodes a complete block and acts on it.
func (c *Conn) endHeaderBlock() Event {
	hb := &c.hb
	block := hb.direct
	if block == nil {
		block = hb.buf
	}
	ev := c.headerBlockDone(block)
	if !c.dead {
		c.pool.putBuf(hb.buf)
		*hb = headerBlock{}
	}
	return ev
}

func (c *Conn) headerBlockDone(block []byte) Event {
	hb := &c.hb
	id := hb.stream
	switch hb.kind {
	case blockRequest:
		return c.newRequest(block)
	case blockTrailers:
		return c.trailers(block)
	}
	if err := c.discardBlock(block); err != nil {
		return c.connError(err)
	}
	switch hb.kind {
	case blockStreamClosed:
		if s := c.find(id); s != nil { // unless the exchange reset it meanwhile
			return c.streamError(s, errStreamClosedHeaders)
		}
	case blockRefused:
		return c.refuseStream(id, errRefused, true)
	case blockAfterGoAway:
		return c.refuseStream(id, errAfterGoAway, false)
	}
	return Event{} // blockIgnore
}

// newRequest builds a new stream from a request's header block.
func (c *Conn) newRequest(block []byte) Event {
	hb := &c.hb
	s := c.pool.getStream()
	s.id = hb.stream
	status, perr, derr := c.decodeRequest(block, s, hb.endStream)
	if derr != nil {
		c.dropStream(s)
		return c.connError(derr)
	}
	if perr == nil && hb.err != nil {
		perr = hb.err
	}
	if perr != nil || status != 0 {
		c.dropStream(s)
		if perr != nil {
			return c.refuseStream(hb.stream, perr, true)
		}
		return c.answer(hb.stream, status, !hb.endStream)
	}
	s.sendWindow = c.peerInitWindow
	s.recvWindow = c.recvInit
	s.recvEnd = hb.endStream
	c.addStream(s)
	return Event{Kind: EventRequest, Stream: s.id, Req: &s.req, EndStream: hb.endStream}
}

// trailers ends an open stream's request with its trailer section.
func (c *Conn) trailers(block []byte) Event {
	hb := &c.hb
	s := c.find(hb.stream)
	if s == nil {
		// The exchange reset the stream while its trailers arrived.
		if err := c.discardBlock(block); err != nil {
			return c.connError(err)
		}
		return Event{}
	}
	perr, derr := c.decodeTrailers(block, s)
	if derr != nil {
		return c.connError(derr)
	}
	switch {
	case perr != nil:
	case hb.err != nil:
		perr = hb.err
	case !hb.endStream:
		perr = errTrailersNoEnd
	case s.declared >= 0 && s.received != s.declared:
		perr = errContentLength
	}
	if perr != nil {
		return c.streamError(s, perr)
	}
	s.recvEnd = true
	return Event{Kind: EventTrailers, Stream: s.id, Trailers: s.trailers, EndStream: true}
}

// dropStream returns a stream that never opened to the pool.
func (c *Conn) dropStream(s *stream) {
	c.pool.putBuf(s.arena)
	c.pool.putBuf(s.tarena)
	s.reset()
	c.pool.putStream(s)
}
