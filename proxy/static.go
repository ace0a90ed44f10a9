package proxy

import (
	"bytes"
	"strconv"

	"frontdoor/proxy/http1"
)

// serveStatic answers a request on a static route: GET and HEAD only, the
// file confined to the route's root, conditional and range requests,
// precompressed siblings, and the body from memory or with sendfile.
func (w *worker) serveStatic(c *conn, rt *route) {
	ex := c.ex
	r := &ex.req
	head := string(r.Method) == "HEAD"
	if !head && string(r.Method) != "GET" {
		if ex.req.ContentLength != 0 {
			ex.keepAlive, ex.linger = false, true
		}
		w.writeErrorWith(c, 405, "Allow: GET, HEAD\r\n")
		return
	}
	below := r.Path[len(rt.prefix):]
	rel, ok := cleanPath(w.scratch, below)
	trailingSlash := r.Path[len(r.Path)-1] == '/'
	if !ok {
		w.respondError(c, 400)
		return
	}
	if !rt.static.dotfiles && hasDotSegment(rel, len(rt.prefix) == 1) {
		w.respondError(c, 404) // like a missing file: its existence is not told
		return
	}
	f, err := w.files.lookup(rt, rel, w.loop.Now())
	if err != nil {
		if isNotFound(err) {
			w.respondError(c, 404)
		} else {
			w.log.Warn("static file", "file", string(rel), "err", err)
			w.respondError(c, 403)
		}
		return
	}
	if f.dir {
		w.serveDirectory(c, rt, rel, trailingSlash)
		return
	}
	if trailingSlash {
		w.respondError(c, 404) // "/file.css/" names a directory that is not one
		return
	}
	w.serveFile(c, rt, f, head)
}

// serveDirectory redirects "/dir" to "/dir/" and serves the index of
// "/dir/". There are no listings.
func (w *worker) serveDirectory(c *conn, rt *route, rel []byte, trailingSlash bool) {
	ex := c.ex
	s := rt.static
	if s.index == "" {
		w.respondError(c, 404)
		return
	}
	if !trailingSlash && len(ex.req.Path) > 0 {
		w.redirectToSlash(c)
		return
	}
	// rel lives in w.scratch; the index name is appended in place.
	var name []byte
	if len(rel) == 1 && rel[0] == '.' {
		name = append(rel[:0], s.index...)
	} else {
		name = append(append(rel, '/'), s.index...)
	}
	f, err := w.files.lookup(rt, name, w.loop.Now())
	if err != nil || f.dir {
		w.respondError(c, 404)
		return
	}
	w.serveFile(c, rt, f, string(ex.req.Method) == "HEAD")
}

func (w *worker) redirectToSlash(c *conn) {
	ex := c.ex
	ex.status = 301
	b := w.appendHead(c.wbuf[:0], 301, ex)
	b = append(b, "Location: "...)
	b = append(b, ex.req.Path...)
	b = append(b, '/')
	if ex.req.Query != nil {
		b = append(b, '?')
		b = append(b, ex.req.Query...)
	}
	b = append(b, "\r\nContent-Length: 0\r\n\r\n"...)
	c.wbuf = b
}

// serveFile writes the head for f and queues its body.
func (w *worker) serveFile(c *conn, rt *route, f *cachedFile, head bool) {
	w.serveFileWith(c, rt, f, head, nil)
}

// serveFileWith is serveFile with extra header lines (each ending in CRLF);
// when they name a Content-Type, the file's own is left out.
func (w *worker) serveFileWith(c *conn, rt *route, f *cachedFile, head bool, extra []byte) {
	ex := c.ex
	r := &ex.req
	if f.vary {
		f = pickEncoding(f, r.Header(http1.HeaderAcceptEncoding))
	}
	hdr := f.hdr
	if len(extra) > 0 && hasField(extra, "content-type") {
		hdr = hdr[f.ctLen:]
	}
	if notModified(r, f) {
		ex.status = 304
		b := w.appendHead(c.wbuf[:0], 304, ex)
		b = append(b, hdr...)
		b = append(b, extra...)
		c.wbuf = append(b, "\r\n"...)
		return
	}
	start, end, status := int64(0), f.size, 200
	if !head {
		if rng := r.Header(http1.HeaderRange); rng != nil && ifRangeMatches(r, f) {
			s, e, ok := parseRange(rng, f.size)
			switch {
			case ok:
				start, end, status = s, e, 206
			case s == -2: // unsatisfiable
				ex.status = 416
				b := w.appendHead(c.wbuf[:0], 416, ex)
				b = append(b, "Content-Range: bytes */"...)
				b = strconv.AppendInt(b, f.size, 10)
				c.wbuf = append(b, "\r\nContent-Length: 0\r\n\r\n"...)
				return
			}
		}
	}
	ex.status = status
	b := w.appendHead(c.wbuf[:0], status, ex)
	b = append(b, hdr...)
	b = append(b, extra...)
	if status == 206 {
		b = append(b, "Content-Range: bytes "...)
		b = strconv.AppendInt(b, start, 10)
		b = append(b, '-')
		b = strconv.AppendInt(b, end-1, 10)
		b = append(b, '/')
		b = strconv.AppendInt(b, f.size, 10)
		b = append(b, "\r\n"...)
	}
	b = appendContentLength(b, end-start)
	b = append(b, "\r\n"...)
	ex.bodyLen = end - start
	if head {
		c.wbuf = b
		return
	}
	if f.inline != nil && int64(len(b))+end-start <= int64(cap(b)) {
		b = append(b, f.inline[start:end]...)
		ex.sent = end - start
		c.wbuf = b
		return
	}
	c.wbuf = b
	if f.inline != nil {
		// Inline content that does not fit next to the head: send it in
		// the head's wake from memory.
		c.wbuf = append(c.wbuf, f.inline[start:end]...)
		ex.sent = end - start
		return
	}
	w.files.acquire(f)
	ex.file, ex.fileOff, ex.fileEnd = f, start, end
}

// hasField reports whether header lines contain a field called name
// (lower case).
func hasField(lines []byte, name string) bool {
	for len(lines) > 0 {
		i := bytes.Index(lines, []byte("\r\n"))
		if i < 0 {
			i = len(lines)
		}
		line := lines[:i]
		if c := bytes.IndexByte(line, ':'); c > 0 && http1.EqualFold(line[:c], name) {
			return true
		}
		lines = lines[min(i+2, len(lines)):]
	}
	return false
}

// pickEncoding chooses the precompressed sibling the client accepts,
// preferring brotli.
func pickEncoding(f *cachedFile, ae []byte) *cachedFile {
	if ae == nil {
		return f
	}
	if f.br != nil && acceptsEncoding(ae, "br") {
		return f.br
	}
	if f.gz != nil && acceptsEncoding(ae, "gzip") {
		return f.gz
	}
	return f
}

// acceptsEncoding reports whether an Accept-Encoding value lists coding
// with a non-zero quality.
func acceptsEncoding(ae []byte, coding string) bool {
	for len(ae) > 0 {
		var item []byte
		if i := bytes.IndexByte(ae, ','); i >= 0 {
			item, ae = ae[:i], ae[i+1:]
		} else {
			item, ae = ae, nil
		}
		item = bytes.TrimSpace(item)
		name, params, _ := bytes.Cut(item, []byte{';'})
		name = bytes.TrimSpace(name)
		if !http1.EqualFold(name, coding) {
			continue
		}
		return !qualityIsZero(params)
	}
	return false
}

func qualityIsZero(params []byte) bool {
	params = bytes.TrimSpace(params)
	if len(params) < 2 || (params[0] != 'q' && params[0] != 'Q') || params[1] != '=' {
		return false
	}
	v := bytes.TrimSpace(params[2:])
	for _, c := range v {
		if c != '0' && c != '.' {
			return false
		}
	}
	return true
}

// notModified evaluates If-None-Match, or If-Modified-Since when there is
// no If-None-Match (RFC 9110 §13.2.2).
func notModified(r *http1.Request, f *cachedFile) bool {
	if inm := r.Header(http1.HeaderIfNoneMatch); inm != nil {
		return etagListMatches(inm, f.etag)
	}
	if ims := r.Header(http1.HeaderIfModifiedSince); ims != nil {
		t, ok := parseHTTPDate(ims)
		return ok && f.mtimeSec <= t
	}
	return false
}

// etagListMatches does the weak comparison of If-None-Match.
func etagListMatches(list, etag []byte) bool {
	list = bytes.TrimSpace(list)
	if len(list) == 1 && list[0] == '*' {
		return true
	}
	for len(list) > 0 {
		var tag []byte
		if i := bytes.IndexByte(list, ','); i >= 0 {
			tag, list = list[:i], list[i+1:]
		} else {
			tag, list = list, nil
		}
		tag = bytes.TrimSpace(tag)
		tag = bytes.TrimPrefix(tag, []byte("W/"))
		if bytes.Equal(tag, etag) {
			return true
		}
	}
	return false
}

// ifRangeMatches reports whether a Range header applies: without If-Range
// it does; with one, only if it names the current representation (strong
// ETag comparison, or the exact Last-Modified date).
func ifRangeMatches(r *http1.Request, f *cachedFile) bool {
	ir := r.Header(http1.HeaderIfRange)
	if ir == nil {
		return true
	}
	if len(ir) > 0 && ir[0] == '"' {
		return bytes.Equal(ir, f.etag)
	}
	return bytes.Equal(ir, f.lastMod)
}

// parseRange parses a single byte range against size. ok reports a
// satisfiable range [start, end). For an unsatisfiable one it returns
// start == -2; for anything it does not serve (several ranges, another
// unit, bad syntax) start == -1, and the whole file is sent (RFC 9110 lets
// a server ignore Range).
func parseRange(v []byte, size int64) (start, end int64, ok bool) {
	const prefix = "bytes="
	if len(v) <= len(prefix) || !http1.EqualFold(v[:len(prefix)], prefix) {
		return -1, 0, false
	}
	spec := bytes.TrimSpace(v[len(prefix):])
	if bytes.IndexByte(spec, ',') >= 0 {
		return -1, 0, false
	}
	dash := bytes.IndexByte(spec, '-')
	if dash < 0 {
		return -1, 0, false
	}
	first, last := bytes.TrimSpace(spec[:dash]), bytes.TrimSpace(spec[dash+1:])
	switch {
	case len(first) == 0: // suffix: the last N bytes
		n, valid := http1.ParseContentLength(last)
		if !valid {
			return -1, 0, false
		}
		if n == 0 || size == 0 {
			return -2, 0, false
		}
		return max(size-n, 0), size, true
	default:
		s, valid := http1.ParseContentLength(first)
		if !valid {
			return -1, 0, false
		}
		e := size - 1
		if len(last) > 0 {
			l, valid := http1.ParseContentLength(last)
			if !valid || l < s {
				return -1, 0, false
			}
			e = min(l, size-1)
		}
		if s >= size {
			return -2, 0, false
		}
		return s, e + 1, true
	}
}
