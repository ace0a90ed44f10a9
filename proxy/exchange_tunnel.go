package proxy

import (
	"syscall"

	"golang.org/x/sys/unix"

	"frontdoor/proxy/http1"
	"frontdoor/proxy/loop"
)

// A tunnel is an exchange answered with 101 Switching Protocols (a
// WebSocket): it takes its HTTP/1.1 connection over, and bytes flow both
// ways between the client and the application as they come, with an idle
// timeout of their own. (HTTP/2 carries a WebSocket on a stream, RFC
// 8441: http2tunnel.go.)

// tunnel sends the 101 head and turns the connection into a tunnel
// (stream). The upstream connection is never pooled afterwards.
func (c *conn) tunnel(rest []byte) {
	ex := c.ex
	w, px := ex.w, ex.px
	resp := &px.resp
	ex.status = 101
	ex.closeAfter = true
	b := c.statusLine(c.wbuf[:0], resp.Status, resp.Reason)
	b = append(b, "Server: frontdoor\r\nDate: "...)
	b = append(b, w.httpDate()...)
	b = append(b, "\r\nConnection: Upgrade\r\n"...)
	for i := range resp.Headers {
		h := &resp.Headers[i]
		switch h.ID {
		case http1.HeaderConnection, http1.HeaderKeepAlive, http1.HeaderProxyConnection,
			http1.HeaderContentLength, http1.HeaderTransferEncoding, http1.HeaderTE, http1.HeaderTrailer:
			continue
		}
		if http1.EqualFold(h.Name, "date") || http1.EqualFold(h.Name, "server") {
			continue
		}
		b = append(b, h.Name...)
		b = append(b, ": "...)
		b = append(b, h.Value...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, rest...) // whatever the application sent after its head
	c.wbuf = b
	px.phase = upTunnel
	px.up.Member.Server.TunnelOpened()
	// The request is answered: it stops counting as in flight, the tunnel
	// counts as a tunnel (the supervisor waits for both when draining).
	px.uncount()
	px.c2u = w.rpool.Get()
	// Client bytes that followed the request head belong upstream.
	px.c2u = append(px.c2u, c.rbuf[ex.req.HeadLen:]...)
	c.rbuf = c.rbuf[:ex.req.HeadLen]
	w.loop.Disarm(&px.up.Timer)
	ex.phase = phaseTunnel
	c.state = stateTunnel
	w.loop.Arm(&c.timer, timerTunnel)
}

// pumpTunnel moves bytes both ways until neither side can make progress.
func (ex *exchange) pumpTunnel() {
	w, px, c := ex.w, ex.px, ex.c
	u := px.up
	for progress := true; progress; {
		progress = false
		// client → upstream
		if px.c2uOff < len(px.c2u) {
			n, errno := loop.Send(u.Fd, px.c2u[px.c2uOff:], false)
			switch errno {
			case 0:
				px.c2uOff += n
				progress = true
			case syscall.EAGAIN:
			default:
				ex.endTunnel()
				return
			}
			if px.c2uOff == len(px.c2u) {
				px.c2u, px.c2uOff = px.c2u[:0], 0
			}
		}
		if len(px.c2u) == 0 && c.readable && !px.tunnelDone[0] {
			n, errno := c.read(px.c2u[:cap(px.c2u)])
			switch {
			case errno == syscall.EAGAIN:
				c.readable = false
			case errno != 0:
				ex.endTunnel()
				return
			case n == 0:
				px.tunnelDone[0] = true
				unix.Shutdown(u.Fd, unix.SHUT_WR)
				progress = true
			default:
				px.c2u = px.c2u[:n]
				progress = true
			}
		}
		// upstream → client
		if c.wOff < len(c.wbuf) {
			n, errno := c.write(c.wbuf[c.wOff:], false)
			switch errno {
			case 0:
				c.wOff += n
				progress = true
			case syscall.EAGAIN:
			default:
				ex.endTunnel()
				return
			}
			if c.wOff == len(c.wbuf) {
				c.wbuf, c.wOff = c.wbuf[:0], 0
			}
		}
		if len(c.wbuf) == 0 && u.Readable && !px.tunnelDone[1] {
			n, errno := loop.Read(u.Fd, c.wbuf[:cap(c.wbuf)])
			switch {
			case errno == syscall.EAGAIN:
				u.Readable = false
			case errno != 0:
				ex.endTunnel()
				return
			case n == 0:
				px.tunnelDone[1] = true
				unix.Shutdown(c.fd, unix.SHUT_WR)
				progress = true
			default:
				c.wbuf = c.wbuf[:n]
				progress = true
			}
		}
		if progress {
			w.loop.Arm(&c.timer, timerTunnel)
		}
	}
	if px.tunnelDone[0] && px.tunnelDone[1] {
		ex.endTunnel()
	}
}

// endTunnel closes both sides of a tunnel.
func (ex *exchange) endTunnel() {
	px, c := ex.px, ex.c
	if px.phase == upTunnel {
		if px.up != nil {
			px.up.Member.Server.TunnelClosed()
		}
		px.phase = upComplete
	}
	ex.w.logAccess(ex)
	px.releaseUp(false)
	c.close()
}
