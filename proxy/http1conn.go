package proxy

import (
	"errors"
	"strconv"

	"frontdoor/proxy/http1"
)

// The HTTP/1.1 codec: a client connection's bytes read as requests, one
// at a time (pipelined ones wait in the read buffer), with the strict
// sans-I/O parser of proxy/http1; each request becomes an exchange
// (exchange.go), whose stream is the connection itself: its body is
// decoded here (Content-Length or chunked), its response framed here
// (status line, Connection), and when it is answered the connection moves
// on to the next request, idleness, lingering or closing.

// h1Request is what the codec keeps for the request of an exchange; it is
// pooled with the exchange.
type h1Request struct {
	req  http1.Request
	scan http1.HeadScanner
	// keepAlive: the request allows another after it (and the worker is
	// not draining).
	keepAlive bool
	// bodyLeft is the Content-Length still to read from the client, or -1
	// for a chunked body.
	bodyLeft int64
	chunked  http1.ChunkedDecoder
}

// reset returns a fresh h1Request that keeps the header storage.
func (h *h1Request) reset() h1Request {
	var n h1Request
	n.req.Headers = h.req.Headers[:0]
	return n
}

// serveHTTP1 is drive's step for a connection speaking HTTP/1.1: read a
// request, then move its exchange on (body, application, response). It
// returns true when the exchange changed phase or ended, so that drive
// goes on, and false when it must wait for an event.
func (c *conn) serveHTTP1() bool {
	ex := c.ex
	if ex == nil || ex.phase == phaseHead {
		if !c.readable && len(c.rbuf) == 0 {
			return false
		}
		return c.readRequest()
	}
	p := ex.phase
	switch p {
	case phaseBody:
		c.readBodyStep()
	case phaseUpstream:
		ex.exchangeUpstream()
	case phaseRespond:
		if !ex.writeResponse() {
			return false
		}
		c.finishExchange()
		return true
	}
	return c.ex != ex || ex.phase != p
}

// readRequest reads input and, once a request head is complete, routes
// it. It returns true when the exchange moved on (a response to write),
// false when it must wait for input or the connection was closed.
func (c *conn) readRequest() bool {
	if c.readable && !c.fill() {
		return false
	}
	if len(c.rbuf) == 0 {
		c.goIdle()
		return false
	}
	if c.ex == nil {
		c.startExchange()
	}
	ex := c.ex
	h := &ex.h1
	lim := &c.w.headLimits
	n, err := h.scan.Scan(c.rbuf, lim)
	if err == nil && n == 0 {
		if c.peerClosed {
			c.close() // half a request, and the client is gone
		}
		return false
	}
	if err == nil {
		err = h.req.Parse(c.rbuf[:n], lim)
	}
	if err != nil {
		var pe *http1.Error
		if !errors.As(err, &pe) {
			pe = &http1.Error{Status: 400}
		}
		if c.sniffedH1 && (pe.Status == 400 || pe.Status == 505) {
			// On an h2c listener, a first request that is not HTTP/1.x
			// is no HTTP at all, or an HTTP/2 client's broken preface:
			// either way the connection ends without an answer it could
			// not read (RFC 9113 §3.4).
			c.close()
			return false
		}
		c.refuse(pe.Status)
		return true
	}
	c.sniffedH1 = false
	c.w.loop.Disarm(&c.timer)
	ex.req = &h.req
	h.keepAlive = h.req.KeepAlive && !c.w.draining
	ex.route()
	return true
}

// startExchange begins a request on c: the first byte has arrived.
func (c *conn) startExchange() {
	c.ex = c.w.getExchange(c, c)
	c.state = stateActive
	c.w.loop.Arm(&c.timer, timerHead)
	if c.wbuf == nil {
		c.wbuf = c.w.wpool.Get()
	}
}

// refuse answers a request whose head could not be read (malformed, or
// not in time): its framing is unknown, so the connection closes after
// the answer, lingering. The exchange exists: it began with the request's
// first byte (startExchange).
func (c *conn) refuse(status int) {
	c.w.loop.Disarm(&c.timer)
	c.ex.refuse(status)
}

// readBody starts reading the request body for the exchange (stream):
// what came with the head first. A client that sent "Expect:
// 100-continue" waits for our go-ahead before it sends the body.
func (c *conn) readBody() {
	h := &c.ex.h1
	h.bodyLeft = h.req.ContentLength
	h.chunked.Reset()
	if h.req.Expect100 && len(c.rbuf) == h.req.HeadLen {
		// Through the connection's own layer: over TLS, encrypted.
		c.write([]byte("HTTP/1.1 100 Continue\r\n\r\n"), false)
	}
	c.consumeBody()
}

// readBodyStep is the body phase's step: read what the socket has and
// pass it on.
func (c *conn) readBodyStep() {
	ex := c.ex
	for c.ex == ex && ex.phase == phaseBody {
		if !c.readable {
			if c.peerClosed {
				c.close() // the client gave up half way
			}
			return
		}
		if !c.fill() {
			return
		}
		c.consumeBody()
	}
}

// consumeBody decodes the body bytes in the read buffer (after the head)
// and passes them to the exchange, which gets the request to the
// application once the body is complete.
func (c *conn) consumeBody() {
	ex := c.ex
	h := &ex.h1
	head := h.req.HeadLen
	data := c.rbuf[head:]
	if len(data) == 0 {
		return
	}
	used := 0
	var err error
	if h.bodyLeft >= 0 {
		n := int(min(int64(len(data)), h.bodyLeft))
		err = ex.receiveBody(data[:n])
		h.bodyLeft -= int64(n)
		used = n
	} else {
		for used < len(data) && !h.chunked.Done() {
			n, chunk, derr := h.chunked.Decode(data[used:])
			used += n
			if derr != nil {
				ex.refuseBody(derr)
				return
			}
			if len(chunk) > 0 {
				if err = ex.receiveBody(chunk); err != nil {
					break
				}
			}
			if n == 0 {
				break
			}
		}
	}
	if err != nil {
		ex.refuseBody(err)
		return
	}
	rest := copy(c.rbuf[head:], data[used:])
	c.rbuf = c.rbuf[:head+rest]
	if h.bodyLeft == 0 || h.chunked.Done() {
		ex.bodyReceived()
		return
	}
	ex.bodyArriving()
}

// chunked: an HTTP/1.1 client takes a chunk-framed body as it is; an
// HTTP/1.0 one gets the body delimited by closing (stream).
func (c *conn) chunked() bool { return c.ex.h1.req.Minor == 1 }

// keepsAlive reports whether the connection carries another request after
// the exchange's response.
func (c *conn) keepsAlive(ex *exchange) bool {
	return ex.h1.keepAlive && !ex.bodyUnread && !ex.closeAfter
}

// head begins a response head in the write buffer: status line, Server,
// Date and the Connection field the exchange calls for (stream).
func (c *conn) head(status int, reason []byte) []byte {
	b := c.statusLine(c.wbuf[:0], status, reason)
	b = append(b, "Server: frontdoor\r\nDate: "...)
	b = append(b, c.w.httpDate()...)
	b = append(b, "\r\n"...)
	ex := c.ex
	switch {
	case !c.keepsAlive(ex):
		b = append(b, "Connection: close\r\n"...)
	case ex.h1.req.Minor == 0:
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	return b
}

// statusLine appends the status line for status: frontdoor's reason
// phrase, else the given one (an application's), else "Status".
func (c *conn) statusLine(b []byte, status int, reason []byte) []byte {
	if line, ok := c.w.e.texts.statusLine[status]; ok {
		return append(b, line...)
	}
	if reason == nil {
		reason = []byte("Status")
	}
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, reason...)
	return append(b, "\r\n"...)
}

// send queues the head and the body bytes that go with it (stream).
func (c *conn) send(head, body []byte) {
	b := append(head, "\r\n"...)
	c.wbuf = append(b, body...)
	c.wOff = 0
}

// fits reports whether n body bytes fit after head in the write buffer
// (stream).
func (c *conn) fits(head []byte, n int) bool { return len(head)+len("\r\n")+n <= cap(head) }

// resume drives the connection after its exchange moved on (stream).
func (c *conn) resume() { c.drive() }

// cut closes the connection: the response was cut short (stream).
func (c *conn) cut() { c.close() }

// closed reports a closed connection (stream).
func (c *conn) closed() bool { return c.state == stateClosed }

// finishExchange runs when a response is completely sent: it logs it and
// moves the connection on to the next request, idleness or closing.
func (c *conn) finishExchange() {
	w, ex := c.w, c.ex
	w.loop.Disarm(&c.timer)
	w.logAccess(ex)
	w.stats.requests.Add(1)
	if ex.bodyUnread {
		c.startLinger()
		return
	}
	if !c.keepsAlive(ex) || w.draining {
		c.close()
		return
	}
	if ex.req.ContentLength != 0 && ex.px == nil {
		// A handler answered without reading the body and forgot to say
		// so: never read that body as the client's next request.
		w.log.Error("request body left unread on a kept-alive connection", "path", string(ex.req.Path))
		c.startLinger()
		return
	}
	consumed := ex.req.HeadLen
	rest := copy(c.rbuf, c.rbuf[consumed:])
	c.rbuf = c.rbuf[:rest]
	c.wbuf = c.wbuf[:0]
	c.wOff = 0
	c.ex = nil
	ex.release()
	if rest == 0 && !c.readable {
		c.goIdle()
		return
	}
	c.state = stateActive
}
