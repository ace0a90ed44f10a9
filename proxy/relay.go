package proxy

import (
	"bytes"
	"frontdoor/proxy/loop"
	"strconv"
	"syscall"

	"frontdoor/proxy/http1"
)

// startResponse sends the client the response head rewritten for it and
// starts relaying the body. The body is read from the application as fast
// as it writes (memory, then a temporary file) so its worker is free even
// while a slow client drains; streams (event streams, X-Accel-Buffering:
// no) are relayed with back-pressure instead.
func (w *worker) startResponse(c *conn, px *proxyExchange) {
	ex := c.ex
	resp := &px.resp
	rest := px.upBuf[resp.HeadLen:]
	if resp.Upgrade {
		if !ex.req.Upgrade {
			w.badGateway(c, "101 Switching Protocols without an upgrade request")
			return
		}
		w.startTunnel(c, px, rest)
		return
	}
	if target := resp.HeaderNamed("x-accel-redirect"); target != nil {
		w.serveAccel(c, px, target, false)
		return
	}
	if target := resp.HeaderNamed("x-sendfile"); target != nil {
		w.serveAccel(c, px, target, true)
		return
	}
	px.group.MarkSuccess(px.up.Member)
	ex.status = resp.Status
	px.streaming = isStreaming(resp)
	switch resp.Framing {
	case http1.FramingClose:
		ex.keepAlive = false
	case http1.FramingChunked:
		if ex.req.Minor == 0 {
			px.decode = true
			ex.keepAlive = false // HTTP/1.0 has no chunking: the close ends the body
		}
	}
	px.respLeft = resp.ContentLength
	px.respDec.Reset()
	px.reusable = resp.KeepAlive
	memLimit, fileMax := w.proxyCfg.BufferMemory, w.proxyCfg.MaxTempFile
	if px.streaming {
		fileMax = 0
	}
	px.out.Init(memLimit, fileMax, false)
	coding := w.chooseCompression(&ex.req, resp, px.streaming)
	if coding != codecNone {
		// The body is decoded from any chunking, compressed, and framed
		// anew: chunked for HTTP/1.1, by closing for HTTP/1.0.
		px.decode = resp.Framing == http1.FramingChunked
		if ex.req.Minor == 0 {
			ex.keepAlive = false
		}
		px.comp = w.getCompressor(coding, px, ex.req.Minor == 1)
	}

	b := w.appendStatus(c.wbuf[:0], resp)
	b = w.appendCommon(b, ex)
	b = appendUpstreamHeaders(b, resp, px.comp != nil)
	switch {
	case px.comp != nil:
		if px.comp.kind == codecGzip {
			b = append(b, "Content-Encoding: gzip\r\n"...)
		} else {
			b = append(b, "Content-Encoding: zstd\r\n"...)
		}
		b = append(b, "Vary: Accept-Encoding\r\n"...)
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
	c.wbuf = append(b, "\r\n"...)
	c.state = stateWrite
	switch {
	case resp.Framing == http1.FramingNone:
		// A response that must have no body (HEAD, 204, 304) ends with
		// its head, but servers send one anyway (gunicorn 20.1 writes
		// Django's body after the head of a HEAD response), and it may
		// arrive after any check: pooled, the connection would hand it
		// to the next request as that request's answer. Never reuse it.
		px.upDone = true
		px.reusable = false
	case resp.Framing == http1.FramingLength && resp.ContentLength == 0:
		px.upDone = true
		px.reusable = px.reusable && len(rest) == 0
	case len(rest) > 0 && px.comp == nil && !px.decode && resp.Framing == http1.FramingLength &&
		int64(len(rest)) <= px.respLeft && len(c.wbuf)+len(rest) <= cap(c.wbuf):
		// A small body that came with the head goes out with it: one send.
		c.wbuf = append(c.wbuf, rest...)
		ex.sent = int64(len(rest))
		px.respLeft -= int64(len(rest))
		px.upDone = px.respLeft == 0
	case len(rest) > 0:
		w.takeBody(px, rest, true)
	}
	if px.upDone {
		w.bodyComplete(px)
		w.releaseUp(px, px.reusable)
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

// appendStatus writes the status line for an upstream status.
func (w *worker) appendStatus(b []byte, resp *http1.Response) []byte {
	if line, ok := w.e.texts.statusLine[resp.Status]; ok {
		return append(b, line...)
	}
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(resp.Status), 10)
	b = append(b, ' ')
	b = append(b, resp.Reason...)
	return append(b, "\r\n"...)
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

// bodyComplete runs once the whole response body has been read: it ends
// the compressed stream.
func (w *worker) bodyComplete(px *proxyExchange) {
	if px.comp != nil && !px.truncated {
		px.comp.finish()
		w.putCompressor(px.comp)
		px.comp = nil
	}
}

// emit passes decoded body bytes on: through the compressor, or into the
// spool.
func (w *worker) emit(px *proxyExchange, p []byte) {
	if px.comp != nil {
		px.comp.write(p)
		return
	}
	px.out.AppendAlways(p)
}

// takeBody accounts for response body bytes read from upstream. When
// inSpool is false the bytes are in a scratch buffer and are copied into
// the spool; when true they are the tail of the spool's last chunk, just
// read there, and are committed (or not) in place. It returns whether the
// spool accepted them.
func (w *worker) takeBody(px *proxyExchange, data []byte, copyIn bool) bool {
	var keep []byte // body bytes to keep, in order
	switch px.resp.Framing {
	case http1.FramingLength:
		n := int(min(int64(len(data)), px.respLeft))
		keep = data[:n]
		px.respLeft -= int64(n)
		if n < len(data) {
			px.reusable = false
		}
		px.upDone = px.respLeft == 0
	case http1.FramingClose:
		keep = data
	case http1.FramingChunked:
		if px.decode {
			return w.takeDecoded(px, data)
		}
		used := 0
		for used < len(data) && !px.respDec.Done() {
			n, _, err := px.respDec.Decode(data[used:])
			used += n
			if err != nil {
				px.reusable = false
				px.truncated = true
				px.upDone = true
				break
			}
			if n == 0 {
				break
			}
		}
		keep = data[:used]
		if px.respDec.Done() {
			px.upDone = true
			if used < len(data) {
				px.reusable = false
			}
		}
	}
	if px.comp != nil {
		px.comp.write(keep)
		return true
	}
	if copyIn {
		px.out.AppendAlways(keep)
		return true
	}
	px.out.Commit(len(keep))
	return true
}

// takeDecoded de-chunks a response for an HTTP/1.0 client.
func (w *worker) takeDecoded(px *proxyExchange, data []byte) bool {
	used := 0
	for used < len(data) && !px.respDec.Done() {
		n, chunk, err := px.respDec.Decode(data[used:])
		used += n
		if err != nil {
			px.reusable, px.truncated, px.upDone = false, true, true
			return true
		}
		if len(chunk) > 0 {
			w.emit(px, chunk)
		}
		if n == 0 {
			break
		}
	}
	if px.respDec.Done() {
		px.upDone = true
		if used < len(data) {
			px.reusable = false
		}
	}
	return true
}

// pumpUpstream reads the response body from the application while the
// spool has room, and releases the upstream connection as soon as the body
// is complete. With spill false it stops when the memory part is full
// (unless the spool already writes to its file, which the order of the
// bytes then requires): a client that keeps up is served from memory, and
// only what a slow client leaves behind goes to the temporary file. It
// returns true when it read something.
func (w *worker) pumpUpstream(c *conn, px *proxyExchange, spill bool) bool {
	u := px.up
	progress, paused := false, false
	for u != nil && u.Readable && !px.upDone {
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
			if px.resp.Framing == http1.FramingClose && errno == 0 {
				px.upDone, px.reusable = true, false
			} else {
				px.upDone, px.truncated, px.reusable = true, true, false
				c.ex.keepAlive = false
			}
			continue
		}
		if n < len(buf) && !u.Hup {
			u.Readable = false // drained: the next arrival raises an edge
		}
		progress = true
		w.takeBody(px, buf[:n], !inSpool)
		if !px.upDone {
			w.loop.Arm(&u.Timer, timerUpRead)
		}
	}
	if px.upDone && px.up != nil {
		w.bodyComplete(px)
		w.releaseUp(px, px.reusable && !px.truncated)
	} else if u != nil && !px.upDone && !paused && !u.Timer.Armed() {
		w.loop.Arm(&u.Timer, timerUpRead) // waiting for the application again
	}
	return progress
}

// relay is drive's step for a proxied response in stateWrite: read a
// memory's worth from the application, send it, again; when the client's
// socket is full, take the rest off the application into the temporary
// file so that its worker is free while the client drains.
func (w *worker) relay(c *conn) bool {
	px := c.ex.px
	idle := false
	for {
		read := w.pumpUpstream(c, px, false)
		if c.state == stateClosed {
			return false
		}
		if !w.flush(c) {
			if c.state != stateClosed && !px.upDone {
				w.pumpUpstream(c, px, true)
			}
			return false
		}
		if px.upDone {
			if px.truncated {
				w.closeConn(c) // the client must see the body end early
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
