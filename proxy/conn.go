package proxy

import (
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"

	"frontdoor/proxy/http2"
	"frontdoor/proxy/loop"
	"frontdoor/proxy/static"
	"frontdoor/proxy/tlsterm"
)

// A client connection: its bytes in and out, plain or through its TLS
// layer (tls.go, proxy/tlsterm), its timers, how it closes. What the bytes
// mean is the protocol codec's business (http1conn.go).

// connState is where a client connection is in its life.
type connState uint8

const (
	// stateIdle: a keep-alive connection between requests. It holds no
	// buffers and no exchange: only the conn struct itself.
	stateIdle connState = iota
	// stateHandshake: a TLS handshake is running in a goroutine; the
	// worker moves bytes between the socket and its transport.
	stateHandshake
	// stateActive: the codec is reading a request or answering it (the
	// exchange's phase says which).
	stateActive
	// stateLinger: the response to a refused request is out; input is
	// read and dropped until the client closes or the linger timer fires,
	// so that closing does not reset the connection before the client has
	// read the answer.
	stateLinger
	// stateTunnel: an upgraded connection (WebSocket) relayed both ways.
	stateTunnel
	// stateHTTP2: the connection speaks HTTP/2 (http2conn.go): its codec
	// says whether it is idle or serving streams.
	stateHTTP2
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
	// ex is the exchange in progress (HTTP/1.1 has one at a time).
	ex *exchange
	// h2 is the HTTP/2 state of a connection in stateHTTP2.
	h2 *h2conn
	// sniff: an h2c listener's connection whose first bytes have not yet
	// told HTTP/2's preface from an HTTP/1.1 request; sniffedH1: they were
	// not the preface, and no request has been read yet.
	sniff, sniffedH1 bool
}

// isTLS reports a connection accepted on a TLS listener.
func (c *conn) isTLS() bool { return c.ts != nil }

// OnEvent is the loop's entry for the connection's events.
func (c *conn) OnEvent(events uint32) {
	if events&unix.EPOLLERR != 0 {
		c.close()
		return
	}
	if c.ts != nil && events&unix.EPOLLOUT != 0 && c.ts.Pending() > 0 {
		if errno := c.ts.Flush(); errno != 0 && errno != syscall.EAGAIN {
			c.close()
			return
		}
	}
	if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP) != 0 {
		c.readable = true
		if events&(unix.EPOLLRDHUP|unix.EPOLLHUP) != 0 {
			c.peerClosed = true
		}
	}
	c.drive()
}

// drive advances a connection as far as it can go without waiting.
func (c *conn) drive() {
	for {
		switch c.state {
		case stateHandshake:
			c.readHandshake()
			return
		case stateIdle, stateActive:
			if c.sniff && !c.sniffPreface() {
				return
			}
			if c.state == stateHTTP2 {
				continue
			}
			if !c.serveHTTP1() {
				return
			}
		case stateHTTP2:
			c.serveHTTP2()
			return
		case stateTunnel:
			c.ex.pumpTunnel()
			return
		case stateLinger:
			c.drainLinger()
			return
		default:
			return
		}
	}
}

// OnTimeout is the loop's entry for the connection's timer.
func (c *conn) OnTimeout(kind loop.TimerKind) {
	if c.h2 != nil && (kind == timerHead || kind == timerKeepAlive) {
		c.h2.timeout() // GOAWAY, then close
		return
	}
	switch kind {
	case timerHead:
		if len(c.rbuf) > 0 && c.ex != nil && c.ex.phase == phaseHead {
			c.refuse(408) // a head that did not arrive in time
			c.drive()     // send it now: the client may never send again
			return
		}
		c.close()
	case timerTunnel:
		c.ex.endTunnel()
	case timerHandshake:
		c.close() // a TLS client too slow to finish its handshake
	case timerSendIdle:
		// Reset, as nginx's reset_timedout_connection: after a plain
		// close the kernel keeps the unsent bytes as an orphaned socket
		// (FIN-WAIT-1) and goes on trickling them to the slow reader,
		// so the connection the deadline ends lives on with its buffer.
		unix.SetsockoptLinger(c.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		c.close()
	default:
		// Keep-alive idle, linger: nothing to say any more.
		c.close()
	}
}

// read reads plaintext from the connection into buf, with the semantics
// of read(2) on a non-blocking socket: EAGAIN when nothing is there yet, 0
// bytes at the end.
func (c *conn) read(buf []byte) (int, syscall.Errno) {
	if c.ts == nil {
		return loop.Read(c.fd, buf)
	}
	return c.ts.Read(buf)
}

// write writes plaintext to the connection, with the semantics of send(2)
// on a non-blocking socket (over TLS: encrypted at once, EAGAIN once too
// much ciphertext waits); more says that a body follows (MSG_MORE).
func (c *conn) write(p []byte, more bool) (int, syscall.Errno) {
	if c.ts == nil {
		return loop.Send(c.fd, p, more)
	}
	return c.ts.Write(p)
}

// Send writes p to the client like send(2) (a Sink for a spool).
func (c *conn) Send(p []byte) (int, syscall.Errno) { return c.write(p, false) }

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

// fill reads whatever the socket has into c.rbuf, up to its capacity. It
// returns false when the connection was closed (EOF before a request, or an
// error).
func (c *conn) fill() bool {
	if c.rbuf == nil {
		c.rbuf = c.w.rpool.Get()
	}
	for c.readable && len(c.rbuf) < cap(c.rbuf) {
		space := cap(c.rbuf) - len(c.rbuf)
		n, errno := c.read(c.rbuf[len(c.rbuf):cap(c.rbuf)])
		switch {
		case errno == syscall.EAGAIN:
			c.readable = false
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			c.close()
			return false
		case n == 0:
			// The client closed its side. A request still in the buffer
			// is served; a partial one is dropped with the connection.
			// An HTTP/2 connection may have streams in flight, read
			// earlier: settle answers them, then closes (peerGone).
			c.readable = false
			c.peerClosed = true
			if len(c.rbuf) == 0 && c.state != stateHTTP2 {
				c.close()
				return false
			}
		default:
			c.rbuf = c.rbuf[:len(c.rbuf)+n]
			// A short read drained the socket: with edge triggering the
			// next arrival raises a new event, so no read is wasted on
			// EAGAIN (unless the peer half-closed: then read to EOF).
			if n < space && !c.peerClosed && c.ts == nil {
				c.readable = false
			}
		}
	}
	return true
}

// flush writes pending output: first wbuf, then the exchange's file range
// or response spool. It returns true when everything is sent, false when
// the socket is full (the send timer is armed and EPOLLOUT will resume) or
// the connection was closed.
func (c *conn) flush() bool {
	ex := c.ex
	if !c.flushCiphertext() {
		return false
	}
	for c.wOff < len(c.wbuf) {
		more := ex != nil && ex.file != nil && ex.fileOff < ex.fileEnd
		n, errno := c.write(c.wbuf[c.wOff:], more)
		switch errno {
		case 0:
			c.wOff += n
		case syscall.EAGAIN:
			c.w.loop.Arm(&c.timer, timerSendIdle)
			return false
		case syscall.EINTR:
		default:
			c.close()
			return false
		}
	}
	if ex != nil && ex.file != nil && ex.fileOff < ex.fileEnd {
		if !c.sendFileRange(ex) {
			return false
		}
	}
	if ex != nil && ex.px != nil && ex.px.out.Pending() > 0 {
		switch errno := ex.px.out.SendTo(c); errno {
		case 0:
		case syscall.EAGAIN:
			c.w.loop.Arm(&c.timer, timerSendIdle)
			return false
		default:
			ex.px.releaseUp(false)
			c.close()
			return false
		}
	}
	if !c.flushCiphertext() { // encrypted, not yet taken by the socket
		return false
	}
	if c.timer.Kind() == timerSendIdle {
		c.w.loop.Disarm(&c.timer) // everything out: nothing to time
	}
	return true
}

// flushCiphertext sends a TLS connection's pending ciphertext. It returns
// false when the socket is full (the send timer is armed) or the
// connection was closed.
func (c *conn) flushCiphertext() bool {
	if c.ts == nil || c.ts.Pending() == 0 {
		return true
	}
	switch errno := c.ts.Flush(); errno {
	case 0:
		return true
	case syscall.EAGAIN:
		c.w.loop.Arm(&c.timer, timerSendIdle)
	default:
		c.close()
	}
	return false
}

// sendfileChunk caps one sendfile call so that one large download cannot
// monopolise the loop.
const sendfileChunk = 4 << 20

// sendFileRange sends [fileOff, fileEnd) of ex.file with sendfile, or with
// pread+send where sendfile is not available for the file.
func (c *conn) sendFileRange(ex *exchange) bool {
	f := ex.file
	for ex.fileOff < ex.fileEnd {
		n := int(min(ex.fileEnd-ex.fileOff, sendfileChunk))
		var sent int
		var errno syscall.Errno
		if f.NoSendfile || c.ts != nil {
			// Over TLS the bytes must pass through the cipher (no kTLS).
			sent, errno = c.preadSend(f, ex.fileOff, n)
		} else {
			off := ex.fileOff
			sent, errno = loop.Sendfile(c.fd, f.Fd, &off, n)
			if errno == syscall.EINVAL || errno == syscall.ENOSYS {
				f.NoSendfile = true
				continue
			}
		}
		switch {
		case errno == syscall.EAGAIN:
			c.w.loop.Arm(&c.timer, timerSendIdle)
			return false
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			c.close()
			return false
		case sent == 0:
			// The file shrank under us: the head promised more bytes than
			// exist, so the only honest end is closing the connection.
			c.w.log.Warn("file shorter than announced; closing connection", "file", f.Name)
			c.close()
			return false
		}
		ex.fileOff += int64(sent)
		ex.sent += int64(sent)
		if ex.fileOff < ex.fileEnd {
			c.w.loop.Arm(&c.timer, timerSendIdle) // progress: restart the idle timer
		}
	}
	return true
}

// preadSend copies up to n bytes at off through the write buffer.
func (c *conn) preadSend(f *static.File, off int64, n int) (int, syscall.Errno) {
	buf := c.wbuf[:cap(c.wbuf)]
	if n > len(buf) {
		n = len(buf)
	}
	r, errno := loop.Pread(f.Fd, buf[:n], off)
	if errno != 0 || r == 0 {
		return 0, errno
	}
	s, errno := c.write(buf[:r], false)
	if errno != 0 {
		return 0, errno
	}
	return s, 0 // bytes not accepted are read again at the next call
}

// close closes the connection at once and frees everything it holds.
func (c *conn) close() {
	if c.state == stateClosed {
		return
	}
	w := c.w
	w.loop.Disarm(&c.timer)
	if ex := c.ex; ex != nil {
		if ex.req != nil && !ex.logged {
			w.logCutShort(ex)
		}
		c.ex = nil
		ex.release()
	}
	c.state = stateClosed // before the streams go: nothing writes any more
	c.releaseHTTP2()
	c.releaseBuffers()
	if c.ts != nil {
		c.ts.Shut() // ends a handshake goroutine's wait
	}
	w.loop.Unregister(c.fd, c)
	loop.Close(c.fd)
	c.state = stateClosed
	if c.counted {
		w.e.limiter.releaseConn(c.remote.Addr())
	}
	w.nconns--
	w.stats.active.Add(-1)
	if !w.acceptTimer.Armed() && !w.draining && w.nconns < w.cfg.MaxConnsPerWorker {
		w.resumeAccept()
	}
}

// fail answers 500 if nothing was sent yet, then closes (after a panic).
// The exchange is not logged: after a panic its state is not to be
// trusted.
func (c *conn) fail() {
	if ex := c.ex; ex != nil {
		if c.wOff == 0 && ex.status == 0 {
			c.wbuf = c.wbuf[:0]
			ex.writeError(500)
			c.write(c.wbuf, false) // over TLS, through the cipher
		}
		ex.logged = true
	}
	c.close()
}

func (c *conn) releaseBuffers() {
	c.w.rpool.Put(c.rbuf)
	c.w.wpool.Put(c.wbuf)
	c.rbuf, c.wbuf, c.wOff = nil, nil, 0
}

// startLinger half-closes the connection after a refused request and drains
// what the client still sends, so that our answer is read before the
// connection goes away (closing with unread input makes the kernel send a
// reset, which can destroy the answer in flight).
func (c *conn) startLinger() {
	unix.Shutdown(c.fd, unix.SHUT_WR)
	c.state = stateLinger
	if ex := c.ex; ex != nil {
		c.ex = nil
		ex.release()
	}
	c.w.wpool.Put(c.wbuf)
	c.wbuf, c.wOff = nil, 0
	c.w.loop.Arm(&c.timer, timerLinger)
	c.drainLinger()
}

func (c *conn) drainLinger() {
	if c.rbuf == nil {
		c.rbuf = c.w.rpool.Get()
	}
	for {
		n, errno := loop.Read(c.fd, c.rbuf[:cap(c.rbuf)])
		switch {
		case errno == syscall.EAGAIN:
			return
		case errno == syscall.EINTR:
		case errno != 0 || n == 0:
			c.close()
			return
		}
	}
}

// sniffPreface tells, on an h2c listener, an HTTP/2 client's preface
// from an HTTP/1.1 request by the first bytes, and switches the
// connection to HTTP/2 on the preface. It returns false while it must wait
// for more bytes (or the connection was closed).
func (c *conn) sniffPreface() bool {
	if c.readable && !c.fill() {
		return false
	}
	isH2, sure := http2.SniffPreface(c.rbuf)
	if !sure {
		if c.peerClosed {
			c.close()
		}
		return false
	}
	c.sniff = false
	if isH2 {
		c.startHTTP2()
	} else {
		c.sniffedH1 = true
	}
	return true
}

// goIdle parks a keep-alive connection: buffers back to the pools, only the
// keep-alive timer left.
func (c *conn) goIdle() {
	if c.peerClosed {
		c.close()
		return
	}
	if ex := c.ex; ex != nil {
		c.ex = nil
		ex.release()
	}
	c.releaseBuffers()
	if c.ts != nil {
		c.ts.Idle()
	}
	c.state = stateIdle
	c.w.loop.Arm(&c.timer, timerKeepAlive)
}
