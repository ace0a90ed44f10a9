package proxy

import (
	"syscall"

	"frontdoor/proxy/http1"
	"frontdoor/proxy/http2"
	"frontdoor/proxy/loop"
)

// The HTTP/2 codec's side of a connection: a client connection that
// negotiated "h2" in ALPN (tls.go), or opened with the HTTP/2 preface on an
// h2c listener, is driven by a proxy/http2 Conn instead of http1conn.go.
// Its bytes go to the codec as they are read, and the codec's events begin
// exchanges (one per stream, http2stream.go), feed them their request
// bodies and tell them when the client resets them or grants them window.
// What the streams write collects in the codec's output buffer, which
// this file sends to the socket — plain, or through the TLS layer — and
// whose room paces the streams: a stream that finds the buffer full, or
// its flow-control window closed, waits until the socket has taken some or
// the client has granted more (pump). No goroutine is parked per
// connection or per stream.

// h2conn is an HTTP/2 connection's state beside its conn. It comes from a
// per-worker free list when the connection starts speaking HTTP/2.
type h2conn struct {
	codec http2.Conn
	c     *conn
	// streams are the open streams with an exchange, in the order they
	// began; inline holds the first few without an allocation, a longer
	// list is borrowed from the worker while the connection is busy
	// (addStream).
	streams []*h2stream
	inline  [4]*h2stream
	// next is where the next round of stalled streams starts (round
	// robin, so one large download cannot starve the others).
	next int
	// tick runs at the codec's Deadline (its SETTINGS acknowledgement,
	// the second step of a graceful shutdown); tickAt is when it is armed
	// for.
	tick   loop.Timer
	tickAt int64
	// closing: the codec has ended the connection (EventClosed, a final
	// GOAWAY and no streams left); what it wrote last is sent, then the
	// connection closes.
	closing bool
	// pumping guards pump against a nested call (a stream's exchange
	// resuming from within it).
	pumping bool
}

// startHTTP2 switches a connection to HTTP/2: its codec sends the server's
// preface (SETTINGS) at once, and what is already in the read buffer (an
// h2c client's preface) is fed to it by the next drive.
func (c *conn) startHTTP2() {
	w := c.w
	var h *h2conn
	if n := len(w.h2Free); n > 0 {
		h = w.h2Free[n-1]
		w.h2Free = w.h2Free[:n-1]
	} else {
		h = &h2conn{}
		h.tick.Owner = h
	}
	h.c = c
	h.streams = h.inline[:0]
	h.codec.Init(w.h2cfg, w.h2pool, w.loop.Now())
	c.h2 = h
	c.state = stateHTTP2
	w.loop.Disarm(&c.timer)
}

// serveHTTP2 is drive's step for a connection speaking HTTP/2: feed what
// the socket has to the codec, dispatching its events, then send what the
// streams wrote and set the connection's timers.
func (c *conn) serveHTTP2() {
	h := c.h2
	for c.state == stateHTTP2 && !h.closing && (c.readable || len(c.rbuf) > 0) {
		if c.readable && !c.fill() {
			return // closed: the client went away
		}
		in := c.rbuf
		for len(in) > 0 && c.state == stateHTTP2 && !h.closing {
			n, ev := h.codec.Feed(in, c.w.loop.Now())
			in = in[n:]
			if ev.Kind != http2.EventNone {
				h.dispatch(&ev)
			} else if n == 0 {
				break
			}
		}
		if c.state != stateHTTP2 {
			return
		}
		// The codec keeps no input (it copies a partial frame header and
		// an unfinished header block): the buffer is free again.
		c.rbuf = c.rbuf[:0]
	}
	if c.state == stateHTTP2 {
		h.pump()
		h.settle()
	}
}

// dispatch acts on one event of the codec.
func (h *h2conn) dispatch(ev *http2.Event) {
	switch ev.Kind {
	case http2.EventRequest:
		h.startStream(ev)
	case http2.EventData:
		if st := h.find(ev.Stream); st != nil {
			st.receive(ev.Data, ev.EndStream)
		} else if len(ev.Data) > 0 {
			h.codec.Consume(ev.Stream, len(ev.Data))
		}
	case http2.EventTrailers:
		// Trailers end the request; they are not passed on (the
		// application gets a body with a Content-Length).
		if st := h.find(ev.Stream); st != nil {
			st.receive(nil, true)
		}
	case http2.EventReset:
		if st := h.find(ev.Stream); st != nil {
			st.abandon()
		}
	case http2.EventWindow:
		for _, st := range h.streams {
			if st.stall == stallWindow && (ev.Stream == 0 || st.id == ev.Stream) {
				st.stall = stallReady
			}
		}
	case http2.EventRefused:
		if ev.Status != 0 {
			// Answered by the codec (431, 400…): logged like any answer.
			ex := h.c.w.getExchange(h.c, nil)
			ex.status = ev.Status
			h.c.w.logAccess(ex)
			ex.release()
		}
	case http2.EventClosed:
		h.closing = true
	case http2.EventGoAway:
		// The client opens no more streams: the open ones finish, then
		// Finished ends the connection (settle).
	}
}

// startStream begins an exchange for a stream's request and routes it.
func (h *h2conn) startStream(ev *http2.Event) {
	w := h.c.w
	st := w.getH2Stream()
	st.h, st.id = h, ev.Stream
	st.reqEnded = ev.EndStream
	ex := w.getExchange(h.c, st)
	st.ex = ex
	ex.req = &ev.Req.Request
	h.addStream(st)
	if ev.Req.Protocol != nil {
		// An extended CONNECT (RFC 8441) opens a tunnel, whose stream
		// does not end: its answer never waits for the request's end.
		st.holdOver = true
		if !http1.EqualFold(ev.Req.Protocol, "websocket") {
			ex.phase = phaseRespond
			ex.respondError(501)
			st.run()
			return
		}
		ex.connectUpgrade = true
	}
	ex.route()
	st.run()
}

// addStream appends st to the open streams. Past the inline ones, the
// list moves to one borrowed from the worker, given back when the
// connection goes idle (dropStreamList): a client that keeps more than a
// few streams open, burst after burst, would otherwise grow a new list
// each time.
func (h *h2conn) addStream(st *h2stream) {
	if len(h.streams) == cap(h.streams) && cap(h.streams) == len(h.inline) {
		w := h.c.w
		var list []*h2stream
		if n := len(w.h2ListFree); n > 0 {
			list = w.h2ListFree[n-1]
			w.h2ListFree[n-1] = nil
			w.h2ListFree = w.h2ListFree[:n-1]
		} else {
			list = make([]*h2stream, 0, 4*len(h.inline))
		}
		h.streams = append(list, h.streams...)
		clear(h.inline[:])
	}
	h.streams = append(h.streams, st)
}

// dropStreamList goes back to the inline list, giving a borrowed one
// back to the worker. The connection has no open stream.
func (h *h2conn) dropStreamList() {
	if cap(h.streams) > len(h.inline) {
		if w := h.c.w; len(w.h2ListFree) < maxFreeStreamLists {
			w.h2ListFree = append(w.h2ListFree, h.streams[:0])
		}
	}
	h.streams = h.inline[:0]
}

// maxFreeStreamLists bounds the worker's free stream lists.
const maxFreeStreamLists = 256

// find returns the open stream with the given id, or nil.
func (h *h2conn) find(id uint32) *h2stream {
	for _, st := range h.streams {
		if st.id == id {
			return st
		}
	}
	return nil
}

// remove drops st from the open streams, keeping their order.
func (h *h2conn) remove(st *h2stream) {
	for i, s := range h.streams {
		if s == st {
			copy(h.streams[i:], h.streams[i+1:])
			h.streams[len(h.streams)-1] = nil
			h.streams = h.streams[:len(h.streams)-1]
			return
		}
	}
}

// pump sends the codec's output and lets stalled streams write more while
// the socket takes it. It returns when everything is sent, or the socket
// is full (EPOLLOUT drives the connection again, the send timer runs).
func (h *h2conn) pump() {
	if h.pumping {
		return
	}
	h.pumping = true
	defer func() { h.pumping = false }()
	c := h.c
	for c.state == stateHTTP2 {
		if h.codec.Writable() {
			h.runStalled()
		}
		out := h.codec.Output()
		if len(out) == 0 {
			break
		}
		n, errno := c.write(out, false)
		switch errno {
		case 0:
			h.codec.Sent(n)
			if c.timer.Kind() == timerSendIdle {
				c.w.loop.Arm(&c.timer, timerSendIdle) // progress: the idle time starts again
			}
		case syscall.EAGAIN:
			c.w.loop.Arm(&c.timer, timerSendIdle)
			return
		case syscall.EINTR:
		default:
			c.close()
			return
		}
	}
	if c.state == stateHTTP2 {
		c.flushCiphertext()
	}
}

// runStalled lets the streams that stopped writing for want of room or
// window try again, starting after the one that went first last time.
func (h *h2conn) runStalled() {
	n := len(h.streams)
	if n == 0 {
		return
	}
	start := h.next % n
	h.next++
	// A stream that finishes leaves the slice: walk a copy of the order
	// (pump is never nested, so the worker's scratch is free).
	w := h.c.w
	list := w.h2Run[:0]
	for i := 0; i < n; i++ {
		st := h.streams[(start+i)%n]
		if st.stall == stallBuffer || st.stall == stallReady {
			list = append(list, st)
		}
	}
	w.h2Run = list
	for _, st := range list {
		if h.c.state != stateHTTP2 || !h.codec.Writable() {
			return
		}
		if st.h == h && st.ex != nil {
			st.run()
		}
	}
}

// settle sets the connection's timers after it made what progress it
// could, and ends it when the codec is finished with it.
func (h *h2conn) settle() {
	c := h.c
	if c == nil {
		// pump closed the connection (a write failed) and gave this
		// state back: nothing is left to settle.
		return
	}
	w := c.w
	if c.state != stateHTTP2 {
		return
	}
	if c.peerClosed && !h.closing {
		h.peerGone()
		if c.state != stateHTTP2 {
			return
		}
	}
	if h.closing || h.codec.Finished() {
		h.end()
		return
	}
	if d := h.codec.Deadline(); d != h.tickAt {
		h.tickAt = d
		if d == 0 {
			w.loop.Disarm(&h.tick)
		} else {
			w.loop.ArmAt(&h.tick, timerH2Tick, d)
		}
	}
	if len(h.codec.Output()) > 0 || (c.ts != nil && c.ts.Pending() > 0) {
		return // the socket is full: the send timer runs (pump)
	}
	stalled := false
	for _, st := range h.streams {
		if st.stall != stallNone {
			stalled = true
			break
		}
	}
	switch {
	case stalled:
		// The client must read, or grant window: as long as it does
		// neither, the send timer runs.
		if c.timer.Kind() != timerSendIdle {
			w.loop.Arm(&c.timer, timerSendIdle)
		}
	case len(h.streams) > 0:
		// The exchanges time themselves (the body's idle time, the
		// application's response time).
		w.loop.Disarm(&c.timer)
	case h.codec.Idle():
		if c.peerClosed {
			c.close()
			return
		}
		if c.timer.Kind() != timerKeepAlive {
			w.loop.Arm(&c.timer, timerKeepAlive)
		}
		// An idle connection holds its conn, its codec and its HPACK
		// table, nothing borrowed.
		if len(c.rbuf) == 0 {
			w.rpool.Put(c.rbuf)
			c.rbuf = nil
		}
		h.dropStreamList()
		if c.ts != nil {
			c.ts.Idle()
		}
	default:
		// A frame or a header block has begun and not ended: it has the
		// head's deadline, as an HTTP/1.1 request head does.
		if c.timer.Kind() != timerHead {
			w.loop.Arm(&c.timer, timerHead)
		}
	}
}

// peerGone handles a client that half-closed: it sends nothing more, so a
// request still waiting for its body never completes (abandoned, as over
// HTTP/1.1), an answer held for its request's end goes out, and once the
// open streams are answered the connection ends.
func (h *h2conn) peerGone() {
	for i := 0; i < len(h.streams); i++ {
		st := h.streams[i]
		switch {
		case st.reqEnded || st.ex == nil:
		case st.wantBody && st.ex.phase == phaseBody:
			st.abandon()
			i--
		case !st.wantBody && !st.holdOver && st.ex.phase == phaseRespond:
			st.holdOver = true
			st.run()
			if i < len(h.streams) && h.streams[i] != st {
				i--
			}
		}
	}
	if len(h.streams) == 0 {
		h.codec.Close(http2.ErrCodeNo)
		h.closing = true
		h.pump()
	}
}

// OnTimeout is the loop's entry for the codec's timer.
func (h *h2conn) OnTimeout(loop.TimerKind) {
	c := h.c
	h.tickAt = 0
	if c == nil || c.state != stateHTTP2 {
		return
	}
	if ev := h.codec.Tick(c.w.loop.Now()); ev.Kind != http2.EventNone {
		h.dispatch(&ev)
	}
	h.pump()
	h.settle()
}

// timeout ends the connection when one of its conn timers expires: the
// keep-alive idle time, or a frame or header block that did not arrive in
// time. The client gets a GOAWAY.
func (h *h2conn) timeout() {
	h.codec.Close(http2.ErrCodeNo)
	h.closing = true
	h.pump()
	h.settle()
}

// shutdown starts a graceful drain (reload, stop): a GOAWAY that lets the
// streams in flight finish, then the connection closes (settle).
func (h *h2conn) shutdown() {
	h.codec.Shutdown(h.c.w.loop.Now())
	h.pump()
	h.settle()
}

// end closes a connection the codec is finished with, once its last
// frames are sent: lingering, so that a client still sending does not
// reset the connection before it has read our GOAWAY.
func (h *h2conn) end() {
	c := h.c
	h.closing = true
	h.abandonAll()
	if len(h.codec.Output()) > 0 || (c.ts != nil && c.ts.Pending() > 0) {
		if !c.timer.Armed() {
			c.w.loop.Arm(&c.timer, timerSendIdle)
		}
		return // EPOLLOUT drives the connection again
	}
	c.releaseHTTP2()
	c.startLinger()
}

// abandonAll ends every stream's exchange (the connection is ending).
func (h *h2conn) abandonAll() {
	for len(h.streams) > 0 {
		h.streams[len(h.streams)-1].abandon()
	}
}

// releaseHTTP2 gives the connection's HTTP/2 state back to the worker.
func (c *conn) releaseHTTP2() {
	h := c.h2
	if h == nil {
		return
	}
	w := c.w
	h.abandonAll()
	w.loop.Disarm(&h.tick)
	h.codec.Release()
	h.dropStreamList()
	h.c, h.tickAt, h.next, h.closing = nil, 0, 0, false
	c.h2 = nil
	if len(w.h2Free) < 256 {
		w.h2Free = append(w.h2Free, h)
	}
}

// newHTTP2Config is the codec's configuration for cfg (defaulted): the
// limits of an HTTP/1.1 request head hold for an HTTP/2 one, and
// Limits.MaxStreams bounds the streams.
func newHTTP2Config(cfg *Config) *http2.Config {
	h := &http2.Config{
		MaxConcurrentStreams: uint32(cfg.Limits.MaxStreams),
		MaxHeaderListSize:    uint32(min(max(cfg.Limits.MaxHeaderBytes, 1024), maxHTTP2HeaderList)),
		MaxHeaders:           cfg.Limits.MaxHeaders,
		// WebSocket over HTTP/2 (http2tunnel.go).
		EnableConnectProtocol: true,
	}
	if err := h.Normalize(); err != nil {
		// Validate keeps every value in range; a codec refusing one is a
		// bug, and its defaults serve meanwhile.
		cfg.Logger.Error("http2 configuration", "err", err)
		*h = http2.DefaultConfig
		h.Normalize()
	}
	return h
}

// maxHTTP2HeaderList is the largest decoded request head the codec
// accepts (its buffers' largest size class).
const maxHTTP2HeaderList = 64 << 10
