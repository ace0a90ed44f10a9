package proxy

import (
	"frontdoor/proxy/loop"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// listenerItem is one listening socket in one worker's epoll set.
type listenerItem struct {
	Listener
	w          *worker
	registered bool
	// starved is set while accepting fails for want of descriptors or
	// memory: the warning is logged once per episode, not on every retry
	// (ten a second per worker would flood the journal).
	starved bool
}

// OnEvent accepts the connections waiting on the listener.
func (l *listenerItem) OnEvent(events uint32) { l.w.accept(l) }

// acceptBatch bounds the connections taken per event so that one busy
// listener cannot starve the connections already held.
const acceptBatch = 64

// acceptPause is how long listeners stay out of the epoll set after the
// process ran out of descriptors: long enough not to spin, short enough to
// recover quickly once connections close.
const acceptPause = 100 * time.Millisecond

func (w *worker) accept(l *listenerItem) {
	var sa unix.RawSockaddrAny
	for i := 0; i < acceptBatch; i++ {
		if w.nconns >= w.cfg.MaxConnsPerWorker {
			w.pauseAccept(0) // the others take the load until we drop below the cap
			return
		}
		fd, errno := loop.Accept(l.Fd, &sa)
		switch errno {
		case 0:
		case syscall.EAGAIN, syscall.ECONNABORTED, syscall.EINTR:
			return
		case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM:
			if !l.starved {
				l.starved = true
				w.log.Warn("out of file descriptors or memory: new connections wait in the listen backlog until some close",
					"worker", w.id, "listener", l.Name, "err", errno, "connections", w.nconns, "retry_every", acceptPause)
			}
			w.pauseAccept(int64(acceptPause))
			return
		default:
			w.log.Error("accept failed", "worker", w.id, "listener", l.Name, "err", errno)
			return
		}
		if l.starved {
			l.starved = false
			w.log.Info("accepting connections again", "worker", w.id, "listener", l.Name, "connections", w.nconns)
		}
		w.newConn(fd, l, &sa)
	}
}

func (w *worker) newConn(fd int, l *listenerItem, sa *unix.RawSockaddrAny) {
	// Responses are written whole (or corked with MSG_MORE), so Nagle's
	// algorithm would only delay the last segment of each response.
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	c := &conn{w: w, fd: fd, remote: sockaddrToAddrPort(sa)}
	c.timer.Owner = c
	if max := w.cfg.Limits.Clients.MaxConnsPerIP; max > 0 {
		if !w.e.limiter.acquireConn(c.remote.Addr(), max, w.loop.UnixNano()) {
			w.refuseOverLimit(fd, l.TLS)
			return
		}
		c.counted = true
	}
	gen, err := w.loop.Register(fd, c)
	if err != nil {
		w.log.Error("register connection", "worker", w.id, "err", err)
		loop.Close(fd)
		return
	}
	c.gen = gen
	w.nconns++
	w.stats.accepted.Add(1)
	w.stats.active.Add(1)
	if l.TLS {
		cfg := w.tlsCfg
		if l.NoHTTP2 {
			cfg = w.tlsNoH2
		}
		if cfg == nil {
			c.close() // no certificates configured: nothing to offer
			return
		}
		w.startTLS(c, cfg)
		return
	}
	// A new connection gets the head deadline at once: one that never
	// sends a byte must not hold a descriptor for longer than a slow one.
	w.loop.Arm(&c.timer, timerHead)
	c.sniff = l.H2C
}

func sockaddrToAddrPort(sa *unix.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case unix.AF_INET:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := uint16(p.Port>>8) | uint16(p.Port<<8)
		return netip.AddrPortFrom(netip.AddrFrom4(p.Addr), port)
	case unix.AF_INET6:
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		port := uint16(p.Port>>8) | uint16(p.Port<<8)
		return netip.AddrPortFrom(netip.AddrFrom16(p.Addr).Unmap(), port)
	}
	return netip.AddrPort{}
}

// pauseAccept takes the listeners out of the epoll set. With d > 0 they come
// back after d; with d == 0 when a connection closes.
func (w *worker) pauseAccept(d int64) {
	for _, l := range w.listeners {
		if l.registered {
			w.loop.Unwatch(l.Fd)
			l.registered = false
		}
	}
	if d > 0 {
		w.loop.ArmAt(&w.acceptTimer, timerAcceptPause, w.loop.Now()+d)
	} else {
		w.loop.Disarm(&w.acceptTimer)
	}
}

// resumeAccept puts the listeners back, unless the worker is full or
// draining.
func (w *worker) resumeAccept() {
	w.loop.Disarm(&w.acceptTimer)
	if w.draining || w.nconns >= w.cfg.MaxConnsPerWorker {
		return
	}
	for _, l := range w.listeners {
		if !l.registered {
			if err := w.loop.Watch(l.Fd, l); err != nil {
				w.log.Error("resume accepting", "worker", w.id, "listener", l.Name, "err", err)
				continue
			}
			l.registered = true
		}
	}
}

// addListener starts accepting on l in this worker.
func (w *worker) addListener(l Listener) {
	it := &listenerItem{Listener: l, w: w}
	w.listeners = append(w.listeners, it)
	if !w.acceptTimer.Armed() && !w.draining {
		if err := w.loop.Watch(l.Fd, it); err != nil {
			w.log.Error("add listener", "worker", w.id, "listener", l.Name, "err", err)
			return
		}
		it.registered = true
	}
}

// refuseOverLimit answers a connection over its address's cap with 503 and
// closes it, without registering it (a plain-text answer is written only
// on plain listeners; a TLS client just sees the close).
func (w *worker) refuseOverLimit(fd int, isTLS bool) {
	if !isTLS {
		loop.Send(fd, w.e.texts.overLimit, false)
		unix.Shutdown(fd, unix.SHUT_WR)
	}
	loop.Close(fd)
}
