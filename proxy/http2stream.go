package proxy

import (
	"bytes"
	"syscall"

	"frontdoor/proxy/http1"
	"frontdoor/proxy/http2"
	"frontdoor/proxy/loop"
)

// An HTTP/2 stream as an exchange sees it (the stream interface of
// exchange.go): the response head the exchange writes as HTTP/1.1-style
// header lines becomes a HEADERS frame, its body — bytes queued with the
// head, a file range read with pread, the proxied response's spool —
// becomes DATA frames within the flow-control windows and the room of the
// codec's output buffer, and the request body comes from the codec's DATA
// events. Routing, static files and proxying are the HTTP/1.1 code.

// stall says why a stream stopped writing its response.
type stall uint8

const (
	stallNone   stall = iota
	stallBuffer       // the codec's output buffer is full: after the socket took some
	stallWindow       // its flow-control window (or the connection's) is closed
	stallReady        // the client granted window: try again
)

// h2stream is one stream's exchange on an HTTP/2 connection. It comes
// from a per-worker free list and lives as long as its exchange.
type h2stream struct {
	h  *h2conn
	id uint32
	ex *exchange
	// buf holds the response head (header lines) and the body bytes
	// queued with it, from headLen on; off is how far the body is sent.
	buf     []byte
	headLen int
	off     int
	status  int
	queued  bool // send has queued a head
	// headSent, endSent: the HEADERS frame, the END_STREAM flag are out.
	headSent, endSent bool
	// wantBody: the exchange reads the request body (readBody); reqEnded:
	// the client has sent all of it.
	wantBody, reqEnded bool
	stall              stall
	// hold: an answer that did not need the request's body (a static file,
	// an error) waits for the request to end, so that the client's
	// mistakes on the stream (a wrong content-length, a second HEADERS)
	// are still seen as the protocol errors they are; for at most
	// holdMaxBody of body (dropped) or the body's idle time (the timer).
	hold     loop.Timer
	holdOver bool
	dropped  int64
	// early holds a WebSocket's bytes that came before the application
	// answered its handshake (http2tunnel.go).
	early []byte
}

// holdMaxBody is the most request body dropped while an answer waits for
// the request's end: past it the answer goes out (and the client's upload
// is reset with NO_ERROR).
const holdMaxBody = 64 << 10

func (w *worker) getH2Stream() *h2stream {
	if n := len(w.h2StreamFree); n > 0 {
		st := w.h2StreamFree[n-1]
		w.h2StreamFree = w.h2StreamFree[:n-1]
		return st
	}
	st := &h2stream{}
	st.hold.Owner = st
	return st
}

// release returns the stream and its exchange to the worker.
func (st *h2stream) release() {
	h := st.h
	w := h.c.w
	h.remove(st)
	if ex := st.ex; ex != nil {
		st.closeTunnel()
		st.ex = nil
		ex.release()
	}
	if st.buf != nil {
		w.wpool.Put(st.buf)
	}
	w.loop.Disarm(&st.hold)
	early := st.early[:0]
	*st = h2stream{early: early}
	st.hold.Owner = st
	w.h2StreamFree = append(w.h2StreamFree, st)
}

// run moves the stream's exchange on as far as it goes without waiting:
// to the application and back, then writing its response. A response
// written completely ends the exchange (finish).
func (st *h2stream) run() {
	for st.ex != nil {
		ex := st.ex
		p := ex.phase
		switch p {
		case phaseUpstream:
			ex.exchangeUpstream()
		case phaseRespond:
			if !st.wantBody && !st.reqEnded && !st.holdOver {
				if !st.hold.Armed() {
					ex.w.loop.Arm(&st.hold, timerH2Hold)
				}
				return
			}
			if ex.writeResponse() {
				st.finish()
			}
			return
		case phaseTunnel:
			st.pumpTunnel()
			return
		}
		if st.ex != ex || ex.phase == p {
			return
		}
	}
}

// finish ends a stream whose response is completely written: the access
// log line, then the exchange and the stream go back to the worker. It
// runs before any other call into the codec, while the request the codec
// lent is still valid.
func (st *h2stream) finish() {
	ex := st.ex
	w := ex.w
	if !st.endSent {
		st.end()
	}
	w.logAccess(ex)
	w.stats.requests.Add(1)
	st.release()
}

// end sends END_STREAM on a response whose last bytes are out: on the
// trailer fields' HEADERS frame when the application sent some.
func (st *h2stream) end() {
	cd := &st.h.codec
	var err error
	if t := st.trailer(); t != nil && st.headSent {
		err = cd.WriteTrailers(st.id, st.parseFields(t))
	} else if st.headSent {
		_, err = cd.WriteData(st.id, nil, true)
	} else {
		err = cd.WriteHeaders(st.id, st.status, st.fields(), true)
		st.headSent = true
	}
	st.endSent = err == nil
}

// abandon ends the stream's exchange before its response is complete:
// the client reset it, or the connection is ending.
func (st *h2stream) abandon() {
	ex := st.ex
	if ex != nil && ex.req != nil && !ex.logged {
		ex.w.logCutShort(ex)
	}
	st.release()
}

// receive takes request body bytes from a DATA frame (end: the request is
// complete) and gives the client its credit back once they are stored.
func (st *h2stream) receive(data []byte, end bool) {
	cd := &st.h.codec
	ex := st.ex
	if ex.phase == phaseTunnel {
		st.tunnelIn(data, end)
		return
	}
	if end {
		st.reqEnded = true
	}
	if ex.connectUpgrade && ex.phase == phaseUpstream {
		// A WebSocket's first bytes, before the application answered:
		// kept for it, credited once it has them.
		st.early = append(st.early, data...)
		return
	}
	if !st.wantBody || ex.phase != phaseBody {
		// A body nobody reads (the answer came first, or it was
		// refused): dropped, and credited so the connection goes on.
		if len(data) > 0 {
			cd.Consume(st.id, len(data))
		}
		st.dropped += int64(len(data))
		if !st.wantBody && (st.reqEnded || st.dropped > holdMaxBody) && !st.holdOver {
			st.holdOver = true
			st.run() // the held answer goes out
		}
		return
	}
	if len(data) > 0 {
		err := ex.receiveBody(data)
		cd.Consume(st.id, len(data))
		if err != nil {
			ex.refuseBody(err)
			st.run()
			return
		}
	}
	if end {
		ex.bodyReceived()
	} else {
		ex.bodyArriving()
	}
	st.run()
}

// readBody starts the delivery of the request body (stream): the codec's
// DATA events carry it. A client that sent "Expect: 100-continue" waits
// for the interim response first.
func (st *h2stream) readBody() {
	st.wantBody = true
	if st.ex.req.Expect100 {
		st.h.codec.WriteHeaders(st.id, 100, nil, false)
	}
	if st.reqEnded {
		// The body ended before the exchange asked for it (trailers only).
		st.ex.bodyReceived()
	}
}

// chunked: HTTP/2 delimits a body by the end of its stream (stream).
func (st *h2stream) chunked() bool { return false }

// head begins a response head (stream): the status goes in the HEADERS
// frame's :status, the lines (Server, Date, then the exchange's) become
// its fields when the head is sent.
func (st *h2stream) head(status int, _ []byte) []byte {
	w := st.h.c.w
	st.status = status
	if st.buf == nil {
		st.buf = w.wpool.Get()
	}
	b := append(st.buf[:0], "Server: frontdoor\r\nDate: "...)
	b = append(b, w.httpDate()...)
	return append(b, "\r\n"...)
}

// send queues the head and the body bytes that go with it (stream).
func (st *h2stream) send(head, body []byte) {
	st.headLen = len(head)
	st.buf = append(head, body...)
	st.off = st.headLen
	st.queued = true
}

// fits reports whether n body bytes fit after head in its buffer (stream).
func (st *h2stream) fits(head []byte, n int) bool { return len(head)+n <= cap(head) }

// trailer returns the trailer section of the application's chunked
// response once it has arrived whole, nil when there is none.
func (st *h2stream) trailer() []byte {
	px := st.ex.px
	if px == nil || px.phase != upComplete || !px.respDec.Done() || len(px.respDec.Trailer) == 0 {
		return nil
	}
	return px.respDec.Trailer
}

// fields parses the queued head's lines into the worker's field scratch.
func (st *h2stream) fields() []http1.Header { return st.parseFields(st.buf[:st.headLen]) }

// parseFields parses header lines ("Name: value\r\n") into the worker's
// field scratch.
func (st *h2stream) parseFields(lines []byte) []http1.Header {
	w := st.h.c.w
	f := w.h2Fields[:0]
	for len(lines) > 0 {
		i := bytes.IndexByte(lines, '\n')
		if i < 0 {
			i = len(lines)
		}
		line := bytes.TrimRight(lines[:i], "\r")
		lines = lines[min(i+1, len(lines)):]
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		name := line[:colon]
		f = append(f, http1.Header{Name: name, Value: bytes.TrimLeft(line[colon+1:], " \t"), ID: http1.LookupHeader(name)})
	}
	w.h2Fields = f
	return f
}

// flush frames what is queued into the codec's output: the head, the
// body bytes after it, the file range, the response spool, and the end of
// the stream once nothing more will come (stream). It returns true when
// everything queued is framed, false when the stream must wait (stall
// says for what) or was reset.
func (st *h2stream) flush() bool {
	ex := st.ex
	cd := &st.h.codec
	st.stall = stallNone
	if !st.queued {
		return true
	}
	px := ex.px
	// final: the exchange will queue nothing more, so the last bytes
	// carry END_STREAM — unless the application's response has trailer
	// fields, whose HEADERS frame ends the stream (end). A body the
	// application cut short never ends the stream: the relay resets it
	// (cut), or the client would take what came for the whole response.
	final := px == nil || px.phase == upComplete
	closing := final && st.trailer() == nil
	fileLeft := func() bool { return ex.file != nil && ex.fileOff < ex.fileEnd }
	spoolLeft := func() bool { return px != nil && px.out.Pending() > 0 }
	if !st.headSent {
		end := closing && st.off == len(st.buf) && !fileLeft() && !spoolLeft()
		if err := cd.WriteHeaders(st.id, st.status, st.fields(), end); err != nil {
			st.abandon()
			return false
		}
		st.headSent = true
		if end {
			st.endSent = true
			return true
		}
	}
	if st.off < len(st.buf) {
		end := closing && !fileLeft() && !spoolLeft()
		n, err := cd.WriteData(st.id, st.buf[st.off:], end)
		if err != nil {
			st.abandon()
			return false
		}
		st.off += n
		if st.off < len(st.buf) {
			st.stalled()
			return false
		}
		if end {
			st.endSent = true
			return true
		}
	}
	for fileLeft() {
		if !st.sendFile(closing && !spoolLeft()) {
			return false
		}
		if st.endSent {
			return true
		}
	}
	if spoolLeft() {
		switch errno := px.out.SendTo(st); errno {
		case 0:
		case syscall.EAGAIN:
			st.stalled()
			return false
		default:
			st.abandon()
			return false
		}
	}
	if final && !st.endSent {
		st.end()
	}
	return true
}

// sendFile frames the next piece of the exchange's file range, read with
// pread (the bytes must be framed, and over TLS encrypted, so no
// sendfile). end: the range's last byte ends the stream. It returns false
// when the stream must wait or ended.
func (st *h2stream) sendFile(end bool) bool {
	ex := st.ex
	w := ex.w
	f := ex.file
	buf := w.tlsScratch[:min(int64(len(w.tlsScratch)), ex.fileEnd-ex.fileOff)]
	r, errno := loop.Pread(f.Fd, buf, ex.fileOff)
	if errno == syscall.EINTR {
		return true
	}
	if errno != 0 || r == 0 {
		// The file shrank under us: the head promised more bytes than
		// exist, so the stream is reset for the client to see it.
		w.log.Warn("file shorter than announced; resetting the stream", "file", f.Name)
		st.cut()
		return false
	}
	last := end && ex.fileOff+int64(r) == ex.fileEnd
	n, err := st.h.codec.WriteData(st.id, buf[:r], last)
	if err != nil {
		st.abandon()
		return false
	}
	ex.fileOff += int64(n)
	ex.sent += int64(n)
	if n < r {
		st.stalled() // the rest is read again when the stream goes on
		return false
	}
	if last {
		st.endSent = true
	}
	return true
}

// stalled records why a write took less than it was given.
func (st *h2stream) stalled() {
	if st.h.codec.Writable() {
		st.stall = stallWindow
	} else {
		st.stall = stallBuffer
	}
}

// Send frames spool bytes as DATA (upstream.Sink), as much as the windows
// and the output buffer take: EAGAIN when they take nothing.
func (st *h2stream) Send(p []byte) (int, syscall.Errno) {
	n, err := st.h.codec.WriteData(st.id, p, false)
	switch {
	case err != nil:
		return 0, syscall.EPIPE
	case n == 0:
		return 0, syscall.EAGAIN
	}
	return n, 0
}

// SendFile frames spool bytes kept in its temporary file (upstream.Sink).
func (st *h2stream) SendFile(fd int, off int64, n int) (int, syscall.Errno) {
	w := st.h.c.w
	buf := w.tlsScratch[:min(len(w.tlsScratch), n)]
	r, errno := loop.Pread(fd, buf, off)
	if errno != 0 || r == 0 {
		return 0, syscall.EIO
	}
	return st.Send(buf[:r])
}

// OnTimeout is the loop's entry for the stream's timer: the request's
// body stopped arriving, and the answer held for its end goes out; or a
// WebSocket stayed idle too long, and ends.
func (st *h2stream) OnTimeout(kind loop.TimerKind) {
	if kind == timerTunnel {
		h := st.h
		st.endTunnel(false)
		h.pump()
		h.settle()
		return
	}
	st.holdOver = true
	st.resume()
}

// resume moves the stream on after its exchange made progress outside
// the connection's events (the application, a timer), then sends what it
// wrote (stream).
func (st *h2stream) resume() {
	h := st.h
	if h == nil || st.ex == nil {
		return
	}
	c := h.c
	st.run()
	if c.state == stateHTTP2 && c.h2 == h {
		h.pump()
		h.settle()
	}
}

// cut resets a stream whose response cannot be completed (the
// application went away in the middle): the client sees the reset rather
// than a short body taken for whole (stream).
func (st *h2stream) cut() {
	st.h.codec.Reset(st.id, http2.ErrCodeInternal)
	st.abandon()
}

// closed reports a stream that ended, and its exchange with it (stream).
func (st *h2stream) closed() bool { return st.ex == nil }
