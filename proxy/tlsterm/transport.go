package tlsterm

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"frontdoor/proxy/loop"
)

// TLS runs on the event loop through an in-memory transport. crypto/tls
// reads its transport for ciphertext and writes ciphertext to it; here the
// transport is a pair of buffers the loop fills from, and drains to, the
// socket. After the handshake, a Read that finds no ciphertext returns a
// temporary net.Error, which crypto/tls does not remember (it is not
// sticky), so the loop can call tls.Conn.Read until it "would block" and
// come back when the socket has more: no goroutine waits per connection.
//
// The handshake is different: its errors are sticky, and GetCertificate
// may block (a certificate being ordered). So it runs in a goroutine (a
// bounded number per loop) whose reads block on the transport while the
// loop keeps owning the socket and feeding it.

// errWouldBlock is what the transport returns when it has no ciphertext.
var errWouldBlock = &wouldBlockError{}

type wouldBlockError struct{}

func (*wouldBlockError) Error() string   { return "tls transport: no data yet" }
func (*wouldBlockError) Timeout() bool   { return true }
func (*wouldBlockError) Temporary() bool { return true }
func (*wouldBlockError) Unwrap() error   { return os.ErrDeadlineExceeded }

// memTransport is the net.Conn under a tls.Conn.
type memTransport struct {
	mu   sync.Mutex
	cond sync.Cond // signalled when input arrives or the transport closes (handshake only)

	in     []byte // ciphertext from the socket not yet consumed
	inOff  int
	out    []byte // ciphertext to send to the socket
	outOff int

	blocking bool // during the handshake, Read waits for input
	closed   bool
	// fd is the socket, for the handshake goroutine to send its flights
	// itself while nothing else is queued: one wake-up of the loop
	// fewer per flight. shut (under mu, before the loop closes the
	// socket) ends that, so a closed and reused descriptor is never
	// written to.
	fd int
	// outPosted is set while a flush task for out is queued on the loop
	// (handshake only), so writes do not flood the queue.
	outPosted bool
	onOutput  func() // handshake: ask the loop to flush

	local, remote net.Addr
}

func newMemTransport(fd int, local, remote net.Addr) *memTransport {
	t := &memTransport{blocking: true, fd: fd, local: local, remote: remote}
	t.cond.L = &t.mu
	return t
}

// Read gives crypto/tls ciphertext.
func (t *memTransport) Read(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.blocking && !t.closed && t.inOff == len(t.in) {
		t.cond.Wait()
	}
	if t.inOff == len(t.in) {
		if t.closed {
			return 0, io.EOF
		}
		return 0, errWouldBlock
	}
	n := copy(p, t.in[t.inOff:])
	t.inOff += n
	if t.inOff == len(t.in) {
		t.in, t.inOff = t.in[:0], 0
	}
	return n, nil
}

// Write takes ciphertext from crypto/tls. It never fails: a write error
// would be permanent for the tls.Conn.
func (t *memTransport) Write(p []byte) (int, error) {
	n := len(p)
	t.mu.Lock()
	if t.blocking && !t.closed && t.outOff == len(t.out) {
		p = p[t.sendDirect(p):]
		if len(p) == 0 {
			t.mu.Unlock()
			return n, nil
		}
	}
	t.out = append(t.out, p...)
	notify := t.blocking && !t.outPosted && t.onOutput != nil
	if notify {
		t.outPosted = true
	}
	t.mu.Unlock()
	if notify {
		t.onOutput()
	}
	return n, nil
}

// sendDirect sends what it can of a handshake flight to the socket, under
// mu, and returns how much went; the loop sends the rest.
func (t *memTransport) sendDirect(p []byte) int {
	sent := 0
	for sent < len(p) {
		n, errno := loop.Send(t.fd, p[sent:], false)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			break // EAGAIN or an error: the loop's flush meets it too
		}
		sent += n
	}
	return sent
}

// Close, deadlines: the loop owns the socket and the timers.
func (t *memTransport) Close() error                     { return nil }
func (t *memTransport) LocalAddr() net.Addr              { return t.local }
func (t *memTransport) RemoteAddr() net.Addr             { return t.remote }
func (t *memTransport) SetDeadline(time.Time) error      { return nil }
func (t *memTransport) SetReadDeadline(time.Time) error  { return nil }
func (t *memTransport) SetWriteDeadline(time.Time) error { return nil }

// shut ends a handshake in progress: its next Read fails.
func (t *memTransport) shut() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.cond.Broadcast()
}

// feed appends ciphertext read from the socket (handshake: under the lock,
// waking the handshake goroutine).
func (t *memTransport) feed(p []byte) {
	t.mu.Lock()
	t.in = append(t.in, p...)
	t.mu.Unlock()
	t.cond.Signal()
}
