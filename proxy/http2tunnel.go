package proxy

import (
	"syscall"

	"golang.org/x/sys/unix"

	"frontdoor/proxy/http1"
	"frontdoor/proxy/http2"
	"frontdoor/proxy/loop"
)

// A WebSocket on an HTTP/2 stream (RFC 8441): the client's extended
// CONNECT (:protocol websocket) goes to the application as the HTTP/1.1
// Upgrade it expects (forward.go), and when it answers 101 the stream gets
// 200 and carries the connection's bytes both ways — the client's in its
// DATA frames, credited back only once the application's socket took them
// (so a slow application slows the client), the application's in DATA
// frames within the windows, read from its socket only as fast as the
// stream sends them. Either side's end is passed on (END_STREAM, a
// half-close of the application's socket); the tunnel has the idle
// timeout of HTTP/1.1 tunnels.

// tunnel answers the application's 101 with 200 on the stream and starts
// relaying (stream).
func (st *h2stream) tunnel(rest []byte) {
	ex := st.ex
	w, px := ex.w, ex.px
	resp := &px.resp
	f := w.h2Fields[:0]
	for i := range resp.Headers {
		h := resp.Headers[i]
		if http1.IsHopByHop(http1.LookupHeader(h.Name)) || http1.EqualFold(h.Name, "content-length") ||
			http1.EqualFold(h.Name, "sec-websocket-accept") || http1.EqualFold(h.Name, "date") || http1.EqualFold(h.Name, "server") {
			continue // the HTTP/1.1 handshake's own, or ours
		}
		h.ID = http1.LookupHeader(h.Name)
		f = append(f, h)
	}
	w.h2Fields = f
	ex.status, st.status = 200, 200
	if err := st.h.codec.WriteHeaders(st.id, 200, f, false); err != nil {
		st.abandon()
		return
	}
	st.headSent, st.queued = true, true
	px.phase = upTunnel
	px.up.Member.Server.TunnelOpened()
	// Answered: the request stops counting as in flight, the tunnel
	// counts as a tunnel (the supervisor waits for both when draining).
	px.uncount()
	w.loop.Disarm(&px.up.Timer)
	// out: the application's bytes on their way to the client; body: the
	// client's on their way to the application, at most a stream window
	// of them (what is not credited back cannot be sent).
	px.out.Init(w.proxyCfg.BufferMemory, 0, false)
	px.body.Init(int64(w.h2cfg.InitialWindowSize), 0, false)
	px.out.AppendAlways(rest)
	if len(st.early) > 0 {
		px.body.AppendAlways(st.early)
		st.early = st.early[:0]
	}
	ex.phase = phaseTunnel
	w.loop.Arm(&st.hold, timerTunnel)
}

// tunnelIn takes the client's bytes (a DATA frame; end: its END_STREAM).
func (st *h2stream) tunnelIn(data []byte, end bool) {
	px := st.ex.px
	if len(data) > 0 {
		px.body.AppendAlways(data)
	}
	if end {
		st.reqEnded = true
	}
	st.pumpTunnel()
}

// pumpTunnel moves bytes both ways until neither side can make progress.
func (st *h2stream) pumpTunnel() {
	ex := st.ex
	w, px := ex.w, ex.px
	u := px.up
	cd := &st.h.codec
	st.stall = stallNone
	for progress := true; progress; {
		progress = false
		// client → application
		if pending := px.body.Pending(); pending > 0 {
			errno := px.body.SendTo(u)
			if sent := pending - px.body.Pending(); sent > 0 {
				cd.Consume(st.id, int(sent)) // the client may send that much again
				progress = true
			}
			switch errno {
			case 0:
			case syscall.EAGAIN:
				u.Writable = false
			default:
				st.endTunnel(false)
				return
			}
		}
		if px.body.Pending() == 0 && st.reqEnded && !px.tunnelDone[0] {
			px.tunnelDone[0] = true
			unix.Shutdown(u.Fd, unix.SHUT_WR)
			progress = true
		}
		// application → client
		if px.out.Pending() > 0 {
			switch errno := px.out.SendTo(st); errno {
			case 0:
				progress = true
			case syscall.EAGAIN:
				st.stalled()
			default:
				st.endTunnel(false)
				return
			}
		}
		if px.out.Pending() == 0 && u.Readable && !px.tunnelDone[1] {
			buf := w.upScratch
			n, errno := loop.Read(u.Fd, buf)
			switch {
			case errno == syscall.EAGAIN:
				u.Readable = false
			case errno == syscall.EINTR:
				progress = true
			case errno != 0:
				st.endTunnel(false)
				return
			case n == 0:
				// The application closed: END_STREAM, after which the codec
				// resets the client's half (nothing it sends can be
				// delivered any more), so the tunnel ends both ways.
				px.tunnelDone[1] = true
				if _, err := cd.WriteData(st.id, nil, true); err == nil {
					st.endSent = true
				}
				if !px.tunnelDone[0] {
					px.tunnelDone[0] = true
					unix.Shutdown(u.Fd, unix.SHUT_WR)
				}
				progress = true
			default:
				if n < len(buf) && !u.Hup {
					u.Readable = false // drained: the next arrival raises an edge
				}
				px.out.AppendAlways(buf[:n])
				progress = true
			}
		}
		if progress {
			w.loop.Arm(&st.hold, timerTunnel)
		}
	}
	if px.tunnelDone[0] && px.tunnelDone[1] && px.out.Pending() == 0 {
		st.endTunnel(true)
	}
}

// endTunnel ends the tunnel: after both sides ended (clean), or at a
// failure of either, when the stream is reset for the client to see it.
func (st *h2stream) endTunnel(clean bool) {
	ex := st.ex
	if !clean && !st.endSent {
		st.h.codec.Reset(st.id, http2.ErrCodeCancel)
		st.endSent = true
	}
	ex.w.logAccess(ex)
	st.release()
}

// closeTunnel stops counting an open tunnel (the stream ends, whichever
// way).
func (st *h2stream) closeTunnel() {
	if px := st.ex.px; px != nil && px.phase == upTunnel {
		if px.up != nil {
			px.up.Member.Server.TunnelClosed()
		}
		px.phase = upComplete
	}
}
