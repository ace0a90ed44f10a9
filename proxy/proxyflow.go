package proxy

import (
	"bytes"
	"errors"
	"frontdoor/proxy/loop"
	"frontdoor/proxy/upstream"
	"syscall"

	"frontdoor/proxy/http1"
)

// proxyExchange is the state of one proxied request. It comes from a
// per-worker free list and exists only while the request is in progress.
type proxyExchange struct {
	route  *route
	site   *site
	group  *upstream.Group
	server *upstream.Member // chosen server, while counted in its in-flight
	up     *upstream.Conn

	head    []byte         // request head for the application
	headOff int            // bytes of head written to up
	body    upstream.Spool // request body, kept for a retry
	// bodyLeft is the Content-Length still to read from the client, or -1
	// for a chunked body.
	bodyLeft  int64
	chunked   http1.ChunkedDecoder
	bodyStart int64

	requestID    []byte
	retried      bool
	held         bool // waited for a server of an empty group
	wroteAny     bool // the upstream socket accepted request bytes
	requestSent  bool
	respStarted  bool // a response byte arrived
	connectStart int64

	upBuf    []byte // response head (and what followed it) from upstream
	resp     http1.Response
	respScan http1.HeadScanner
	respLeft int64 // Content-Length still to read
	respDec  http1.ChunkedDecoder
	// decode: the client speaks HTTP/1.0, so a chunked response is
	// decoded and delimited by closing the connection.
	decode     bool
	out        upstream.Spool // response body on its way to the client
	upDone     bool           // the response body is completely read
	reusable   bool           // the upstream connection may go back to its pool
	truncated  bool           // the upstream closed before the body was complete
	streaming  bool
	comp       *compressor // on-the-fly compression, when chosen
	tunnel     bool
	tunnelDone [2]bool // client→upstream, upstream→client directions ended
	c2u        []byte  // tunnel: bytes from the client not yet sent upstream
	c2uOff     int
}

var errUpstream = errors.New("upstream closed the connection")

// startProxy begins a proxied request: the head for the application is
// built at once (the client's head bytes may be overwritten while the body
// is read), then the body is buffered completely before the application
// sees anything, so a slow upload never holds an application worker.
func (w *worker) startProxy(c *conn, s *site, rt *route) {
	ex := c.ex
	r := &ex.req
	if string(r.Method) == "TRACE" {
		// TRACE echoes the request back, cookies and credentials
		// included (cross-site tracing); the edge refuses it, as nginx
		// does, and the application never sees it.
		if r.ContentLength != 0 {
			ex.keepAlive, ex.linger = false, true // the body was not read
		}
		w.writeErrorWith(c, 405, "Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n")
		return
	}
	if r.NumCodings > 0 {
		w.respondError(c, 501) // transfer codings other than chunked (RFC 9112 §6.1)
		return
	}
	if r.ContentLength > w.cfg.Limits.MaxBodyBytes {
		w.refuse(c, 413)
		return
	}
	g := w.groups[rt.upstream]
	if g == nil || (len(g.Members) == 0 && g.Spec.Hold == 0) {
		w.respondUnavailable(c)
		return
	}
	if r.Upgrade && !http1.EqualFold(bytes.TrimSpace(r.Header(http1.HeaderUpgrade)), "websocket") {
		// Only WebSocket is tunnelled: an "h2c" (or other) upgrade sent
		// through would let a client speak a protocol the edge does not
		// parse straight to the application. The request goes on as plain
		// HTTP/1.1 (Upgrade is hop-by-hop and is not forwarded).
		r.Upgrade = false
	}
	px := w.getProxy()
	ex.px = px
	px.route, px.site, px.group = rt, s, g
	px.head = w.buildUpstreamHead(px.head[:0], c, px)
	if r.ContentLength == 0 {
		w.dispatch(c)
		return
	}
	px.body.Init(w.proxyCfg.BufferMemory, w.cfg.Limits.MaxBodyBytes, true)
	px.bodyLeft = r.ContentLength
	px.chunked.Reset()
	px.bodyStart = w.loop.Now()
	c.state = stateBody
	if r.Expect100 && len(c.rbuf) == r.HeadLen {
		// The client waits for our go-ahead before sending the body.
		loop.Send(c.fd, []byte("HTTP/1.1 100 Continue\r\n\r\n"), false)
	}
	w.loop.Arm(&c.timer, timerBodyIdle)
	w.consumeBody(c)
}

// readBody is drive's step for stateBody.
func (w *worker) readBody(c *conn) {
	for c.state == stateBody {
		if !c.readable {
			if c.peerClosed {
				w.closeConn(c) // the client gave up half way
			}
			return
		}
		if !w.fill(c) {
			return
		}
		w.consumeBody(c)
	}
}

// consumeBody moves body bytes from the read buffer (after the head) into
// the spool, and dispatches the request once the body is complete.
func (w *worker) consumeBody(c *conn) {
	ex, px := c.ex, c.ex.px
	head := ex.req.HeadLen
	data := c.rbuf[head:]
	if len(data) == 0 {
		return
	}
	used := 0
	var err error
	if px.bodyLeft >= 0 {
		n := int(min(int64(len(data)), px.bodyLeft))
		err = px.body.Append(data[:n])
		px.bodyLeft -= int64(n)
		used = n
	} else {
		for used < len(data) && !px.chunked.Done() {
			n, chunk, derr := px.chunked.Decode(data[used:])
			used += n
			if derr != nil {
				w.refuseBody(c, derr)
				return
			}
			if len(chunk) > 0 {
				if px.body.Total()+int64(len(chunk)) > w.cfg.Limits.MaxBodyBytes {
					w.refuseBody(c, upstream.ErrSpoolFull)
					return
				}
				if err = px.body.Append(chunk); err != nil {
					break
				}
			}
			if n == 0 {
				break
			}
		}
	}
	if err != nil {
		w.refuseBody(c, err)
		return
	}
	rest := copy(c.rbuf[head:], data[used:])
	c.rbuf = c.rbuf[:head+rest]
	if px.bodyLeft == 0 || px.chunked.Done() {
		w.loop.Disarm(&c.timer)
		w.dispatch(c)
		return
	}
	w.loop.Arm(&c.timer, timerBodyIdle)
	if w.bodyTooSlow(px) {
		w.refuse(c, 408)
	}
}

// bodyTooSlow enforces the minimum upload rate once the first idle period
// has passed, so a client trickling a byte just often enough cannot hold
// a connection and a buffer forever.
func (w *worker) bodyTooSlow(px *proxyExchange) bool {
	rate := w.cfg.Timeouts.BodyMinRate
	elapsed := w.loop.Now() - px.bodyStart
	grace := int64(w.cfg.Timeouts.BodyIdle)
	if rate <= 0 || elapsed < grace {
		return false
	}
	return px.body.Total()*1e9/elapsed < rate
}

// refuseBody answers a body that cannot be taken: malformed chunking (400),
// too large (413), no space for the temporary file (507).
func (w *worker) refuseBody(c *conn, err error) {
	var pe *http1.Error
	switch {
	case errors.As(err, &pe):
		w.refuse(c, pe.Status)
	case errors.Is(err, upstream.ErrSpoolFull):
		w.refuse(c, 413)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		w.log.Warn("no space for a request body's temporary file", "dir", w.e.tempDir)
		w.refuse(c, 507)
	default:
		w.log.Error("buffering a request body", "err", err)
		w.refuse(c, 500)
	}
}

// dispatch completes the head and sends the request to a server.
func (w *worker) dispatch(c *conn) {
	ex, px := c.ex, c.ex.px
	r := &ex.req
	if r.ContentLength != 0 || r.Header(http1.HeaderContentLength) != nil {
		px.head = appendContentLengthLine(px.head, px.body.Total())
	}
	px.head = append(px.head, "\r\n"...)
	c.state = stateUpstream
	px.connectStart = w.loop.Now()
	w.connectUpstream(c)
}

// connectUpstream picks a server and gets a connection to it: a pooled one
// when there is one (not after a failure on a reused one), else a new one.
func (w *worker) connectUpstream(c *conn) {
	px := c.ex.px
	s := px.group.Pick(w.loop.UnixNano())
	if s == nil {
		if len(px.group.Members) == 0 && px.group.Spec.Hold > 0 && !px.held {
			// The application is booting: wait for it (resumeHeld),
			// within the group's hold, rather than answer 503 at once.
			px.held = true
			w.held = append(w.held, heldRequest{c: c, gen: c.gen})
			w.loop.ArmAt(&c.timer, timerUpHold, w.loop.Now()+int64(px.group.Spec.Hold))
			return
		}
		w.respondUnavailable(c)
		return
	}
	if px.held {
		w.loop.Disarm(&c.timer)
	}
	w.countIn(px, s)
	var u *upstream.Conn
	if !px.retried {
		u = w.pool.TakeIdle(s, c)
		for u != nil && !u.Quiet() {
			// Bytes arrived on the idle connection after the loop last
			// looked (an unsolicited 408, a response glued on late): they
			// would be read as this request's answer.
			w.pool.Close(u)
			u = w.pool.TakeIdle(s, c)
		}
	}
	if u == nil {
		var errno syscall.Errno
		u, errno = w.pool.Dial(s, c)
		if errno != 0 {
			w.uncount(px)
			if errno == syscall.EAGAIN && w.loop.Now()-px.connectStart < int64(w.proxyCfg.ConnectTimeout) {
				// A unix socket's backlog is full: the application is busy.
				// Try again shortly rather than fail the request.
				w.loop.Arm(&c.timer, timerUpRetry)
				return
			}
			px.group.MarkFailure(s, w.loop.UnixNano())
			w.log.Warn("upstream connect failed", "upstream", s.Server.Addr, "err", errno)
			if errno == syscall.EAGAIN {
				w.gatewayError(c, 504)
			} else {
				w.gatewayError(c, 502)
			}
			return
		}
	}
	px.up = u
	px.headOff, px.wroteAny, px.requestSent, px.respStarted = 0, false, false, false
	px.body.Rewind()
	if u.Busy() {
		w.loop.Arm(&u.Timer, timerUpRead)
	}
}

// upstreamPhase is drive's step for stateUpstream: write the request, then
// read until the response head is complete. A client that closed its
// sending side (peerClosed) is still answered: a half-close after a whole
// request is allowed (RFC 9112 §9.6), and `nc -N`, health checkers and
// HTTP/1.0 tools do it. Only a reset (EPOLLERR, in onConnEvent) or a
// failed write ends the exchange early.
func (w *worker) upstreamPhase(c *conn) {
	px := c.ex.px
	u := px.up
	if u == nil || !u.Busy() {
		return // connecting, or waiting to retry
	}
	if !px.requestSent && !w.sendRequest(c, px, u) {
		return
	}
	for u.Readable && c.state == stateUpstream {
		if px.upBuf == nil {
			px.upBuf = w.rpool.Get()
		}
		if len(px.upBuf) == cap(px.upBuf) {
			w.badGateway(c, "response head too large")
			return
		}
		n, errno := loop.Read(u.Fd, px.upBuf[len(px.upBuf):cap(px.upBuf)])
		switch {
		case errno == syscall.EAGAIN:
			u.Readable = false
			return
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			w.upstreamFailed(c, errno)
			return
		case n == 0:
			w.upstreamFailed(c, errUpstream)
			return
		}
		if n < cap(px.upBuf)-len(px.upBuf) && !u.Hup {
			u.Readable = false // drained: the next arrival raises an edge
		}
		px.respStarted = true
		px.upBuf = px.upBuf[:len(px.upBuf)+n]
		w.loop.Arm(&u.Timer, timerUpRead)
		if !w.parseResponseHead(c, px) {
			return
		}
	}
}

// sendRequest writes the head and the body to the upstream connection. It
// returns true once all is written.
func (w *worker) sendRequest(c *conn, px *proxyExchange, u *upstream.Conn) bool {
	for px.headOff < len(px.head) {
		n, errno := loop.Send(u.Fd, px.head[px.headOff:], px.body.Pending() > 0)
		switch errno {
		case 0:
			px.headOff += n
			px.wroteAny = true
		case syscall.EAGAIN:
			u.Writable = false
			return false
		case syscall.EINTR:
		default:
			w.upstreamFailed(c, errno)
			return false
		}
	}
	if px.body.Pending() > 0 {
		switch errno := px.body.SendTo(u); errno {
		case 0:
		case syscall.EAGAIN:
			u.Writable = false
			return false
		default:
			w.upstreamFailed(c, errno)
			return false
		}
	}
	px.requestSent = true
	w.loop.Arm(&u.Timer, timerUpRead)
	return true
}

// parseResponseHead looks for a complete head in upBuf and starts the
// response once there is one. It returns false when the exchange moved on
// (or failed) and reading heads must stop.
func (w *worker) parseResponseHead(c *conn, px *proxyExchange) bool {
	for {
		n, err := px.respScan.ScanResponse(px.upBuf, &w.headLimits)
		if err != nil {
			w.badGateway(c, err.Error())
			return false
		}
		if n == 0 {
			return true // need more
		}
		if err := px.resp.Parse(px.upBuf[:n], c.ex.req.Method, &w.headLimits); err != nil {
			w.badGateway(c, err.Error())
			return false
		}
		if px.resp.Status >= 100 && px.resp.Status < 200 && px.resp.Status != 101 {
			// Interim response (100 Continue, 103 Early Hints): dropped;
			// the client got its 100 from us already.
			rest := copy(px.upBuf, px.upBuf[n:])
			px.upBuf = px.upBuf[:rest]
			px.respScan.Reset()
			continue
		}
		w.startResponse(c, px)
		return false
	}
}

// badGateway answers 502 for an upstream that broke the protocol, and does
// not reuse its connection.
func (w *worker) badGateway(c *conn, why string) {
	px := c.ex.px
	w.log.Warn("bad response from upstream", "upstream", px.server.Server.Addr, "why", why)
	w.releaseUp(px, false)
	w.gatewayError(c, 502)
}

// upstreamFailed handles a transport failure on the upstream connection:
// a retry on a fresh connection when that is safe, else 502/504 (or a
// truncated response when the head is already out).
func (w *worker) upstreamFailed(c *conn, err error) {
	ex := c.ex
	px := ex.px
	u := px.up
	reused := u != nil && u.Reused
	s := px.server
	w.releaseUp(px, false)
	if c.state == stateUpstream && !px.respStarted && reused && !px.retried &&
		(idempotent(ex.req.Method) || !px.wroteAny) {
		// The server most likely closed an idle pooled connection just as
		// we used it: once, on a fresh connection.
		px.retried = true
		w.connectUpstream(c)
		return
	}
	if s != nil && !reused {
		px.group.MarkFailure(s, w.loop.UnixNano())
	}
	if c.state == stateUpstream || c.state == stateBody {
		status := 502
		if errors.Is(err, upstream.ErrTimeout) {
			status = 504
		}
		if s != nil {
			w.log.Warn("upstream failed", "upstream", s.Server.Addr, "err", err, "status", status)
		}
		w.gatewayError(c, status)
		return
	}
	// The response head is already with the client: all we can do is end
	// the connection after what we have, so the truncation is visible.
	px.upDone, px.truncated = true, true
	ex.keepAlive = false
	w.drive(c)
}

// idempotent reports methods that may be sent twice (RFC 9110 §9.2.2).
func idempotent(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

// gatewayError answers 502/503/504 with the branded page (or JSON). The
// request was read completely, so the client connection stays usable.
func (w *worker) gatewayError(c *conn, status int) {
	ex := c.ex
	w.loop.Disarm(&c.timer)
	c.state = stateWrite
	if ex.px != nil {
		w.releaseUp(ex.px, false)
		ex.px.upDone = true // nothing more comes from upstream
	}
	extra := ""
	if status == 503 {
		extra = "Retry-After: 5\r\n"
	}
	if wantsJSON(&ex.req) {
		w.writeJSONError(c, status, extra)
		return
	}
	w.writeErrorWith(c, status, extra)
}

// respondUnavailable is the 503 while the application is not ready (or no
// server of the group is healthy).
func (w *worker) respondUnavailable(c *conn) {
	ex := c.ex
	if ex.req.ContentLength != 0 && c.state != stateUpstream {
		ex.keepAlive, ex.linger = false, true // the body was not read
	}
	w.gatewayError(c, 503)
}

// releaseUp lets go of the upstream connection: back to the pool when the
// exchange on it ended cleanly, else closed; and of the in-flight count.
func (w *worker) releaseUp(px *proxyExchange, reusable bool) {
	if u := px.up; u != nil {
		px.up = nil
		w.loop.Disarm(&u.Timer)
		if reusable {
			w.pool.Put(u)
		} else {
			w.pool.Close(u)
		}
	}
	w.uncount(px)
}

func (w *worker) countIn(px *proxyExchange, s *upstream.Member) {
	px.server = s
	s.CountIn()
}

func (w *worker) uncount(px *proxyExchange) {
	if s := px.server; s != nil {
		s.CountOut()
		px.server = nil
	}
}

func (w *worker) getProxy() *proxyExchange {
	if n := len(w.pxFree); n > 0 {
		px := w.pxFree[n-1]
		w.pxFree = w.pxFree[:n-1]
		return px
	}
	return &proxyExchange{body: upstream.NewSpool(&w.wpool, w.e.tempDir), out: upstream.NewSpool(&w.wpool, w.e.tempDir)}
}

// releaseProxy frees everything an exchange's proxy state holds.
func (w *worker) releaseProxy(px *proxyExchange) {
	w.releaseUp(px, false)
	px.body.Release()
	px.out.Release()
	if px.upBuf != nil {
		w.rpool.Put(px.upBuf)
	}
	if px.c2u != nil {
		w.rpool.Put(px.c2u)
	}
	if px.comp != nil {
		w.putCompressor(px.comp)
	}
	head, rid, hs := px.head[:0], px.requestID[:0], px.resp.Headers[:0]
	body, out := px.body, px.out
	*px = proxyExchange{head: head, requestID: rid, body: body, out: out}
	px.resp.Headers = hs
	px.respScan.Reset()
	w.pxFree = append(w.pxFree, px)
}
