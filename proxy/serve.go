package proxy

import (
	"errors"
	"net/netip"
	"strconv"

	"frontdoor/proxy/http1"
)

// readAndServe reads input and, once a request head is complete, serves it.
// It returns true when the connection moved to a state that drive should
// continue with (a response to write), false when it must wait for input or
// was closed.
func (w *worker) readAndServe(c *conn) bool {
	if c.readable && !w.fill(c) {
		return false
	}
	if len(c.rbuf) == 0 {
		w.goIdle(c)
		return false
	}
	if c.ex == nil {
		w.startExchange(c)
	}
	lim := &w.headLimits
	n, err := c.ex.scan.Scan(c.rbuf, lim)
	if err == nil && n == 0 {
		if c.peerClosed {
			w.closeConn(c) // half a request, and the client is gone
		}
		return false
	}
	if err == nil {
		err = c.ex.req.Parse(c.rbuf[:n], lim)
	}
	if err != nil {
		var pe *http1.Error
		if !errors.As(err, &pe) {
			pe = &http1.Error{Status: 400}
		}
		w.refuse(c, pe.Status)
		return true
	}
	w.loop.Disarm(&c.timer)
	w.serveRequest(c)
	return true
}

// startExchange begins a request on c: the first byte has arrived.
func (w *worker) startExchange(c *conn) {
	ex := w.getExchange()
	ex.start = w.loop.Now()
	c.ex = ex
	c.state = stateHead
	w.loop.Arm(&c.timer, timerHead)
	if c.wbuf == nil {
		c.wbuf = w.wpool.Get()
	}
}

// serveRequest routes a parsed request to its handler, which leaves the
// connection in stateWrite with the response queued.
func (w *worker) serveRequest(c *conn) {
	ex := c.ex
	r := &ex.req
	ex.parsed = true
	ex.tls = c.isTLS()
	ex.keepAlive = r.KeepAlive && !w.draining
	c.state = stateWrite
	if hook := w.e.beforeServe.Load(); hook != nil {
		(*hook)(r.Path)
	}
	if rl := &w.cfg.Limits.Clients; rl.RequestsPerSecond > 0 &&
		!w.e.limiter.allow(w.clientAddr(c), rl.RequestsPerSecond, float64(rl.Burst), w.loop.UnixNano()) {
		if r.ContentLength != 0 {
			ex.keepAlive, ex.linger = false, true // before the head: it says Connection: close
		}
		w.writeErrorWith(c, 429, "Retry-After: 1\r\n")
		return
	}
	if !c.isTLS() && isACMEChallenge(r.Path) {
		w.answerChallenge(c)
		return
	}
	s := w.router.lookupSite(r.Host, w.scratch)
	if s != nil && c.ts != nil && c.ts.ServerName() != "" && w.router.lookupSite([]byte(c.ts.ServerName()), w.scratch) != s {
		// The certificate was chosen for another site (domain fronting,
		// or a client reusing a connection across names).
		w.respondError(c, 421)
		return
	}
	ex.site = s
	if s != nil && w.redirectHost(c, s) {
		return
	}
	if s == nil {
		if len(w.router.routes) == 0 {
			if r.ContentLength != 0 {
				ex.keepAlive, ex.linger = false, true // the body was not read
			}
			w.writePage(c, 503, "Retry-After: 60\r\n", w.e.texts.unconfigured)
			return
		}
		w.respondError(c, 421)
		return
	}
	rt := s.match(r.Path)
	switch {
	case rt == nil || (rt.static != nil && rt.static.Internal):
		w.respondError(c, 404)
	case rt.upstream != "":
		w.startProxy(c, s, rt)
	case rt.static != nil:
		w.serveStatic(c, rt)
	default:
		w.respondError(c, 500)
	}
}

const acmeChallengePrefix = "/.well-known/acme-challenge/"

func isACMEChallenge(path []byte) bool {
	return len(path) > len(acmeChallengePrefix) && string(path[:len(acmeChallengePrefix)]) == acmeChallengePrefix
}

// answerChallenge answers an ACME HTTP-01 challenge (never redirected).
func (w *worker) answerChallenge(c *conn) {
	ex := c.ex
	cb := w.challenge
	var body []byte
	ok := false
	if cb != nil {
		body, ok = cb(string(hostWithoutPort(ex.req.Host)), string(ex.req.Path))
	}
	if !ok {
		w.respondError(c, 404)
		return
	}
	if ex.req.ContentLength != 0 {
		ex.keepAlive, ex.linger = false, true // the body was not read
	}
	ex.status = 200
	b := w.appendHead(c.wbuf[:0], 200, ex)
	b = append(b, "Content-Type: text/plain\r\nCache-Control: no-store\r\n"...)
	b = appendContentLength(b, int64(len(body)))
	b = append(b, "\r\n"...)
	b = append(b, body...)
	ex.sent = int64(len(body))
	c.wbuf = b
}

// redirectHost sends the www/apex redirect and the HTTP→HTTPS redirect a
// site asks for. It reports whether it answered.
func (w *worker) redirectHost(c *conn, s *site) bool {
	ex := c.ex
	r := &ex.req
	host := hostWithoutPort(r.Host)
	target := host
	switch s.redirectWWW {
	case "to_apex":
		if len(host) > 4 && http1EqualFoldPrefix(host, "www.") {
			target = host[4:]
		}
	case "to_www":
		if !(len(host) > 4 && http1EqualFoldPrefix(host, "www.")) {
			target = append(append(w.hostScratch[:0], "www."...), host...)
		}
	}
	toHTTPS := !c.isTLS() && s.httpsRedirect
	if len(target) == len(host) && !toHTTPS {
		return false
	}
	status := 301
	if string(r.Method) != "GET" && string(r.Method) != "HEAD" {
		status = 308 // keeps the method and body
	}
	if r.ContentLength != 0 {
		ex.keepAlive, ex.linger = false, true // the body was not read
	}
	ex.status = status
	b := w.appendHead(c.wbuf[:0], status, ex)
	b = append(b, "Location: "...)
	if c.isTLS() || toHTTPS {
		b = append(b, "https://"...)
	} else {
		b = append(b, "http://"...)
	}
	b = append(b, target...)
	if toHTTPS && w.httpsPort != 443 {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(w.httpsPort), 10)
	} else if !toHTTPS {
		if port := r.Host[len(host):]; len(port) > 0 {
			b = append(b, port...)
		}
	}
	b = append(b, r.Target...)
	b = append(b, "\r\nContent-Length: 0\r\n\r\n"...)
	c.wbuf = b
	return true
}

func http1EqualFoldPrefix(s []byte, prefix string) bool {
	return len(s) >= len(prefix) && http1.EqualFold(s[:len(prefix)], prefix)
}

// respondError answers with a small error page. When the request has a
// body the connection is closed afterwards (after lingering), because the
// body was not read.
func (w *worker) respondError(c *conn, status int) {
	ex := c.ex
	if ex.req.ContentLength != 0 {
		ex.keepAlive = false
		ex.linger = true
	}
	w.writeError(c, status)
}

// refuse answers a request that could not be parsed (or timed out) and
// closes the connection after lingering: its framing is unknown, so nothing
// after it can be trusted.
func (w *worker) refuse(c *conn, status int) {
	if c.ex == nil {
		w.startExchange(c)
	}
	w.loop.Disarm(&c.timer)
	c.ex.keepAlive = false
	c.ex.linger = true
	if px := c.ex.px; px != nil {
		// Refusals come while the head or body is read: the application
		// has seen nothing, so there is no response to relay, only the
		// refusal to flush before lingering.
		px.upDone = true
	}
	c.state = stateWrite
	w.writeError(c, status)
}

// finishExchange runs when a response is completely sent: it logs it and
// moves the connection on to the next request, idleness or closing.
func (w *worker) finishExchange(c *conn) {
	ex := c.ex
	w.loop.Disarm(&c.timer)
	w.logAccess(c, ex)
	w.stats.requests.Add(1)
	if ex.linger {
		w.startLinger(c)
		return
	}
	if !ex.keepAlive || w.draining {
		w.closeConn(c)
		return
	}
	if ex.req.ContentLength != 0 && ex.px == nil {
		// A handler answered without reading the body and forgot to say
		// so: never read that body as the client's next request.
		w.log.Error("request body left unread on a kept-alive connection", "path", string(ex.req.Path))
		w.startLinger(c)
		return
	}
	consumed := ex.req.HeadLen
	rest := copy(c.rbuf, c.rbuf[consumed:])
	c.rbuf = c.rbuf[:rest]
	c.wbuf = c.wbuf[:0]
	c.wOff = 0
	w.releaseExchange(c)
	if rest == 0 && !c.readable {
		w.goIdle(c)
		return
	}
	c.state = stateHead
}

// goIdle parks a keep-alive connection: buffers back to the pools, only the
// keep-alive timer left.
func (w *worker) goIdle(c *conn) {
	if c.peerClosed {
		w.closeConn(c)
		return
	}
	if c.ex != nil {
		w.releaseExchange(c)
	}
	w.releaseBuffers(c)
	if c.ts != nil {
		c.ts.Idle()
	}
	c.state = stateIdle
	w.loop.Arm(&c.timer, timerKeepAlive)
}

func (w *worker) getExchange() *exchange {
	if n := len(w.exFree); n > 0 {
		ex := w.exFree[n-1]
		w.exFree = w.exFree[:n-1]
		return ex
	}
	return &exchange{}
}

// releaseExchange returns c's exchange to the free list, dropping its file
// reference.
func (w *worker) releaseExchange(c *conn) {
	ex := c.ex
	if ex.file != nil {
		w.files.Release(ex.file)
	}
	if ex.px != nil {
		w.releaseProxy(ex.px)
	}
	headers := ex.req.Headers[:0]
	*ex = exchange{} // px is back in its free list
	ex.req.Headers = headers
	ex.scan.Reset()
	c.ex = nil
	w.exFree = append(w.exFree, ex)
}

// clientAddr is the address rate limits count against: the peer, or the
// real client a trusted proxy names in X-Forwarded-For (so limits work
// behind a CDN).
func (w *worker) clientAddr(c *conn) netip.Addr {
	peer := c.remote.Addr()
	if !w.trusted.contains(peer) {
		return peer
	}
	if a, ok := w.trusted.clientIn(c.ex.req.Header(http1.HeaderXForwardedFor)); ok {
		return a
	}
	return peer
}
