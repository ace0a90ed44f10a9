package proxy

import (
	"bytes"
	"syscall"

	"frontdoor/proxy/http1"
	"frontdoor/proxy/loop"
)

// emptyReason stands for a status line without a reason phrase: not nil,
// which head reads as "frontdoor's own status".
var emptyReason = []byte{}

// startResponse sends the client the response head rewritten for it and
// starts relaying the body. The body is read from the application as fast
// as it writes (memory, then a temporary file) so its worker is free even
// while a slow client drains; streams (event streams, X-Accel-Buffering:
// no) are relayed with back-pressure instead.
func (ex *exchange) startResponse() {
	w, px := ex.w, ex.px
	resp := &px.resp
	rest := px.upBuf[resp.HeadLen:]
	if resp.Upgrade {
		if !ex.req.Upgrade {
			ex.badGateway("101 Switching Protocols without an upgrade request")
			return
		}
		ex.s.tunnel(rest)
		return
	}
	if target := resp.HeaderNamed("x-accel-redirect"); target != nil {
		ex.serveAccel(target, false)
		return
	}
	if target := resp.HeaderNamed("x-sendfile"); target != nil {
		ex.serveAccel(target, true)
		return
	}
	px.group.MarkSuccess(px.up.Member)
	px.streaming = isStreaming(resp)
	chunked := ex.s.chunked()
	switch resp.Framing {
	case http1.FramingClose:
		ex.closeAfter = true
	case http1.FramingChunked:
		if !chunked {
			// Decoded, and delimited by the protocol: HTTP/1.0 has no
			// chunking, the close ends the body.
			px.decode = true
			ex.closeAfter = true
		}
	}
	px.respLeft = resp.ContentLength
	px.respDec.Reset()
	// A client that does not take the chunked framing may still take the
	// trailer fields (an HTTP/2 stream: a trailing HEADERS frame).
	px.respDec.KeepTrailer = !chunked
	px.reusable = resp.KeepAlive
	memLimit, fileMax := w.proxyCfg.BufferMemory, w.proxyCfg.MaxTempFile
	if px.streaming {
		fileMax = 0
	}
	px.out.Init(memLimit, fileMax, false)
	coding := w.chooseCompression(ex.req, resp, px.streaming, px.route)
	if coding != codecNone {
		// The body is decoded from any chunking, compressed, and framed
		// anew: chunked for HTTP/1.1, by closing for HTTP/1.0.
		px.decode = resp.Framing == http1.FramingChunked
		if !chunked {
			ex.closeAfter = true
		}
		px.comp = w.getCompressor(coding, px, chunked)
	}

	reason := resp.Reason
	if reason == nil {
		reason = emptyReason
	}
	b := ex.headReason(resp.Status, reason)
	b = appendUpstreamHeaders(b, resp, px.comp != nil)
	switch {
	case px.comp != nil:
		b = append(b, "Content-Encoding: "...)
		b = append(b, contentEncoding[px.comp.kind]...)
		b = append(b, "\r\n"...)
		if !varyListsAcceptEncoding(resp) {
			b = append(b, "Vary: Accept-Encoding\r\n"...)
		}
		if px.comp.chunked {
			b = append(b, "Transfer-Encoding: chunked\r\n"...)
		}
	case resp.Framing == http1.FramingLength || (resp.Framing == http1.FramingNone && resp.ContentLength >= 0):
		b = appendContentLength(b, resp.ContentLength)
	case resp.Framing == http1.FramingChunked && !px.decode:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	if resp.HeaderNamed("x-request-id") == nil {
		b = append(b, "X-Request-ID: "...)
		b = append(b, px.requestID...)
		b = append(b, "\r\n"...)
	}
	ex.phase, px.phase = phaseRespond, upRelay
	switch {
	case resp.Framing == http1.FramingNone:
		// A response that must have no body (HEAD, 204, 304) ends with
		// its head, but servers send one anyway (gunicorn 20.1 writes
		// Django's body after the head of a HEAD response), and it may
		// arrive after any check: pooled, the connection would hand it
		// to the next request as that request's answer. Never reuse it.
		ex.send(b, nil)
		px.phase = upComplete
		px.reusable = false
	case resp.Framing == http1.FramingLength && resp.ContentLength == 0:
		ex.send(b, nil)
		px.phase = upComplete
		px.reusable = px.reusable && len(rest) == 0
	case len(rest) > 0 && px.comp == nil && !px.decode && resp.Framing == http1.FramingLength &&
		int64(len(rest)) <= px.respLeft && ex.s.fits(b, len(rest)):
		// A small body that came with the head goes out with it: one send.
		ex.send(b, rest)
		px.respLeft -= int64(len(rest))
		if px.respLeft == 0 {
			px.phase = upComplete
		}
	case len(rest) > 0:
		ex.send(b, nil)
		ex.takeResponseBody(rest, true)
	default:
		ex.send(b, nil)
	}
	if px.bodyRead() {
		px.bodyComplete()
		px.releaseUp(px.reusable)
	}
}

// isStreaming reports responses relayed as they come rather than buffered.
func isStreaming(resp *http1.Response) bool {
	if ct := resp.Header(http1.HeaderContentType); ct != nil && bytes.HasPrefix(bytes.TrimSpace(ct), []byte("text/event-stream")) {
		return true
	}
	if v := resp.HeaderNamed("x-accel-buffering"); v != nil && http1.EqualFold(bytes.TrimSpace(v), "no") {
		return true
	}
	return false
}

// appendUpstreamHeaders copies the application's header fields, minus
// hop-by-hop fields, framing (set by us), Date and Server (ours) and the
// internal X-Accel-* instructions. When the edge compresses, a strong ETag
// becomes weak: the bytes are no longer the application's.
func appendUpstreamHeaders(b []byte, resp *http1.Response, compressing bool) []byte {
	connection := resp.Header(http1.HeaderConnection)
	for i := range resp.Headers {
		h := &resp.Headers[i]
		if http1.IsHopByHop(h.ID) || h.ID == http1.HeaderContentLength {
			continue
		}
		if http1.EqualFold(h.Name, "date") || http1.EqualFold(h.Name, "server") ||
			(len(h.Name) > 8 && http1.EqualFold(h.Name[:8], "x-accel-")) || listsToken(connection, h.Name) {
			continue
		}
		b = append(b, h.Name...)
		b = append(b, ": "...)
		if compressing && http1.EqualFold(h.Name, "etag") && len(h.Value) > 0 && h.Value[0] == '"' {
			b = append(b, "W/"...)
		}
		b = append(b, h.Value...)
		b = append(b, "\r\n"...)
	}
	return b
}

// varyListsAcceptEncoding reports whether the application's Vary already
// names Accept-Encoding (Django's GZipMiddleware and cache middleware add
// it): a second field would repeat it.
func varyListsAcceptEncoding(resp *http1.Response) bool {
	for i := range resp.Headers {
		h := &resp.Headers[i]
		if http1.EqualFold(h.Name, "vary") && (listsToken(h.Value, []byte("accept-encoding")) || listsToken(h.Value, []byte("*"))) {
			return true
		}
	}
	return false
}

// bodyDone marks the response body completely read, unless it was cut
// short.
func (px *proxyExchange) bodyDone() {
	if px.phase != upTruncated {
		px.phase = upComplete
	}
}

// bodyComplete runs once the whole response body has been read: it ends
// the compressed stream.
func (px *proxyExchange) bodyComplete() {
	if px.comp != nil && px.phase != upTruncated {
		px.comp.finish()
		px.w.putCompressor(px.comp)
		px.comp = nil
	}
}

// emit passes decoded body bytes on: through the compressor, or into the
// spool.
func (px *proxyExchange) emit(p []byte) {
	if px.comp != nil {
		px.comp.write(p)
		return
	}
	px.out.AppendAlways(p)
}

// takeResponseBody accounts for response body bytes read from upstream.
// When copyIn is true the bytes are in a scratch buffer and are copied
// into the spool; when false they are the tail of the spool's last chunk,
// just read there, and are committed (or not) in place.
func (ex *exchange) takeResponseBody(data []byte, copyIn bool) {
	px := ex.px
	var keep []byte // body bytes to keep, in order
	switch px.resp.Framing {
	case http1.FramingLength:
		n := int(min(int64(len(data)), px.respLeft))
		keep = data[:n]
		px.respLeft -= int64(n)
		if n < len(data) {
			px.reusable = false
		}
		if px.respLeft == 0 {
			px.bodyDone()
		}
	case http1.FramingClose:
		keep = data
	case http1.FramingChunked:
		if px.decode {
			px.takeDecoded(data)
			return
		}
		used := 0
		for used < len(data) && !px.respDec.Done() {
			n, _, err := px.respDec.Decode(data[used:])
			used += n
			if err != nil {
				px.reusable = false
				px.phase = upTruncated
				break
			}
			if n == 0 {
				break
			}
		}
		keep = data[:used]
		if px.respDec.Done() {
			px.bodyDone()
			if used < len(data) {
				px.reusable = false
			}
		}
	}
	switch {
	case px.comp != nil:
		px.comp.write(keep)
	case copyIn:
		px.out.AppendAlways(keep)
	default:
		px.out.Commit(len(keep))
	}
}

// takeDecoded de-chunks a response for a client that cannot take it
// chunk-framed.
func (px *proxyExchange) takeDecoded(data []byte) {
	used := 0
	for used < len(data) && !px.respDec.Done() {
		n, chunk, err := px.respDec.Decode(data[used:])
		used += n
		if err != nil {
			px.reusable, px.phase = false, upTruncated
			return
		}
		if len(chunk) > 0 {
			px.emit(chunk)
		}
		if n == 0 {
			break
		}
	}
	if px.respDec.Done() {
		px.bodyDone()
		if used < len(data) {
			px.reusable = false
		}
	}
}

// pumpUpstream reads the response body from the application while the
// spool has room, and releases the upstream connection as soon as the body
// is complete. With spill false it stops when the memory part is full
// (unless the spool already writes to its file, which the order of the
// bytes then requires): a client that keeps up is served from memory, and
// only what a slow client leaves behind goes to the temporary file. It
// returns true when it read something.
func (ex *exchange) pumpUpstream(spill bool) bool {
	w, px := ex.w, ex.px
	u := px.up
	progress, paused := false, false
	for u != nil && u.Readable && !px.bodyRead() {
		room := px.out.Room()
		if px.streaming || (!spill && !px.out.InFile()) {
			room = px.out.MemLimit() - px.out.Pending()
		}
		if room <= 0 {
			// Back-pressure: the client must drain first. The
			// application is not late meanwhile, so its read timer
			// (response_timeout) waits too.
			paused = true
			w.loop.Disarm(&u.Timer)
			break
		}
		// Read straight into the spool's memory when the bytes are kept as
		// they are; de-chunking, or a spool writing to its file, reads into
		// scratch and copies.
		var buf []byte
		inSpool := false
		if !px.decode && px.comp == nil {
			if t := px.out.Tail(); t != nil {
				buf, inSpool = t, true
			}
		}
		if buf == nil {
			buf = w.upScratch
		}
		if int64(len(buf)) > room {
			buf = buf[:room]
		}
		n, errno := loop.Read(u.Fd, buf)
		switch {
		case errno == syscall.EAGAIN:
			u.Readable = false
			continue
		case errno == syscall.EINTR:
			continue
		case errno != 0 || n == 0:
			px.reusable = false
			if px.resp.Framing == http1.FramingClose && errno == 0 {
				px.phase = upComplete
			} else {
				px.phase = upTruncated
				ex.closeAfter = true
			}
			continue
		}
		if n < len(buf) && !u.Hup {
			u.Readable = false // drained: the next arrival raises an edge
		}
		progress = true
		ex.takeResponseBody(buf[:n], !inSpool)
		if !px.bodyRead() {
			w.loop.Arm(&u.Timer, timerUpRead)
		}
	}
	if px.bodyRead() && px.up != nil {
		px.bodyComplete()
		px.releaseUp(px.reusable && px.phase != upTruncated)
	} else if u != nil && !px.bodyRead() && !paused && !u.Timer.Armed() {
		w.loop.Arm(&u.Timer, timerUpRead) // waiting for the application again
	}
	return progress
}

// relay is the respond phase's step for a proxied response: read a
// memory's worth from the application, send it, again; when the client
// cannot take more, take the rest off the application into the temporary
// file so that its worker is free while the client drains.
func (ex *exchange) relay() bool {
	px, s := ex.px, ex.s
	idle := false
	for {
		read := ex.pumpUpstream(false)
		if s.closed() {
			return false
		}
		if !s.flush() {
			if !s.closed() && !px.bodyRead() {
				ex.pumpUpstream(true)
			}
			return false
		}
		if px.bodyRead() {
			if px.phase == upTruncated {
				s.cut() // the client must see the body end early
				return false
			}
			return true
		}
		if !read {
			// Nothing read: the application has sent nothing new, or
			// back-pressure left its bytes in the socket, where no new
			// event will announce them. The flush made room: pump once
			// more before waiting for the application.
			if idle || px.up == nil || !px.up.Readable {
				return false
			}
			idle = true
			continue
		}
		idle = false
	}
}
