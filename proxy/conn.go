package proxy

import (
	"frontdoor/proxy/loop"
	"frontdoor/proxy/static"
	"frontdoor/proxy/tlsterm"
	"net/netip"
	"syscall"

	"frontdoor/proxy/http1"
)

// connState is where a client connection is in its life.
type connState uint8

const (
	// stateIdle: a keep-alive connection between requests. It holds no
	// buffers and no exchange: only the conn struct itself.
	stateIdle connState = iota
	// stateHandshake: a TLS handshake is running in a goroutine; the
	// worker moves bytes between the socket and its transport.
	stateHandshake
	// stateHead: reading a request head.
	stateHead
	// stateBody: buffering a request body before the application sees it.
	stateBody
	// stateUpstream: connecting to the application, sending it the
	// request, waiting for its response head.
	stateUpstream
	// stateWrite: writing a response (head, then memory or sendfile body).
	stateWrite
	// stateLinger: the response to a refused request is out; input is
	// read and dropped until the client closes or the linger timer fires,
	// so that closing does not reset the connection before the client has
	// read the answer.
	stateLinger
	// stateTunnel: an upgraded connection (WebSocket) relayed both ways.
	stateTunnel
	// stateClosed: the descriptor is closed; stale events are ignored.
	stateClosed
)

// conn is one client connection. It is owned by one worker for its whole
// life and touched by no other goroutine.
type conn struct {
	timer loop.Timer
	w     *worker
	fd    int
	gen   uint32
	state connState
	// readable is set by an input event and cleared when a read finds
	// the socket drained. Edge-triggered epoll reports new input once, so
	// input left unread (pipelined requests while a response is being
	// written) is remembered here.
	readable bool
	// peerClosed is set on EPOLLRDHUP: the client will send nothing more.
	peerClosed bool
	// counted is set when the connection is counted against its peer's
	// MaxConnsPerIP.
	counted bool
	ts      *tlsterm.Conn // its TLS layer, on a TLS listener
	remote  netip.AddrPort
	rbuf    []byte // pending input; nil while idle
	wbuf    []byte // pending output; nil while idle
	wOff    int    // bytes of wbuf already sent
	ex      *exchange
}

// exchange is the state of one request/response on a connection. It lives
// only while a request is in progress and comes from a per-worker free list.
type exchange struct {
	req  http1.Request
	scan http1.HeadScanner
	// start is the worker clock when the request's first byte arrived.
	start  int64
	parsed bool
	status int
	// sent counts response body bytes written, for the access log.
	sent int64
	// bodyLen is the response body length announced in the head.
	bodyLen int64
	// logged: the access log has the exchange's line (or must not get
	// one); an exchange closed before that is logged as cut short.
	logged    bool
	keepAlive bool
	// linger: close after the response, draining input first.
	linger bool
	// file and [fileOff, fileEnd) are the part of a file still to send.
	file             *static.File
	fileOff, fileEnd int64
	// px is the proxy state of a proxied request.
	px *proxyExchange
	// site is the virtual host the request was routed to (nil before).
	site *site
	tls  bool // the request came over TLS
}

// isTLS reports a connection accepted on a TLS listener.
func (c *conn) isTLS() bool { return c.ts != nil }

// OnEvent is the loop's entry for the connection's events.
func (c *conn) OnEvent(events uint32) { c.w.onConnEvent(c, events) }

// OnTimeout is the loop's entry for the connection's timer.
func (c *conn) OnTimeout(kind loop.TimerKind) { c.w.onConnTimeout(c, kind) }

// UpstreamReady: the upstream connection of the exchange can make
// progress.
func (c *conn) UpstreamReady() { c.w.drive(c) }

// UpstreamFailed: the upstream connection of the exchange failed (or its
// timer expired).
func (c *conn) UpstreamFailed(err error) {
	c.w.upstreamFailed(c, err)
	c.w.drive(c)
}

// Send writes p to the client like send(2) (a Sink for a spool).
func (c *conn) Send(p []byte) (int, syscall.Errno) { return c.w.connSend(c, p, false) }

// SendFile writes up to n bytes of the file fd from off to the client (a
// Sink for a spool): with sendfile on a plain socket, through the TLS
// layer otherwise (read with pread, since sendfile cannot encrypt).
func (c *conn) SendFile(fd int, off int64, n int) (int, syscall.Errno) {
	if c.ts == nil {
		return loop.Sendfile(c.fd, fd, &off, n)
	}
	buf := c.w.tlsScratch[:min(len(c.w.tlsScratch), n)]
	r, errno := loop.Pread(fd, buf, off)
	if errno != 0 || r == 0 {
		return 0, syscall.EIO
	}
	return c.ts.Write(buf[:r])
}
