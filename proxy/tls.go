package proxy

import (
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"

	"frontdoor/proxy/tlsterm"
)

// startTLS gives a connection accepted on a TLS listener its TLS layer
// (proxy/tlsterm) and starts (or queues) its handshake.
func (w *worker) startTLS(c *conn) {
	local := net.Addr(&net.TCPAddr{})
	if sa, err := unix.Getsockname(c.fd); err == nil {
		if ap, err := netip.ParseAddrPort(sockaddrString(sa)); err == nil {
			local = net.TCPAddrFromAddrPort(ap)
		}
	}
	ts := tlsterm.NewConn(c.fd, w.tlsCfg, local, net.TCPAddrFromAddrPort(c.remote), &w.rpool, &w.wpool)
	c.ts = ts
	c.state = stateHandshake
	gen := c.gen
	ts.OnHandshakeOutput(func() { w.loop.Post(c, func() { w.handshakeOutput(c, gen) }) })
	w.loop.Arm(&c.timer, timerHandshake)
	w.handshakes.Start(ts, func(err error) {
		w.loop.Post(c, func() { w.handshakeFinished(c, gen, err) })
	})
}

// handshakeOutput flushes what the handshake goroutine wrote.
func (w *worker) handshakeOutput(c *conn, gen uint32) {
	if c.gen != gen || c.state == stateClosed || c.ts == nil {
		return
	}
	if errno := c.ts.FlushHandshakeOutput(); errno != 0 && errno != syscall.EAGAIN {
		c.close()
	}
}

// handshakeFinished switches a connection to event-driven TLS, or closes
// it when the handshake failed.
func (w *worker) handshakeFinished(c *conn, gen uint32, err error) {
	w.handshakes.Finished()
	if c.gen != gen || c.state != stateHandshake {
		return // closed meanwhile (timeout, client gone)
	}
	ts := c.ts
	if err != nil {
		w.log.Debug("tls handshake failed", "remote", c.remote.String(), "err", err)
		ts.Flush() // the alert, if any
		c.close()
		return
	}
	ts.Established()
	if errno := ts.Flush(); (errno != 0 && errno != syscall.EAGAIN) || ts.ACME() {
		// A CA validating TLS-ALPN-01 has what it came for (RFC 8737).
		c.close()
		return
	}
	c.readable = true // the request may already be in the transport
	if ts.HTTP2() {
		c.startHTTP2()
	} else {
		c.state = stateIdle
		w.loop.Arm(&c.timer, timerHead)
	}
	c.drive()
}

// readHandshake moves ciphertext from the socket to the transport while
// the handshake goroutine runs.
func (c *conn) readHandshake() {
	if !c.readable {
		return
	}
	if errno := c.ts.ReadHandshake(c.w.tlsScratch); errno != syscall.EAGAIN {
		c.close()
		return
	}
	c.readable = false
}
