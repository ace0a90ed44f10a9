package proxy

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"

	"frontdoor/proxy/tlsterm"
)

// startTLS gives a connection accepted on a TLS listener its TLS layer
// (proxy/tlsterm), served with cfg (the listener's: with or without h2),
// and starts (or queues) its handshake.
func (w *worker) startTLS(c *conn, cfg *tls.Config) {
	local := net.Addr(&net.TCPAddr{})
	if sa, err := unix.Getsockname(c.fd); err == nil {
		if ap, err := netip.ParseAddrPort(sockaddrString(sa)); err == nil {
			local = net.TCPAddrFromAddrPort(ap)
		}
	}
	ts := tlsterm.NewConn(c.fd, cfg, local, net.TCPAddrFromAddrPort(c.remote), &w.rpool, &w.wpool)
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

// noHTTP2Config is the configuration of TLS listeners with NoHTTP2:
// TLSNoHTTP2, else TLS when it does not offer "h2" (nil when neither).
func noHTTP2Config(cfg *Config) *tls.Config {
	if cfg.TLSNoHTTP2 != nil {
		return cfg.TLSNoHTTP2
	}
	if cfg.TLS != nil && !slices.Contains(cfg.TLS.NextProtos, tlsterm.ALPNHTTP2) {
		return cfg.TLS
	}
	return nil
}

// checkListenerTLS refuses a configuration under which a TLS listener with
// NoHTTP2 would offer "h2" anyway, or could not serve at all while the
// others do: both are a caller's mistake, better said at once than found
// by a client.
func checkListenerTLS(cfg *Config, ls []Listener) ConfigErrors {
	if cfg.TLS == nil {
		return nil // no TLS listener serves (no certificates)
	}
	if cfg.TLSNoHTTP2 != nil && slices.Contains(cfg.TLSNoHTTP2.NextProtos, tlsterm.ALPNHTTP2) {
		return ConfigErrors{{Field: "TLSNoHTTP2", Msg: `offers "h2" in NextProtos`,
			Fix: "remove it (acme.WithoutHTTP2)"}}
	}
	for _, l := range ls {
		if l.TLS && l.NoHTTP2 && noHTTP2Config(cfg) == nil {
			return ConfigErrors{{Field: "TLSNoHTTP2", Msg: fmt.Sprintf(`listener %s has NoHTTP2, and TLS offers "h2"`, l.Name),
				Fix: "set TLSNoHTTP2 to a config of the same manager without h2 (acme.WithoutHTTP2)"}}
		}
	}
	return nil
}
