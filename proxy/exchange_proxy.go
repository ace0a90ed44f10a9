package proxy

import (
	"bytes"
	"errors"
	"syscall"

	"frontdoor/proxy/http1"
	"frontdoor/proxy/loop"
	"frontdoor/proxy/upstream"
)

// A proxied exchange: the request body is buffered completely before the
// application sees anything (exchange.go: startBody), the request goes to
// a server of the route's group over a pooled or new connection
// (proxy/upstream), and the response comes back through relay.go — or
// through the static path when the application names a file (accel.go),
// or as a tunnel when it switches protocols (exchange_tunnel.go).

// upPhase is where a proxied exchange is on the application's side.
type upPhase uint8

const (
	// upWait: no connection yet; the request waits for a server of a
	// group that has none (held), or to retry a refused connect.
	upWait upPhase = iota
	// upSend: connecting, or writing the request (head, then body).
	upSend
	// upAwaitHead: the request is sent; no response byte yet.
	upAwaitHead
	// upReadHead: the response head is arriving.
	upReadHead
	// upRelay: the response head is out; the body is being read.
	upRelay
	// upComplete: the response body is completely read — or there is
	// nothing (more) to relay: an error page answered instead.
	upComplete
	// upTruncated: the application closed before the body was complete.
	upTruncated
	// upTunnel: switched protocols; bytes flow both ways.
	upTunnel
)

// proxyExchange is the proxy state of one proxied request. It comes from
// a per-worker free list and exists only while the request is in
// progress.
type proxyExchange struct {
	w      *worker
	phase  upPhase
	route  *route
	site   *site
	group  *upstream.Group
	server *upstream.Member // chosen server, while counted in its in-flight
	up     *upstream.Conn

	head    []byte         // request head for the application
	headOff int            // bytes of head written to up (0: nothing sent yet)
	body    upstream.Spool // request body, kept for a retry

	bodyStart    int64 // when the body began to arrive
	connectStart int64 // when the first connect began
	requestID    []byte
	// retried: the request was sent again once, on a fresh connection.
	retried bool
	// dialDeferred: the request found no idle connection and waited for
	// the end of the loop's turn before dialling one (dialLater).
	dialDeferred bool
	// held: the request waited for a server of an empty group (once).
	held bool

	upBuf    []byte // response head (and what followed it) from upstream
	resp     http1.Response
	respScan http1.HeadScanner
	respLeft int64 // Content-Length still to read
	respDec  http1.ChunkedDecoder
	out      upstream.Spool // response body on its way to the client
	// decode: a chunked response is decoded (the client cannot take it
	// chunk-framed as it is).
	decode bool
	// streaming: relayed as it comes, with back-pressure, never spooled
	// to a file (event streams, X-Accel-Buffering: no).
	streaming bool
	// reusable: the upstream connection may go back to its pool once the
	// body is read.
	reusable bool
	comp     *compressor // on-the-fly compression, when chosen

	tunnelDone [2]bool // tunnel: client→upstream, upstream→client ended
	c2u        []byte  // tunnel: bytes from the client not yet sent upstream
	c2uOff     int
}

// bodyRead reports that nothing more comes from the application.
func (px *proxyExchange) bodyRead() bool {
	return px.phase == upComplete || px.phase == upTruncated
}

var errUpstream = errors.New("upstream closed the connection")

// methodGET is the method an HTTP/2 WebSocket's extended CONNECT becomes.
var methodGET = []byte("GET")

// startProxy begins a proxied request: the head for the application is
// built at once (the client's head bytes may be overwritten while the body
// is read), then the body is buffered completely before the application
// sees anything, so a slow upload never holds an application worker.
func (ex *exchange) startProxy(s *site, rt *route) {
	w := ex.w
	r := ex.req
	if string(r.Method) == "TRACE" {
		// TRACE echoes the request back, cookies and credentials
		// included (cross-site tracing); the edge refuses it, as nginx
		// does, and the application never sees it.
		ex.skipBody()
		ex.writeErrorWith(405, "Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n")
		return
	}
	if r.NumCodings > 0 {
		ex.respondError(501) // transfer codings other than chunked (RFC 9112 §6.1)
		return
	}
	if r.ContentLength > w.cfg.Limits.MaxBodyBytes {
		ex.refuse(413)
		return
	}
	g := w.groups[rt.upstream]
	if g != nil && g.Spec.Maintenance != nil {
		ex.respondMaintenance(g.Spec.Maintenance)
		return
	}
	if g == nil || (len(g.Members) == 0 && g.Spec.Hold == 0) {
		ex.respondUnavailable()
		return
	}
	if ex.connectUpgrade {
		// An HTTP/2 WebSocket (extended CONNECT, RFC 8441): the
		// application gets the HTTP/1.1 handshake it expects (forward.go).
		r.Method, r.Upgrade, r.ContentLength = methodGET, true, 0
	} else if r.Upgrade && !http1.EqualFold(bytes.TrimSpace(r.Header(http1.HeaderUpgrade)), "websocket") {
		// Only WebSocket is tunnelled: an "h2c" (or other) upgrade sent
		// through would let a client speak a protocol the edge does not
		// parse straight to the application. The request goes on as plain
		// HTTP/1.1 (Upgrade is hop-by-hop and is not forwarded).
		r.Upgrade = false
	}
	px := w.getProxy()
	ex.px = px
	px.route, px.site, px.group = rt, s, g
	px.head = ex.buildUpstreamHead(px.head[:0])
	if r.ContentLength == 0 {
		ex.dispatch()
		return
	}
	px.body.Init(w.proxyCfg.BufferMemory, w.cfg.Limits.MaxBodyBytes, true)
	ex.startBody()
}

// startBody makes the exchange wait for its request body, which the
// stream delivers with receiveBody and bodyReceived, within the body's
// idle time and minimum rate.
func (ex *exchange) startBody() {
	ex.phase = phaseBody
	ex.px.bodyStart = ex.w.loop.Now()
	ex.w.loop.Arm(&ex.timer, timerBodyIdle)
	ex.s.readBody()
}

// receiveBody takes request body bytes. It fails when they would pass
// the body limit (ErrSpoolFull) or cannot be stored.
func (ex *exchange) receiveBody(p []byte) error {
	px := ex.px
	if px.body.Total()+int64(len(p)) > ex.w.cfg.Limits.MaxBodyBytes {
		return upstream.ErrSpoolFull
	}
	return px.body.Append(p)
}

// bodyArriving runs after the stream passed on some of the body: the idle
// timer starts again, and a client below the minimum rate is refused.
func (ex *exchange) bodyArriving() {
	ex.w.loop.Arm(&ex.timer, timerBodyIdle)
	if ex.bodyTooSlow() {
		ex.refuse(408)
	}
}

// bodyReceived runs when the whole body is in: the request goes to the
// application.
func (ex *exchange) bodyReceived() {
	ex.w.loop.Disarm(&ex.timer)
	ex.dispatch()
}

// bodyTooSlow enforces the minimum upload rate once the first idle period
// has passed, so a client trickling a byte just often enough cannot hold
// a connection and a buffer forever.
func (ex *exchange) bodyTooSlow() bool {
	cfg := &ex.w.cfg.Timeouts
	return uploadTooSlow(ex.px.body.Total(), ex.w.loop.Now()-ex.px.bodyStart, cfg.BodyMinRate, int64(cfg.BodyIdle))
}

// uploadTooSlow is the rule of bodyTooSlow: received bytes in elapsed
// nanoseconds are below rate bytes/s on average, once grace (nanoseconds)
// has passed (rate 0 turns the rule off). Kept apart from the exchange so
// that its edges can be tested without a loop's clock.
func uploadTooSlow(received, elapsed, rate, grace int64) bool {
	if rate <= 0 || elapsed < grace {
		return false
	}
	return received*1e9/elapsed < rate
}

// refuseBody answers a body that cannot be taken: malformed framing (400),
// too large (413), no space for the temporary file (507).
func (ex *exchange) refuseBody(err error) {
	var pe *http1.Error
	switch {
	case errors.As(err, &pe):
		ex.refuse(pe.Status)
	case errors.Is(err, upstream.ErrSpoolFull):
		ex.refuse(413)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		ex.w.log.Warn("no space for a request body's temporary file", "dir", ex.w.e.tempDir)
		ex.refuse(507)
	default:
		ex.w.log.Error("buffering a request body", "err", err)
		ex.refuse(500)
	}
}

// OnTimeout is the loop's entry for the exchange's timer.
func (ex *exchange) OnTimeout(kind loop.TimerKind) {
	s := ex.s
	switch kind {
	case timerBodyIdle:
		ex.refuse(408) // the body stopped arriving
	case timerUpRetry:
		ex.connectUpstream()
	case timerUpHold:
		ex.respondUnavailable() // still no server after the hold
	}
	s.resume()
}

// dispatch completes the head and sends the request to a server.
func (ex *exchange) dispatch() {
	px := ex.px
	r := ex.req
	if r.ContentLength != 0 || r.Header(http1.HeaderContentLength) != nil {
		px.head = appendContentLengthLine(px.head, px.body.Total())
	}
	px.head = append(px.head, "\r\n"...)
	ex.phase = phaseUpstream
	px.connectStart = ex.w.loop.Now()
	ex.connectUpstream()
}

// connectUpstream picks a server and gets a connection to it: a pooled one
// when there is one (not after a failure on a reused one), else a new one.
func (ex *exchange) connectUpstream() {
	w, px := ex.w, ex.px
	if m := px.group.Spec.Maintenance; m != nil {
		// Held while the application booted, and meanwhile put in
		// maintenance.
		ex.respondMaintenance(m)
		return
	}
	s := px.group.Pick(w.loop.UnixNano())
	if s == nil {
		if len(px.group.Members) == 0 && px.group.Spec.Hold > 0 && !px.held {
			// The application is booting: wait for it (resumeHeld),
			// within the group's hold, rather than answer 503 at once.
			px.held = true
			w.held = append(w.held, heldRequest{ex: ex, id: ex.id})
			w.loop.ArmAt(&ex.timer, timerUpHold, w.loop.Now()+int64(px.group.Spec.Hold))
			return
		}
		ex.respondUnavailable()
		return
	}
	if px.held {
		w.loop.Disarm(&ex.timer)
	}
	px.countIn(s)
	ex.connectTo(s)
}

// connectTo gets the request a connection to s: a pooled one when there is
// one (not after a failure on a reused one), else a new one — dialled at
// the end of the loop's turn (dialLater), when the connections that the
// turn's responses gave back are in the pool.
func (ex *exchange) connectTo(s *upstream.Member) {
	w, px := ex.w, ex.px
	var u *upstream.Conn
	if !px.retried {
		u = w.pool.TakeIdle(s, ex)
		for u != nil && !u.Quiet() {
			// Bytes arrived on the idle connection after the loop last
			// looked (an unsolicited 408, a response glued on late): they
			// would be read as this request's answer.
			w.pool.Close(u)
			u = w.pool.TakeIdle(s, ex)
		}
	}
	if u == nil && !px.retried && !px.dialDeferred {
		px.dialDeferred = true
		w.dialWait = append(w.dialWait, heldRequest{ex: ex, id: ex.id})
		return
	}
	if u == nil {
		var errno syscall.Errno
		u, errno = w.pool.Dial(s, ex)
		if errno != 0 {
			px.uncount()
			if errno == syscall.EAGAIN && w.loop.Now()-px.connectStart < int64(w.proxyCfg.ConnectTimeout) {
				// A unix socket's backlog is full: the application is busy.
				// Try again shortly rather than fail the request.
				w.loop.Arm(&ex.timer, timerUpRetry)
				return
			}
			px.group.MarkFailure(s, w.loop.UnixNano())
			w.log.Warn("upstream connect failed", "upstream", s.Server.Addr, "err", errno)
			if errno == syscall.EAGAIN {
				ex.gatewayError(504)
			} else {
				ex.gatewayError(502)
			}
			return
		}
	}
	px.up = u
	px.phase, px.headOff = upSend, 0
	px.body.Rewind()
	if u.Busy() {
		w.loop.Arm(&u.Timer, timerUpRead)
	}
}

// dialLater gets the requests that found no idle connection during the
// loop's turn a connection, at its end: one that a response of the same
// turn gave back to the pool, else a new one. Under a load with more
// requests in flight than the pool's size, new requests and responses
// come in the same turns, in any order; a request that dialled at once
// opened a connection while another, answered a moment later in the same
// turn, went back to a full pool. Each request is confined like an event:
// a panic costs its own connection only.
func (w *worker) dialLater() {
	for i := 0; i < len(w.dialWait); i++ {
		h := w.dialWait[i]
		w.dialWait[i] = heldRequest{}
		w.dialNow(h)
	}
	w.dialWait = w.dialWait[:0]
}

func (w *worker) dialNow(h heldRequest) {
	ex := h.ex
	if ex.id != h.id || ex.phase != phaseUpstream || ex.px == nil || ex.px.up != nil || ex.px.server == nil {
		return // answered, reset or gone meanwhile
	}
	defer func() {
		if r := recover(); r != nil {
			w.Recovered(ex, r)
		}
	}()
	s := ex.s
	ex.connectTo(ex.px.server)
	s.resume()
}

// UpstreamReady is told by the upstream connection that it can make
// progress (upstream.Owner).
func (ex *exchange) UpstreamReady() { ex.s.resume() }

// UpstreamFailed is told by the upstream connection that its connect
// failed or its timer expired (upstream.Owner).
func (ex *exchange) UpstreamFailed(err error) {
	s := ex.s
	ex.upstreamFailed(err)
	s.resume()
}

// exchangeUpstream is the upstream phase's step: write the request, then
// read until the response head is complete. A client that closed its
// sending side is still answered: a half-close after a whole request is
// allowed (RFC 9112 §9.6), and `nc -N`, health checkers and HTTP/1.0 tools
// do it. Only a reset (EPOLLERR) or a failed write ends the exchange
// early.
func (ex *exchange) exchangeUpstream() {
	px := ex.px
	u := px.up
	if u == nil || !u.Busy() {
		return // connecting, or waiting to retry
	}
	if px.phase == upSend && !ex.sendRequest(u) {
		return
	}
	for u.Readable && ex.phase == phaseUpstream {
		if px.upBuf == nil {
			px.upBuf = ex.w.rpool.Get()
		}
		if len(px.upBuf) == cap(px.upBuf) {
			ex.badGateway("response head too large")
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
			ex.upstreamFailed(errno)
			return
		case n == 0:
			ex.upstreamFailed(errUpstream)
			return
		}
		if n < cap(px.upBuf)-len(px.upBuf) && !u.Hup {
			u.Readable = false // drained: the next arrival raises an edge
		}
		px.phase = upReadHead
		px.upBuf = px.upBuf[:len(px.upBuf)+n]
		ex.w.loop.Arm(&u.Timer, timerUpRead)
		if !ex.parseResponseHead() {
			return
		}
	}
}

// sendRequest writes the head and the body to the upstream connection. It
// returns true once all is written.
func (ex *exchange) sendRequest(u *upstream.Conn) bool {
	px := ex.px
	for px.headOff < len(px.head) {
		n, errno := loop.Send(u.Fd, px.head[px.headOff:], px.body.Pending() > 0)
		switch errno {
		case 0:
			px.headOff += n
		case syscall.EAGAIN:
			u.Writable = false
			return false
		case syscall.EINTR:
		default:
			ex.upstreamFailed(errno)
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
			ex.upstreamFailed(errno)
			return false
		}
	}
	px.phase = upAwaitHead
	ex.w.loop.Arm(&u.Timer, timerUpRead)
	return true
}

// parseResponseHead looks for a complete head in upBuf and starts the
// response once there is one. It returns false when the exchange moved on
// (or failed) and reading heads must stop.
func (ex *exchange) parseResponseHead() bool {
	px := ex.px
	lim := &ex.w.headLimits
	for {
		n, err := px.respScan.ScanResponse(px.upBuf, lim)
		if err != nil {
			ex.badGateway(err.Error())
			return false
		}
		if n == 0 {
			return true // need more
		}
		if err := px.resp.Parse(px.upBuf[:n], ex.req.Method, lim); err != nil {
			ex.badGateway(err.Error())
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
		ex.startResponse()
		return false
	}
}

// badGateway answers 502 for an upstream that broke the protocol, and does
// not reuse its connection.
func (ex *exchange) badGateway(why string) {
	px := ex.px
	ex.w.log.Warn("bad response from upstream", "upstream", px.server.Server.Addr, "why", why)
	px.releaseUp(false)
	ex.gatewayError(502)
}

// upstreamFailed handles a transport failure on the upstream connection:
// a retry on a fresh connection when that is safe, else 502/504 (or a
// truncated response when the head is already out).
func (ex *exchange) upstreamFailed(err error) {
	w, px := ex.w, ex.px
	u := px.up
	reused := u != nil && u.Reused
	wroteAny := px.headOff > 0 // the upstream socket accepted request bytes
	s := px.server
	px.releaseUp(false)
	if ex.phase == phaseUpstream && px.phase < upReadHead && reused && !px.retried &&
		(idempotent(ex.req.Method) || !wroteAny) {
		// The server most likely closed an idle pooled connection just as
		// we used it: once, on a fresh connection.
		px.retried = true
		ex.connectUpstream()
		return
	}
	if s != nil && !reused {
		px.group.MarkFailure(s, w.loop.UnixNano())
	}
	if ex.phase == phaseUpstream || ex.phase == phaseBody {
		status := 502
		if errors.Is(err, upstream.ErrTimeout) {
			status = 504
		}
		if s != nil {
			w.log.Warn("upstream failed", "upstream", s.Server.Addr, "err", err, "status", status)
		}
		ex.gatewayError(status)
		return
	}
	// The response head is already with the client: all we can do is end
	// the connection after what we have, so the truncation is visible.
	px.phase = upTruncated
	ex.closeAfter = true
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
func (ex *exchange) gatewayError(status int) {
	ex.w.loop.Disarm(&ex.timer)
	ex.phase = phaseRespond
	if px := ex.px; px != nil {
		px.releaseUp(false)
		px.phase = upComplete // nothing more comes from upstream
	}
	extra := ""
	if status == 503 {
		extra = "Retry-After: 5\r\n"
	}
	if wantsJSON(ex.req) {
		ex.writeJSONError(status, extra)
		return
	}
	ex.writeErrorWith(status, extra)
}

// respondUnavailable is the 503 while the application is not ready (or no
// server of the group is healthy).
func (ex *exchange) respondUnavailable() {
	if ex.phase != phaseUpstream {
		ex.skipBody() // the body was not read
	}
	ex.gatewayError(503)
}

// releaseUp lets go of the upstream connection: back to the pool when the
// exchange on it ended cleanly, else closed; and of the in-flight count.
func (px *proxyExchange) releaseUp(reusable bool) {
	if u := px.up; u != nil {
		px.up = nil
		px.w.loop.Disarm(&u.Timer)
		if reusable {
			px.w.pool.Put(u)
		} else {
			px.w.pool.Close(u)
		}
	}
	px.uncount()
}

// countIn counts the request in flight on s.
func (px *proxyExchange) countIn(s *upstream.Member) {
	px.server = s
	s.CountIn()
}

// uncount ends what countIn counted.
func (px *proxyExchange) uncount() {
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
	return &proxyExchange{w: w, body: upstream.NewSpool(&w.wpool, w.e.tempDir), out: upstream.NewSpool(&w.wpool, w.e.tempDir)}
}

// release frees everything the proxy state holds and returns it to the
// worker's free list.
func (px *proxyExchange) release() {
	w := px.w
	px.releaseUp(false)
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
	head, rid, hs, trailer := px.head[:0], px.requestID[:0], px.resp.Headers[:0], px.respDec.Trailer[:0]
	body, out := px.body, px.out
	*px = proxyExchange{w: w, head: head, requestID: rid, body: body, out: out}
	px.resp.Headers = hs
	px.respDec.Trailer = trailer
	px.respScan.Reset()
	w.pxFree = append(w.pxFree, px)
}
