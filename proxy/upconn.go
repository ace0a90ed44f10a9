package proxy

import (
	"frontdoor/proxy/loop"
	"syscall"

	"golang.org/x/sys/unix"
)

// upState is where an upstream connection is in its life.
type upState uint8

const (
	upConnecting upState = iota // non-blocking connect in progress
	upBusy                      // carrying an exchange
	upIdle                      // in its server's keep-alive pool
	upClosed
)

// upConn is a connection to an upstream server, owned by one worker. While
// busy it belongs to one client connection's exchange; while idle it waits
// in its server's pool, watched for the server closing it.
type upConn struct {
	timer  loop.Timer
	w      *worker
	fd     int
	gen    uint32
	state  upState
	server *workerServer
	client *conn // while busy
	// readable/writable remember edge-triggered readiness not yet used up.
	readable, writable bool
	// hup is set once the server closed its side (EPOLLRDHUP, EPOLLHUP,
	// EPOLLERR): what it sent before is read to EOF, since no new edge
	// will announce the end, and the connection is never pooled again.
	hup bool
	// reused is set once the connection has carried a request: a failure
	// on it may be the server closing an idle connection, worth a retry.
	reused   bool
	nextIdle *upConn // pool list
	prevIdle *upConn
}

// OnEvent is the loop's entry for the connection's events.
func (u *upConn) OnEvent(events uint32) {
	w := u.w
	switch u.state {
	case upIdle:
		// An idle pooled connection has nothing to say: input or a hang-up
		// means the server closed it (or broke protocol). Drop it now
		// rather than fail a request on it later. (EPOLLOUT alone is the
		// send buffer draining: harmless.)
		if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			w.closeUp(u)
		}
	case upConnecting:
		if events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			w.finishConnect(u)
		}
	case upBusy:
		if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			u.readable = true
		}
		if events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			u.hup = true
		}
		if events&unix.EPOLLOUT != 0 {
			u.writable = true
		}
		if u.client != nil {
			w.drive(u.client)
		}
	}
}

// OnTimeout is the loop's entry for the connection's timer.
func (u *upConn) OnTimeout(kind loop.TimerKind) {
	w := u.w
	switch u.state {
	case upIdle:
		w.closeUp(u) // pool idle lifetime over
	case upConnecting, upBusy:
		if c := u.client; c != nil {
			w.upstreamFailed(c, errTimeout)
			w.drive(c)
		} else {
			w.closeUp(u)
		}
	}
}

// dial starts a non-blocking connect to s. For a unix socket whose backlog
// is full the kernel answers EAGAIN (not EINPROGRESS): the caller retries
// shortly.
func (w *worker) dial(s *workerServer) (*upConn, syscall.Errno) {
	st := s.state
	fd, err := unix.Socket(st.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err.(syscall.Errno)
	}
	if st.family != unix.AF_UNIX {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	u := &upConn{w: w, fd: fd, server: s}
	w.stats.upstreamDials.Add(1)
	u.timer.Owner = u
	err = unix.Connect(fd, st.sockaddr)
	switch err {
	case nil:
		u.state = upBusy
		u.writable = true
	case unix.EINPROGRESS:
		u.state = upConnecting
	default:
		unix.Close(fd)
		return nil, err.(syscall.Errno)
	}
	gen, err := w.loop.Register(fd, u)
	if err != nil {
		unix.Close(fd)
		return nil, syscall.EIO
	}
	u.gen = gen
	if u.state == upConnecting {
		w.loop.Arm(&u.timer, timerUpConnect)
	}
	return u, 0
}

// finishConnect completes a non-blocking TCP connect.
func (w *worker) finishConnect(u *upConn) {
	w.loop.Disarm(&u.timer)
	soerr, err := unix.GetsockoptInt(u.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && soerr != 0 {
		err = syscall.Errno(soerr)
	}
	c := u.client
	if err != nil {
		if c != nil {
			w.upstreamFailed(c, err)
			w.drive(c)
		} else {
			w.closeUp(u)
		}
		return
	}
	u.state = upBusy
	u.writable = true
	if c != nil {
		w.drive(c)
	}
}

// takeIdle pops a pooled connection of s, most recently used first.
func (w *worker) takeIdle(s *workerServer) *upConn {
	u := s.idle
	if u == nil {
		return nil
	}
	s.idle = u.nextIdle
	if s.idle != nil {
		s.idle.prevIdle = nil
	}
	u.nextIdle, u.prevIdle = nil, nil
	s.nidle--
	w.loop.Disarm(&u.timer)
	u.state = upBusy
	u.readable, u.writable, u.hup = false, true, false
	return u
}

// putIdle returns a connection to its server's pool, or closes it when the
// pool is full.
func (w *worker) putIdle(u *upConn) {
	u.client = nil
	s := u.server
	if s.nidle >= w.proxyCfg.PoolSize || w.draining || u.hup || (u.readable && !quiet(u.fd)) {
		w.closeUp(u)
		return
	}
	u.state = upIdle
	u.reused = true
	u.nextIdle = s.idle
	if s.idle != nil {
		s.idle.prevIdle = u
	}
	s.idle = u
	s.nidle++
	w.loop.Arm(&u.timer, timerUpIdle)
}

// closeUp closes an upstream connection, taking it out of its pool first.
func (w *worker) closeUp(u *upConn) {
	if u.state == upClosed {
		return
	}
	if u.state == upIdle {
		s := u.server
		if u.prevIdle != nil {
			u.prevIdle.nextIdle = u.nextIdle
		} else {
			s.idle = u.nextIdle
		}
		if u.nextIdle != nil {
			u.nextIdle.prevIdle = u.prevIdle
		}
		s.nidle--
	}
	w.loop.Disarm(&u.timer)
	w.loop.Unregister(u.fd, u)
	loop.Close(u.fd)
	u.state = upClosed
	u.client = nil
}

// drainPool closes every idle connection of a server (its group changed).
func (w *worker) drainPool(s *workerServer) {
	for s.idle != nil {
		w.closeUp(s.idle)
	}
}

// quiet reports whether a connection has nothing to read and is not
// closed: checked before pooling a connection whose last read filled its
// buffer (so more may have been waiting), and before reusing a pooled one
// (bytes may have come after the event loop last looked).
func quiet(fd int) bool {
	return loop.Peek(fd) == syscall.EAGAIN
}
