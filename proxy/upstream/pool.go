package upstream

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"

	"frontdoor/proxy/loop"
)

// ErrTimeout is what a Conn's owner is told when a timer armed on the
// connection expired.
var ErrTimeout = errors.New("timed out")

// Pool is one worker's upstream connections: it dials them on its loop
// and keeps the idle ones per server (Member), most recently used first.
type Pool struct {
	loop *loop.Loop
	// connectTimer and idleTimer are the loop's timer kinds for a connect
	// in progress and a pooled connection's idle lifetime.
	connectTimer, idleTimer loop.TimerKind
	// Size is how many idle connections are kept per server.
	Size int
	// Draining: no connection goes back to a pool (the worker stops).
	Draining bool
	// over lists the servers that hold more than Size idle connections
	// until the end of the loop's turn (Put, Trim).
	over []*Member
	// free holds closed connections for the next Dial: behind a proxy
	// whose pool is smaller than its load, connections are dialled and
	// closed all the time, and each would otherwise be an allocation.
	free []*Conn
}

// maxFreeConns bounds the closed connections kept for reuse.
const maxFreeConns = 1024

// NewPool makes a worker's pool on l, with the timer kinds it arms.
func NewPool(l *loop.Loop, connectTimer, idleTimer loop.TimerKind) *Pool {
	return &Pool{loop: l, connectTimer: connectTimer, idleTimer: idleTimer}
}

// Dial starts a non-blocking connect to s for owner. For a unix socket
// whose backlog is full the kernel answers EAGAIN (not EINPROGRESS): the
// caller retries shortly.
func (p *Pool) Dial(s *Member, owner Owner) (*Conn, syscall.Errno) {
	st := s.Server
	fd, err := unix.Socket(st.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err.(syscall.Errno)
	}
	if st.family != unix.AF_UNIX {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	u := p.newConn(fd, s, owner)
	err = unix.Connect(fd, st.sockaddr)
	switch err {
	case nil:
		u.state = connBusy
		u.Writable = true
	case unix.EINPROGRESS:
		u.state = connConnecting
	default:
		unix.Close(fd)
		p.recycle(u)
		return nil, err.(syscall.Errno)
	}
	if _, err := p.loop.Register(fd, u); err != nil {
		unix.Close(fd)
		p.recycle(u)
		return nil, syscall.EIO
	}
	if u.state == connConnecting {
		p.loop.Arm(&u.Timer, p.connectTimer)
	}
	return u, 0
}

// newConn returns a connection for fd, from the free list when it has one.
func (p *Pool) newConn(fd int, s *Member, owner Owner) *Conn {
	var u *Conn
	if n := len(p.free); n > 0 {
		u = p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
	} else {
		u = &Conn{pool: p}
		u.Timer.Owner = u
	}
	u.Fd, u.Member, u.Owner = fd, s, owner
	return u
}

// recycle keeps a closed connection for the next Dial. Nothing may refer
// to it any more: its owner let go of it (the exchange's releaseUp clears
// its reference before closing), and a pooled one left its list.
func (p *Pool) recycle(u *Conn) {
	if len(p.free) >= maxFreeConns {
		return
	}
	*u = Conn{pool: p, Fd: -1, state: connClosed}
	u.Timer.Owner = u
	p.free = append(p.free, u)
}

// finishConnect completes a non-blocking TCP connect.
func (p *Pool) finishConnect(u *Conn) {
	p.loop.Disarm(&u.Timer)
	soerr, err := unix.GetsockoptInt(u.Fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && soerr != 0 {
		err = syscall.Errno(soerr)
	}
	o := u.Owner
	if err != nil {
		if o != nil {
			o.UpstreamFailed(err)
		} else {
			p.Close(u)
		}
		return
	}
	u.state = connBusy
	u.Writable = true
	if o != nil {
		o.UpstreamReady()
	}
}

// TakeIdle pops a pooled connection of s for owner, most recently used
// first; nil when there is none.
func (p *Pool) TakeIdle(s *Member, owner Owner) *Conn {
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
	p.loop.Disarm(&u.Timer)
	u.state = connBusy
	u.Readable, u.Writable, u.Hup = false, true, false
	u.Owner = owner
	return u
}

// Put returns a connection to its server's pool, or closes it when the
// worker drains or the connection is not clean. A server's pool holds at
// most Size idle connections between turns of the loop; within a turn it
// may hold more, closed at its end (Trim): under a load with more
// requests in flight than Size, responses and new requests arrive in the
// same turn, and a connection closed for want of room was dialled again
// a moment later for the next request.
func (p *Pool) Put(u *Conn) {
	u.Owner = nil
	s := u.Member
	if p.Size <= 0 || p.Draining || u.Hup || (u.Readable && !u.Quiet()) {
		p.Close(u)
		return
	}
	if s.nidle >= p.Size && !s.overQueued {
		s.overQueued = true
		p.over = append(p.over, s)
	}
	u.state = connIdle
	u.Reused = true
	u.nextIdle = s.idle
	if s.idle != nil {
		s.idle.prevIdle = u
	}
	s.idle = u
	s.nidle++
	p.loop.Arm(&u.Timer, p.idleTimer)
}

// Trim closes the idle connections beyond Size that Put kept during the
// turn, the least recently used first. The loop's owner calls it at the
// end of every turn.
func (p *Pool) Trim() {
	for i, s := range p.over {
		p.over[i] = nil
		s.overQueued = false
		if s.nidle <= p.Size {
			continue
		}
		keep := s.idle // the Size-th most recently used
		for n := 1; n < p.Size; n++ {
			keep = keep.nextIdle
		}
		for keep.nextIdle != nil {
			p.Close(keep.nextIdle)
		}
	}
	p.over = p.over[:0]
}

// Close closes an upstream connection, taking it out of its pool first.
func (p *Pool) Close(u *Conn) {
	if u.state == connClosed {
		return
	}
	if u.state == connIdle {
		s := u.Member
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
	p.loop.Disarm(&u.Timer)
	p.loop.Unregister(u.Fd, u)
	loop.Close(u.Fd)
	p.recycle(u)
}

// drain closes every idle connection of a server (its group changed).
func (p *Pool) drain(s *Member) {
	for s.idle != nil {
		p.Close(s.idle)
	}
}

// Regroup gives the worker its own view of each group of specs, keeping
// the balancing state and idle connections of servers that stay, and
// closing the idle connections of servers that left.
func (p *Pool) Regroup(old map[string]*Group, specs map[string]*Spec) map[string]*Group {
	groups := make(map[string]*Group, len(specs))
	for name, spec := range specs {
		g := newGroup(spec)
		if prev, ok := old[name]; ok {
			for _, s := range g.Members {
				for _, m := range prev.Members {
					if m.Server == s.Server {
						s.current, s.active = m.current, m.active
						s.idle, s.nidle = m.idle, m.nidle
						m.idle, m.nidle = nil, 0
						for u := s.idle; u != nil; u = u.nextIdle {
							u.Member = s
						}
						if s.nidle > p.Size && !s.overQueued {
							s.overQueued = true // a surplus of this turn: Trim
							p.over = append(p.over, s)
						}
					}
				}
			}
		}
		groups[name] = g
	}
	for _, prev := range old {
		for _, m := range prev.Members {
			p.drain(m) // servers that left: their idle connections go
		}
	}
	return groups
}
