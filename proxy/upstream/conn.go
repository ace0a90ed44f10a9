package upstream

import (
	"syscall"

	"golang.org/x/sys/unix"

	"frontdoor/proxy/loop"
)

// connState is where an upstream connection is in its life.
type connState uint8

const (
	connConnecting connState = iota // non-blocking connect in progress
	connBusy                        // carrying an exchange
	connIdle                        // in its server's keep-alive pool
	connClosed
)

// Owner is the exchange a busy connection carries: it is told when the
// connection can make progress and when it failed.
type Owner interface {
	// UpstreamReady: the connect completed, or events arrived (Readable,
	// Writable and Hup say which).
	UpstreamReady()
	// UpstreamFailed: the connect failed, or a timer armed on the
	// connection (ErrTimeout) expired.
	UpstreamFailed(err error)
}

// Conn is a connection to an upstream server, owned by one worker. While
// busy it belongs to one exchange (its Owner); while idle it waits in its
// server's pool, watched for the server closing it.
type Conn struct {
	// Timer is the connection's timer: the Pool arms it while connecting
	// and while idle; the owner arms it for the response.
	Timer  loop.Timer
	pool   *Pool
	Fd     int
	state  connState
	Member *Member // the server it is connected to
	Owner  Owner   // while busy
	// Readable and Writable remember edge-triggered readiness not yet used
	// up; the owner clears them when a read or write finds EAGAIN.
	Readable, Writable bool
	// Hup is set once the server closed its side (EPOLLRDHUP, EPOLLHUP,
	// EPOLLERR): what it sent before is read to EOF, since no new edge
	// will announce the end, and the connection is never pooled again.
	Hup bool
	// Reused is set once the connection has carried a request: a failure
	// on it may be the server closing an idle connection, worth a retry.
	Reused   bool
	nextIdle *Conn // pool list
	prevIdle *Conn
}

// Busy reports a connection ready to carry its owner's exchange (not
// connecting, not pooled, not closed).
func (u *Conn) Busy() bool { return u.state == connBusy }

// OnEvent is the loop's entry for the connection's events.
func (u *Conn) OnEvent(events uint32) {
	switch u.state {
	case connIdle:
		// An idle pooled connection has nothing to say: input or a hang-up
		// means the server closed it (or broke protocol). Drop it now
		// rather than fail a request on it later. (EPOLLOUT alone is the
		// send buffer draining: harmless.)
		if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			u.pool.Close(u)
		}
	case connConnecting:
		if events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			u.pool.finishConnect(u)
		}
	case connBusy:
		if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			u.Readable = true
		}
		if events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			u.Hup = true
		}
		if events&unix.EPOLLOUT != 0 {
			u.Writable = true
		}
		if u.Owner != nil {
			u.Owner.UpstreamReady()
		}
	}
}

// OnTimeout is the loop's entry for the connection's timer.
func (u *Conn) OnTimeout(kind loop.TimerKind) {
	switch u.state {
	case connIdle:
		u.pool.Close(u) // pool idle lifetime over
	case connConnecting, connBusy:
		if o := u.Owner; o != nil {
			o.UpstreamFailed(ErrTimeout)
		} else {
			u.pool.Close(u)
		}
	}
}

// Send writes p to the connection like send(2) (a Sink for a Spool).
func (u *Conn) Send(p []byte) (int, syscall.Errno) { return loop.Send(u.Fd, p, false) }

// SendFile writes up to n bytes of file fd from off with sendfile(2) (a
// Sink for a Spool).
func (u *Conn) SendFile(fd int, off int64, n int) (int, syscall.Errno) {
	return loop.Sendfile(u.Fd, fd, &off, n)
}

// Quiet reports whether the connection has nothing to read and is not
// closed: checked before pooling a connection whose last read filled its
// buffer (so more may have been waiting), and before reusing a pooled one
// (bytes may have come after the loop last looked).
func (u *Conn) Quiet() bool {
	return loop.Peek(u.Fd) == syscall.EAGAIN
}
