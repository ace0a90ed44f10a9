package proxy

import (
	"frontdoor/proxy/http1"
	"frontdoor/proxy/loop"
	"frontdoor/proxy/static"
)

// An exchange is one request and its response: a static file
// (exchange_static.go), a proxied request (exchange_proxy.go, relay.go) or
// an upgraded tunnel (exchange_tunnel.go), routed by route.go. It does not
// know the protocol the request came in on: it reads the request's body
// and writes its response through a stream, which a protocol codec
// provides — the HTTP/1.1 connection (http1conn.go) or an HTTP/2 stream
// (http2stream.go) — so both go through the same routing, static and proxy
// code.
//
// Exchanges come from a per-worker free list and live only while their
// request is in progress.

// stream is what an exchange needs of the protocol its request came in
// on. The exchange calls it on the loop's goroutine; nothing blocks.
type stream interface {
	// chunked reports whether a response body of unknown length may go
	// out chunk-framed as the application sent it (HTTP/1.1). Otherwise
	// the exchange decodes it and the protocol delimits it (HTTP/1.0 by
	// closing the connection, HTTP/2 by the end of the stream).
	chunked() bool
	// readBody starts the delivery of the request body, which the
	// exchange wants (exchange.startBody): the stream passes it on with
	// receiveBody as it arrives, then calls bodyReceived (exchange_proxy.go).
	readBody()
	// head begins a response head: the status (reason is the
	// application's phrase, used when frontdoor has none for the status),
	// Server, Date and what the protocol adds (HTTP/1.x: Connection). The
	// exchange appends its fields, each a line ending in CRLF, and passes
	// the buffer to send.
	head(status int, reason []byte) []byte
	// send queues a head begun with head, and body bytes after it (all
	// of a small body, or none). The exchange's file range (file,
	// fileOff, fileEnd) or response spool (px.out) follows it.
	send(head, body []byte)
	// fits reports whether n body bytes fit beside head in the stream's
	// buffer, so that they leave with it in one write.
	fits(head []byte, n int) bool
	// flush writes what is queued (HTTP/2: frames it into the
	// connection's output, END_STREAM on the last piece once the
	// exchange will queue nothing more). It returns true once everything
	// is out, false when the client must read first or grant window (the
	// stream resumes when it has) or the stream ended.
	flush() bool
	// resume drives the stream after the exchange made progress outside
	// its events (the upstream connection, a timer).
	resume()
	// tunnel answers the application's 101 Switching Protocols (a
	// WebSocket) and relays bytes both ways from then on; rest is what
	// the application sent after its head. HTTP/1.1 takes the connection
	// over (exchange_tunnel.go); HTTP/2 answers 200 to the extended
	// CONNECT and carries the bytes in DATA frames (http2tunnel.go).
	tunnel(rest []byte)
	// cut ends a response whose body is incomplete (the application went
	// away in the middle): the client must be able to tell, so HTTP/1.x
	// closes the connection and HTTP/2 resets the stream.
	cut()
	// closed reports that the stream ended (the client went away) and
	// the exchange with it: nothing more may be done with the exchange.
	closed() bool
}

// phase is where an exchange is.
type phase uint8

const (
	// phaseHead: the request head is arriving (an HTTP/1.1 exchange
	// begins with the first byte of its request).
	phaseHead phase = iota
	// phaseBody: the request body is buffered before the application
	// sees any of it (exchange_proxy.go).
	phaseBody
	// phaseUpstream: connecting to the application, sending it the
	// request, waiting for its response head (px.phase says which).
	phaseUpstream
	// phaseRespond: the response is queued and being written; a proxied
	// one is relayed from the application as it comes (relay.go).
	phaseRespond
	// phaseTunnel: upgraded (WebSocket): bytes are relayed both ways
	// (exchange_tunnel.go).
	phaseTunnel
)

// exchange is the state of one request and its response.
type exchange struct {
	w *worker
	c *conn  // the client connection
	s stream // the protocol the request came in on
	// id tells this use of the pooled exchange from earlier ones.
	id    uint32
	phase phase
	// req is the request head, nil until it is parsed.
	req *http1.Request
	// timer guards a proxied exchange's own waits (exchange_proxy.go): the
	// request body's idle time and minimum rate, a retried connect, a hold
	// for a booting application.
	timer loop.Timer
	// start is the loop clock when the request's first byte arrived.
	start  int64
	status int
	// sent counts response body bytes queued with the head or from a
	// file (a proxied response's spool counts its own), for the access
	// log.
	sent int64
	// site is the virtual host the request was routed to (nil before).
	site *site
	// file and [fileOff, fileEnd) are the part of a file still to send.
	file             *static.File
	fileOff, fileEnd int64
	// px is the proxy state of a proxied request.
	px *proxyExchange

	// logged: the access log has the exchange's line (or must not get
	// one); an exchange ended before that is logged as cut short.
	logged bool
	// bodyUnread: the request has a body that will not be read (the
	// answer came first, or the body was refused), so nothing after it on
	// the connection can be trusted: HTTP/1.1 closes after the response,
	// lingering. (HTTP/2 frames stay trustworthy: the codec resets the
	// stream with NO_ERROR after the response instead.)
	bodyUnread bool
	// closeAfter: the response ends with its connection (HTTP/1.x) — its
	// body is delimited by closing, it was cut short (the application
	// went away), or it is a tunnel. HTTP/2 ignores it: the end of the
	// stream delimits the body.
	closeAfter bool
	// connectUpgrade: an HTTP/2 extended CONNECT for a WebSocket (RFC
	// 8441), sent to the application as the HTTP/1.1 Upgrade it expects
	// (exchange_proxy.go, forward.go).
	connectUpgrade bool

	// h1 is what the HTTP/1.1 codec keeps for its request (http1conn.go); an
	// HTTP/2 stream brings its own.
	h1 h1Request
}

// getExchange takes an exchange from the worker's free list for a request
// on s.
func (w *worker) getExchange(c *conn, s stream) *exchange {
	var ex *exchange
	if n := len(w.exFree); n > 0 {
		ex = w.exFree[n-1]
		w.exFree = w.exFree[:n-1]
	} else {
		ex = &exchange{w: w}
		ex.timer.Owner = ex
	}
	w.exchanges++
	ex.id = w.exchanges
	ex.c, ex.s = c, s
	ex.start = w.loop.Now()
	return ex
}

// release returns the exchange to the free list, dropping what it holds:
// its timer, its file reference, its proxy state.
func (ex *exchange) release() {
	w := ex.w
	w.loop.Disarm(&ex.timer)
	if ex.file != nil {
		w.files.Release(ex.file)
	}
	if ex.px != nil {
		ex.px.release()
	}
	h1 := ex.h1.reset()
	*ex = exchange{w: w, h1: h1} // px is back in its free list
	ex.timer.Owner = ex
	w.exFree = append(w.exFree, ex)
}

// head begins a response head for status, with the site's HSTS over TLS.
func (ex *exchange) head(status int) []byte {
	return ex.headReason(status, nil)
}

// headReason is head with the application's reason phrase for a status
// frontdoor has none for.
func (ex *exchange) headReason(status int, reason []byte) []byte {
	ex.status = status
	b := ex.s.head(status, reason)
	if ex.site != nil && ex.site.hsts != nil && ex.c.isTLS() {
		b = append(b, ex.site.hsts...)
	}
	return b
}

// send queues the head b with body bytes after it, counted as sent.
func (ex *exchange) send(b, body []byte) {
	ex.sent += int64(len(body))
	ex.s.send(b, body)
}

// skipBody records that the request's body, if it has one, will not be
// read: the answer comes without it.
func (ex *exchange) skipBody() {
	if ex.req.ContentLength != 0 {
		ex.bodyUnread = true
	}
}

// refuse answers a request whose body cannot be taken (or whose head
// could not be read): the connection closes after the answer, lingering,
// since its framing can no longer be trusted.
func (ex *exchange) refuse(status int) {
	ex.w.loop.Disarm(&ex.timer)
	ex.bodyUnread = true
	if px := ex.px; px != nil {
		// Refusals come while the head or body is read: the application
		// has seen nothing, so there is no response to relay, only the
		// refusal to flush before lingering.
		px.phase = upComplete
	}
	ex.phase = phaseRespond
	ex.writeError(status)
}

// writeResponse is the respond phase's step: relay a proxied response
// from the application, or flush what is queued. It returns true once the
// response is completely sent.
func (ex *exchange) writeResponse() bool {
	if px := ex.px; px != nil && !px.bodyRead() {
		return ex.relay()
	}
	return ex.s.flush()
}
