package proxy

import (
	"crypto/tls"
	"errors"
	"frontdoor/proxy/loop"
	"io"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// startTLS gives a connection accepted on a TLS listener its TLS layer and
// starts (or queues) its handshake.
func (w *worker) startTLS(c *conn) {
	local := net.Addr(&net.TCPAddr{})
	if sa, err := unix.Getsockname(c.fd); err == nil {
		if ap, err := netip.ParseAddrPort(sockaddrString(sa)); err == nil {
			local = net.TCPAddrFromAddrPort(ap)
		}
	}
	t := newMemTransport(c.fd, local, net.TCPAddrFromAddrPort(c.remote))
	ts := &tlsState{t: t, conn: tls.Server(t, w.tlsCfg)}
	c.ts = ts
	c.state = stateHandshake
	gen := c.gen
	t.onOutput = func() { w.loop.Post(func() { w.handshakeOutput(c, gen) }) }
	w.loop.Arm(&c.timer, timerHandshake)
	if w.hsSlots > 0 {
		w.hsSlots--
		w.dispatchHandshake(c)
	} else {
		w.hsQueue = append(w.hsQueue, c)
	}
}

// handshakeJob is one connection's handshake for a handshake goroutine.
type handshakeJob struct {
	c   *conn
	ts  *tlsState
	gen uint32
}

// handshakeIdle is how long a handshake goroutine waits for the next
// handshake before it exits.
const handshakeIdle = 10 * time.Second

// dispatchHandshake hands c's handshake to an idle handshake goroutine, or
// starts one. Goroutines are kept between handshakes because a new one
// grows its stack to what crypto/tls needs by copying it, several times,
// for every handshake.
func (w *worker) dispatchHandshake(c *conn) {
	job := handshakeJob{c: c, ts: c.ts, gen: c.gen}
	select {
	case w.hsJobs <- job:
	default:
		go w.runHandshakes(job)
	}
}

// runHandshakes is a handshake goroutine. It touches only the job's ts
// (the worker feeds ts's transport under its lock) and reports back
// through the task queue; then it waits for the next job, until it has
// been idle for handshakeIdle or the worker stops.
func (w *worker) runHandshakes(job handshakeJob) {
	idle := time.NewTimer(handshakeIdle)
	defer idle.Stop()
	for {
		err := job.ts.conn.Handshake()
		c, gen := job.c, job.gen
		w.loop.Post(func() { w.handshakeFinished(c, gen, err) })
		job = handshakeJob{}
		idle.Reset(handshakeIdle)
		select {
		case job = <-w.hsJobs:
		case <-idle.C:
			return
		case <-w.done:
			return
		}
	}
}

// handshakeOutput flushes what the handshake goroutine wrote.
func (w *worker) handshakeOutput(c *conn, gen uint32) {
	if c.gen != gen || c.state == stateClosed || c.ts == nil {
		return
	}
	t := c.ts.t
	t.mu.Lock()
	t.outPosted = false
	t.mu.Unlock()
	if errno := w.tlsFlush(c); errno != 0 && errno != syscall.EAGAIN {
		w.closeConn(c)
	}
}

// handshakeFinished switches a connection to event-driven TLS, or closes
// it when the handshake failed.
func (w *worker) handshakeFinished(c *conn, gen uint32, err error) {
	w.hsSlots++
	for w.hsSlots > 0 && len(w.hsQueue) > 0 {
		next := w.hsQueue[0]
		w.hsQueue[0] = nil
		w.hsQueue = w.hsQueue[1:]
		if next.state == stateHandshake {
			w.hsSlots--
			w.dispatchHandshake(next)
		}
	}
	if c.gen != gen || c.state != stateHandshake {
		return // closed meanwhile (timeout, client gone)
	}
	ts := c.ts
	if err != nil {
		w.log.Debug("tls handshake failed", "remote", c.remote.String(), "err", err)
		w.tlsFlush(c) // the alert, if any
		w.closeConn(c)
		return
	}
	t := ts.t
	t.mu.Lock()
	t.blocking, t.onOutput = false, nil
	t.mu.Unlock()
	cs := ts.conn.ConnectionState()
	ts.done, ts.sni = true, cs.ServerName
	// The addresses were for GetCertificate; the connection has its own.
	t.local, t.remote = nil, nil
	ts.acme = cs.NegotiatedProtocol == "acme-tls/1"
	if errno := w.tlsFlush(c); (errno != 0 && errno != syscall.EAGAIN) || ts.acme {
		// A CA validating TLS-ALPN-01 has what it came for (RFC 8737).
		w.closeConn(c)
		return
	}
	c.state = stateIdle
	c.readable = true // the request may already be in the transport
	w.loop.Arm(&c.timer, timerHead)
	w.drive(c)
}

// readHandshake moves ciphertext from the socket to the transport while
// the handshake goroutine runs.
func (w *worker) readHandshake(c *conn) {
	t := c.ts.t
	for c.readable {
		n, errno := loop.Read(c.fd, w.tlsScratch)
		switch {
		case errno == syscall.EAGAIN:
			c.readable = false
		case errno == syscall.EINTR:
		case errno != 0 || n == 0:
			w.closeConn(c)
			return
		default:
			t.mu.Lock()
			size := len(t.in)
			t.mu.Unlock()
			if size+n > maxHandshakeInput {
				w.closeConn(c)
				return
			}
			t.feed(w.tlsScratch[:n])
		}
	}
}

// tlsFlush sends pending ciphertext. It returns 0 when all is sent,
// EAGAIN when the socket is full, or the error.
func (w *worker) tlsFlush(c *conn) syscall.Errno {
	t := c.ts.t
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.outOff < len(t.out) {
		n, errno := loop.Send(c.fd, t.out[t.outOff:], false)
		switch errno {
		case 0:
			t.outOff += n
		case syscall.EINTR:
		default:
			return errno
		}
	}
	if cap(t.out) > tlsOutHigh*2 {
		t.out = nil // a burst grew it: let it go
	} else {
		t.out = t.out[:0]
	}
	t.outOff = 0
	return 0
}

// tlsPending reports ciphertext not yet sent.
func (c *conn) tlsPending() int {
	t := c.ts.t
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.out) - t.outOff
}

// connRead reads plaintext from a client connection into buf, with the
// semantics of read(2) on a non-blocking socket: EAGAIN when nothing is
// there yet, 0 bytes at the end.
func (w *worker) connRead(c *conn, buf []byte) (int, syscall.Errno) {
	if c.ts == nil {
		return loop.Read(c.fd, buf)
	}
	ts := c.ts
	for {
		n, err := ts.conn.Read(buf)
		if c.tlsPending() > 0 {
			// Reading may produce output: a key update, an alert.
			if errno := w.tlsFlush(c); errno != 0 && errno != syscall.EAGAIN {
				return 0, errno
			}
		}
		if n > 0 {
			return n, 0
		}
		var ne net.Error
		switch {
		case err == nil:
			continue
		case err == errWouldBlock || (errors.As(err, &ne) && ne.Timeout()):
			// The record is incomplete: more ciphertext from the socket.
			// (crypto/tls hands the transport's error back as it is, so the
			// comparison spares errors.As's reflection on most reads.)
			if errno := w.tlsReadSocket(c); errno != 0 {
				return 0, errno
			}
		case errors.Is(err, io.EOF):
			return 0, 0 // close_notify, or the socket's end
		default:
			return 0, errTLS
		}
	}
}

// tlsReadSocket reads ciphertext from the socket into the transport. At
// the socket's end it marks the transport closed (the next tls Read then
// reports EOF).
func (w *worker) tlsReadSocket(c *conn) syscall.Errno {
	t := c.ts.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.in == nil {
		t.in = w.rpool.Get()
	}
	if len(t.in) == cap(t.in) {
		if t.inOff > 0 {
			n := copy(t.in, t.in[t.inOff:])
			t.in, t.inOff = t.in[:n], 0
		} else {
			return errTLS // a record larger than any allowed
		}
	}
	for {
		n, errno := loop.Read(c.fd, t.in[len(t.in):cap(t.in)])
		switch {
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			return errno
		case n == 0:
			t.closed = true
			return 0
		}
		t.in = t.in[:len(t.in)+n]
		return 0
	}
}

// connSend writes plaintext to a client connection, with the semantics of
// send(2) on a non-blocking socket. Over TLS the bytes are encrypted into
// the transport at once and sent as the socket takes them; EAGAIN comes
// back once too much ciphertext waits.
func (w *worker) connSend(c *conn, p []byte, more bool) (int, syscall.Errno) {
	if c.ts == nil {
		return loop.Send(c.fd, p, more)
	}
	if c.tlsPending() > tlsOutHigh {
		if errno := w.tlsFlush(c); errno != 0 {
			return 0, errno
		}
	}
	if _, err := c.ts.conn.Write(p); err != nil {
		return 0, errTLS
	}
	if errno := w.tlsFlush(c); errno != 0 && errno != syscall.EAGAIN {
		return 0, errno
	}
	return len(p), 0
}

// releaseTLSBuffers returns an idle TLS connection's transport buffers,
// and crypto/tls's own read buffers.
func (w *worker) releaseTLSBuffers(c *conn) {
	w.e.tlsTrim.trim(c.ts.conn)
	t := c.ts.t
	t.mu.Lock()
	if t.inOff == len(t.in) && t.in != nil {
		w.rpool.Put(t.in)
		t.in, t.inOff = nil, 0
	}
	if t.outOff == len(t.out) && cap(t.out) > 0 {
		t.out, t.outOff = nil, 0
	}
	t.mu.Unlock()
}
