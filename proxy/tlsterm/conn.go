package tlsterm

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"syscall"

	"frontdoor/proxy/loop"
)

// Conn is one client connection's TLS layer. The loop that owns the
// socket drives it; only the handshake runs elsewhere (handshake.go).
type Conn struct {
	t    *memTransport
	tls  *tls.Conn
	bufs *loop.BufPool // the loop's pool, for the transport's input buffer
	// records is the loop's pool that lends crypto/tls its record buffer
	// for a burst of reads, and the transport the buffer its ciphertext
	// waits in for the socket (lend.go).
	records *loop.BufPool
	done    bool   // handshake finished
	sni     string // server name the client asked for
	acme    bool   // ALPN acme-tls/1: a CA validating; close after the handshake
	h2      bool   // ALPN h2: the connection speaks HTTP/2
}

// maxHandshakeInput bounds the ciphertext buffered before the handshake is
// done (a ClientHello is a few hundred bytes; post-quantum key shares make
// it a few KiB).
const maxHandshakeInput = 64 << 10

// tlsOutHigh is how much ciphertext may wait for the socket before writes
// report "would block".
const tlsOutHigh = 64 << 10

// ALPNHTTP2 is HTTP/2's ALPN protocol name (RFC 9113 §3.2): a
// configuration that lists it in NextProtos offers HTTP/2.
const ALPNHTTP2 = "h2"

// ErrTLS reports a TLS failure as an errno for the connection I/O paths.
const ErrTLS = syscall.EPROTO

// NewConn gives the socket fd a TLS layer, ready for its handshake. local
// and remote are the addresses GetCertificate sees; bufs lends the input
// buffer, records the record and output buffers (lend.go).
func NewConn(fd int, cfg *tls.Config, local, remote net.Addr, bufs, records *loop.BufPool) *Conn {
	t := newMemTransport(fd, local, remote)
	return &Conn{t: t, tls: tls.Server(t, cfg), bufs: bufs, records: records}
}

// Done reports whether the handshake has finished.
func (c *Conn) Done() bool { return c.done }

// ServerName is the name the client asked for (SNI), once established.
func (c *Conn) ServerName() string { return c.sni }

// HTTP2 reports that the client and the configuration agreed on "h2" in
// ALPN: the connection speaks HTTP/2 from its first byte.
func (c *Conn) HTTP2() bool { return c.h2 }

// ACME reports a CA validating TLS-ALPN-01 (ALPN acme-tls/1): it has what
// it came for once the handshake is done (RFC 8737).
func (c *Conn) ACME() bool { return c.acme }

// OnHandshakeOutput sets what the handshake goroutine calls when it has
// queued output that the loop must send (FlushHandshakeOutput).
func (c *Conn) OnHandshakeOutput(f func()) {
	c.t.mu.Lock()
	c.t.onOutput = f
	c.t.mu.Unlock()
}

// FlushHandshakeOutput sends what the handshake goroutine queued.
func (c *Conn) FlushHandshakeOutput() syscall.Errno {
	t := c.t
	t.mu.Lock()
	t.outPosted = false
	t.mu.Unlock()
	return c.Flush()
}

// ReadHandshake moves ciphertext from the socket to the transport while
// the handshake goroutine runs, up to maxHandshakeInput buffered. It
// returns EAGAIN once the socket is drained or the buffer is full; any
// other result ends the connection. What comes beyond the cap stays in
// the socket (the kernel's buffer bounds it) until the loop reads on after
// the handshake: in TLS 1.3 a client sends its request right behind its
// Finished, before the server has processed it, so a large upload arrives
// while the handshake is still "in progress" here (closing over the cap
// reset a third to a half of the uploads over 64 KiB made on a new
// connection).
func (c *Conn) ReadHandshake(scratch []byte) syscall.Errno {
	t := c.t
	for {
		t.mu.Lock()
		room := maxHandshakeInput - len(t.in)
		t.mu.Unlock()
		if room <= 0 {
			return syscall.EAGAIN // the rest is read once the handshake is done
		}
		n, errno := loop.Read(t.fd, scratch[:min(room, len(scratch))])
		switch {
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			return errno
		case n == 0:
			return ErrTLS
		}
		t.feed(scratch[:n])
	}
}

// Handshake runs the handshake to its end (on a handshake goroutine).
func (c *Conn) handshake() error { return c.tls.Handshake() }

// Established switches the connection to loop-driven I/O after its
// handshake succeeded.
func (c *Conn) Established() {
	t := c.t
	t.mu.Lock()
	t.blocking, t.onOutput = false, nil
	t.mu.Unlock()
	cs := c.tls.ConnectionState()
	c.done, c.sni = true, cs.ServerName
	// The addresses were for GetCertificate; the connection has its own.
	t.local, t.remote = nil, nil
	c.acme = cs.NegotiatedProtocol == "acme-tls/1"
	c.h2 = cs.NegotiatedProtocol == ALPNHTTP2
}

// Shut ends a handshake in progress (the connection is closing): the
// handshake goroutine's next read fails, and it never writes to the
// socket again.
func (c *Conn) Shut() {
	if !c.done {
		c.t.shut()
	}
}

// shutDown reports whether Shut was called.
func (c *Conn) shutDown() bool {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	return c.t.closed
}

// Flush sends pending ciphertext. It returns 0 when all is sent, EAGAIN
// when the socket is full, or the error.
func (c *Conn) Flush() syscall.Errno {
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.outOff < len(t.out) {
		n, errno := loop.Send(t.fd, t.out[t.outOff:], false)
		switch errno {
		case 0:
			t.outOff += n
		case syscall.EINTR:
		default:
			return errno
		}
	}
	switch {
	case c.done && cap(t.out) == c.records.Size():
		c.records.Put(t.out) // lent by Write: everything is sent
		t.out = nil
	case cap(t.out) > tlsOutHigh*2:
		t.out = nil // a burst grew it: let it go
	default:
		t.out = t.out[:0]
	}
	t.outOff = 0
	return 0
}

// Pending reports ciphertext not yet sent.
func (c *Conn) Pending() int {
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.out) - t.outOff
}

// Read reads plaintext into buf, with the semantics of read(2) on a
// non-blocking socket: EAGAIN when nothing is there yet, 0 bytes at the
// end.
func (c *Conn) Read(buf []byte) (int, syscall.Errno) {
	c.lendRecordBuffer()
	for {
		n, err := c.tls.Read(buf)
		if c.Pending() > 0 {
			// Reading may produce output: a key update, an alert.
			if errno := c.Flush(); errno != 0 && errno != syscall.EAGAIN {
				return 0, errno
			}
		}
		if n > 0 {
			return n, 0
		}
		switch {
		case err == nil:
			continue
		case err == errWouldBlock || isTimeout(err):
			// The record is incomplete: more ciphertext from the socket.
			// (crypto/tls hands the transport's error back as it is, so the
			// comparison spares errors.As's reflection on most reads.)
			if errno := c.readSocket(); errno != 0 {
				if errno == syscall.EAGAIN {
					c.returnRecordBuffer() // the burst of reads is over
				}
				return 0, errno
			}
		case errors.Is(err, io.EOF):
			return 0, 0 // close_notify, or the socket's end
		default:
			return 0, ErrTLS
		}
	}
}

// isTimeout reports a net.Error that timed out. It is a function of its
// own so that the error variable errors.As needs escapes only when it is
// called, not on every Read that runs out of ciphertext.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readSocket reads ciphertext from the socket into the transport. At the
// socket's end it marks the transport closed (the next tls Read then
// reports EOF).
func (c *Conn) readSocket() syscall.Errno {
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.in == nil {
		t.in = c.bufs.Get()
	}
	if len(t.in) == cap(t.in) {
		if t.inOff > 0 {
			n := copy(t.in, t.in[t.inOff:])
			t.in, t.inOff = t.in[:n], 0
		} else {
			return ErrTLS // a record larger than any allowed
		}
	}
	for {
		n, errno := loop.Read(t.fd, t.in[len(t.in):cap(t.in)])
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

// Write writes plaintext, with the semantics of send(2) on a
// non-blocking socket. The bytes are encrypted into the transport at once
// and sent as the socket takes them; EAGAIN comes back once too much
// ciphertext waits.
func (c *Conn) Write(p []byte) (int, syscall.Errno) {
	if c.Pending() > tlsOutHigh {
		if errno := c.Flush(); errno != 0 {
			return 0, errno
		}
	}
	c.lendOutput(len(p))
	if _, err := c.tls.Write(p); err != nil {
		return 0, ErrTLS
	}
	if errno := c.Flush(); errno != 0 && errno != syscall.EAGAIN {
		return 0, errno
	}
	return len(p), 0
}

// Idle returns an idle connection's transport buffers, and crypto/tls's
// own read buffers (trim.go) — those it grew beyond what the loop lends
// go to the garbage collector. It must run outside any Read.
func (c *Conn) Idle() {
	c.returnRecordBuffer()
	fields.trim(c.tls)
	t := c.t
	t.mu.Lock()
	if t.inOff == len(t.in) && t.in != nil {
		c.bufs.Put(t.in)
		t.in, t.inOff = nil, 0
	}
	if t.outOff == len(t.out) && cap(t.out) > 0 {
		if cap(t.out) == c.records.Size() {
			c.records.Put(t.out)
		}
		t.out, t.outOff = nil, 0
	}
	t.mu.Unlock()
}
