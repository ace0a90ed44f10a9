package proxy

import (
	"frontdoor/proxy/loop"
	"frontdoor/proxy/static"
	"syscall"

	"golang.org/x/sys/unix"
)

// onConnEvent is the entry point for epoll events on a client connection.
func (w *worker) onConnEvent(c *conn, events uint32) {
	if events&unix.EPOLLERR != 0 {
		w.closeConn(c)
		return
	}
	if c.ts != nil && events&unix.EPOLLOUT != 0 && c.ts.Pending() > 0 {
		if errno := c.ts.Flush(); errno != 0 && errno != syscall.EAGAIN {
			w.closeConn(c)
			return
		}
	}
	if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP) != 0 {
		c.readable = true
		if events&(unix.EPOLLRDHUP|unix.EPOLLHUP) != 0 {
			c.peerClosed = true
		}
	}
	w.drive(c)
}

// drive advances a connection as far as it can go without waiting.
func (w *worker) drive(c *conn) {
	for {
		switch c.state {
		case stateHandshake:
			w.readHandshake(c)
			return
		case stateIdle, stateHead:
			if !c.readable && len(c.rbuf) == 0 {
				return
			}
			if !w.readAndServe(c) {
				return
			}
		case stateBody:
			w.readBody(c)
			if c.state == stateBody {
				return
			}
		case stateUpstream:
			w.upstreamPhase(c)
			if c.state == stateUpstream {
				return
			}
		case stateWrite:
			if c.ex.px != nil && !c.ex.px.upDone {
				if !w.relay(c) {
					return
				}
			} else if !w.flush(c) {
				return
			}
			w.finishExchange(c)
		case stateTunnel:
			w.pumpTunnel(c)
			return
		case stateLinger:
			w.drainLinger(c)
			return
		default:
			return
		}
	}
}

// fill reads whatever the socket has into c.rbuf, up to its capacity. It
// returns false when the connection was closed (EOF before a request, or an
// error).
func (w *worker) fill(c *conn) bool {
	if c.rbuf == nil {
		c.rbuf = w.rpool.Get()
	}
	for c.readable && len(c.rbuf) < cap(c.rbuf) {
		space := cap(c.rbuf) - len(c.rbuf)
		n, errno := w.connRead(c, c.rbuf[len(c.rbuf):cap(c.rbuf)])
		switch {
		case errno == syscall.EAGAIN:
			c.readable = false
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			w.closeConn(c)
			return false
		case n == 0:
			// The client closed its side. A request still in the buffer
			// is served; a partial one is dropped with the connection.
			c.readable = false
			c.peerClosed = true
			if len(c.rbuf) == 0 {
				w.closeConn(c)
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

// flush writes pending output: first wbuf, then the file range. It returns
// true when everything is sent, false when the socket is full (the send
// timer is armed and EPOLLOUT will resume) or the connection was closed.
func (w *worker) flush(c *conn) bool {
	ex := c.ex
	if !w.flushCiphertext(c) {
		return false
	}
	for c.wOff < len(c.wbuf) {
		more := ex != nil && ex.file != nil && ex.fileOff < ex.fileEnd
		n, errno := w.connSend(c, c.wbuf[c.wOff:], more)
		switch errno {
		case 0:
			c.wOff += n
		case syscall.EAGAIN:
			w.loop.Arm(&c.timer, timerSendIdle)
			return false
		case syscall.EINTR:
		default:
			w.closeConn(c)
			return false
		}
	}
	if ex != nil && ex.file != nil && ex.fileOff < ex.fileEnd {
		if !w.sendFileRange(c, ex) {
			return false
		}
	}
	if ex != nil && ex.px != nil && ex.px.out.Pending() > 0 {
		switch errno := ex.px.out.SendTo(c); errno {
		case 0:
		case syscall.EAGAIN:
			w.loop.Arm(&c.timer, timerSendIdle)
			return false
		default:
			if ex.px != nil {
				w.releaseUp(ex.px, false)
			}
			w.closeConn(c)
			return false
		}
	}
	if !w.flushCiphertext(c) { // encrypted, not yet taken by the socket
		return false
	}
	if c.timer.Kind() == timerSendIdle {
		w.loop.Disarm(&c.timer) // everything out: nothing to time
	}
	return true
}

// flushCiphertext sends a TLS connection's pending ciphertext. It returns
// false when the socket is full (the send timer is armed) or the
// connection was closed.
func (w *worker) flushCiphertext(c *conn) bool {
	if c.ts == nil || c.ts.Pending() == 0 {
		return true
	}
	switch errno := c.ts.Flush(); errno {
	case 0:
		return true
	case syscall.EAGAIN:
		w.loop.Arm(&c.timer, timerSendIdle)
	default:
		w.closeConn(c)
	}
	return false
}

// sendfileChunk caps one sendfile call so that one large download cannot
// monopolise the loop.
const sendfileChunk = 4 << 20

// sendFileRange sends [fileOff, fileEnd) of ex.file with sendfile, or with
// pread+send where sendfile is not available for the file.
func (w *worker) sendFileRange(c *conn, ex *exchange) bool {
	f := ex.file
	for ex.fileOff < ex.fileEnd {
		n := int(min(ex.fileEnd-ex.fileOff, sendfileChunk))
		var sent int
		var errno syscall.Errno
		if f.NoSendfile || c.ts != nil {
			// Over TLS the bytes must pass through the cipher (no kTLS).
			sent, errno = w.preadSend(c, f, ex.fileOff, n)
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
			w.loop.Arm(&c.timer, timerSendIdle)
			return false
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			w.closeConn(c)
			return false
		case sent == 0:
			// The file shrank under us: the head promised more bytes than
			// exist, so the only honest end is closing the connection.
			w.log.Warn("file shorter than announced; closing connection", "file", f.Name)
			w.closeConn(c)
			return false
		}
		ex.fileOff += int64(sent)
		ex.sent += int64(sent)
		if ex.fileOff < ex.fileEnd {
			w.loop.Arm(&c.timer, timerSendIdle) // progress: restart the idle timer
		}
	}
	return true
}

// preadSend copies up to n bytes at off through the write buffer.
func (w *worker) preadSend(c *conn, f *static.File, off int64, n int) (int, syscall.Errno) {
	buf := c.wbuf[:cap(c.wbuf)]
	if n > len(buf) {
		n = len(buf)
	}
	r, errno := loop.Pread(f.Fd, buf[:n], off)
	if errno != 0 || r == 0 {
		return 0, errno
	}
	s, errno := w.connSend(c, buf[:r], false)
	if errno != 0 {
		return 0, errno
	}
	return s, 0 // bytes not accepted are read again at the next call
}

// closeConn closes the connection at once and frees everything it holds.
func (w *worker) closeConn(c *conn) {
	if c.state == stateClosed {
		return
	}
	w.loop.Disarm(&c.timer)
	if c.ex != nil {
		if c.ex.parsed && !c.ex.logged {
			w.logCutShort(c)
		}
		w.releaseExchange(c)
	}
	w.releaseBuffers(c)
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

// failConn answers 500 if nothing was sent yet, then closes. The
// exchange is not logged: after a panic its state is not to be trusted.
func (w *worker) failConn(c *conn) {
	if c.ex != nil && c.wOff == 0 && c.ex.status == 0 {
		c.wbuf = c.wbuf[:0]
		w.writeError(c, 500)
		loop.Send(c.fd, c.wbuf, false)
	}
	if c.ex != nil {
		c.ex.logged = true
	}
	w.closeConn(c)
}

func (w *worker) releaseBuffers(c *conn) {
	w.rpool.Put(c.rbuf)
	w.wpool.Put(c.wbuf)
	c.rbuf, c.wbuf, c.wOff = nil, nil, 0
}

// startLinger half-closes the connection after a refused request and drains
// what the client still sends, so that our answer is read before the
// connection goes away (closing with unread input makes the kernel send a
// reset, which can destroy the answer in flight).
func (w *worker) startLinger(c *conn) {
	unix.Shutdown(c.fd, unix.SHUT_WR)
	c.state = stateLinger
	if c.ex != nil {
		w.releaseExchange(c)
	}
	w.wpool.Put(c.wbuf)
	c.wbuf, c.wOff = nil, 0
	w.loop.Arm(&c.timer, timerLinger)
	w.drainLinger(c)
}

func (w *worker) drainLinger(c *conn) {
	if c.rbuf == nil {
		c.rbuf = w.rpool.Get()
	}
	for {
		n, errno := loop.Read(c.fd, c.rbuf[:cap(c.rbuf)])
		switch {
		case errno == syscall.EAGAIN:
			return
		case errno == syscall.EINTR:
		case errno != 0 || n == 0:
			w.closeConn(c)
			return
		}
	}
}

// onConnTimeout handles an expired connection timer.
func (w *worker) onConnTimeout(c *conn, kind loop.TimerKind) {
	switch kind {
	case timerHead:
		if len(c.rbuf) > 0 && c.state == stateHead {
			w.refuse(c, 408) // a head that did not arrive in time
			w.drive(c)       // send it now: the client may never send again
			return
		}
		w.closeConn(c)
	case timerBodyIdle:
		w.refuse(c, 408) // the body stopped arriving
		w.drive(c)
	case timerUpRetry:
		w.connectUpstream(c)
		w.drive(c)
	case timerUpHold:
		w.respondUnavailable(c) // still no server after the hold
		w.drive(c)
	case timerTunnel:
		w.endTunnel(c)
	case timerHandshake:
		w.closeConn(c) // a TLS client too slow to finish its handshake
	case timerSendIdle:
		// Reset, as nginx's reset_timedout_connection: after a plain
		// close the kernel keeps the unsent bytes as an orphaned socket
		// (FIN-WAIT-1) and goes on trickling them to the slow reader,
		// so the connection the deadline ends lives on with its buffer.
		unix.SetsockoptLinger(c.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		w.closeConn(c)
	default:
		// Keep-alive idle, linger: nothing to say any more.
		w.closeConn(c)
	}
}
