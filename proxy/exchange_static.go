package proxy

import (
	"bytes"
	"strconv"

	"frontdoor/proxy/http1"
	"frontdoor/proxy/static"
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
	rel, ok := static.CleanPath(w.scratch, below)
	trailingSlash := r.Path[len(r.Path)-1] == '/'
	if !ok {
		w.respondError(c, 400)
		return
	}
	if !rt.static.Dotfiles && static.HasDotSegment(rel, len(rt.prefix) == 1) {
		w.respondError(c, 404) // like a missing file: its existence is not told
		return
	}
	f, err := w.files.Lookup(rt.static, rel, w.loop.Now())
	if err != nil {
		if static.IsNotFound(err) {
			w.respondError(c, 404)
		} else {
			w.log.Warn("static file", "file", string(rel), "err", err)
			w.respondError(c, 403)
		}
		return
	}
	if f.IsDir {
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
	if s.Index == "" {
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
		name = append(rel[:0], s.Index...)
	} else {
		name = append(append(rel, '/'), s.Index...)
	}
	f, err := w.files.Lookup(s, name, w.loop.Now())
	if err != nil || f.IsDir {
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
func (w *worker) serveFile(c *conn, rt *route, f *static.File, head bool) {
	w.serveFileWith(c, rt, f, head, nil)
}

// serveFileWith is serveFile with extra header lines (each ending in CRLF);
// when they name a Content-Type, the file's own is left out.
func (w *worker) serveFileWith(c *conn, rt *route, f *static.File, head bool, extra []byte) {
	ex := c.ex
	r := &ex.req
	f = f.Variant(r.Header(http1.HeaderAcceptEncoding))
	hdr := f.Header
	if len(extra) > 0 && hasField(extra, "content-type") {
		hdr = hdr[f.TypeLen:]
	}
	if f.NotModified(r.Header(http1.HeaderIfNoneMatch), r.Header(http1.HeaderIfModifiedSince)) {
		ex.status = 304
		b := w.appendHead(c.wbuf[:0], 304, ex)
		b = append(b, hdr...)
		b = append(b, extra...)
		c.wbuf = append(b, "\r\n"...)
		return
	}
	start, end, status := int64(0), f.Size, 200
	if !head {
		if rng := r.Header(http1.HeaderRange); rng != nil && f.RangeApplies(r.Header(http1.HeaderIfRange)) {
			s, e, ok := static.ParseRange(rng, f.Size)
			switch {
			case ok:
				start, end, status = s, e, 206
			case s == -2: // unsatisfiable
				ex.status = 416
				b := w.appendHead(c.wbuf[:0], 416, ex)
				b = append(b, "Content-Range: bytes */"...)
				b = strconv.AppendInt(b, f.Size, 10)
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
		b = strconv.AppendInt(b, f.Size, 10)
		b = append(b, "\r\n"...)
	}
	b = appendContentLength(b, end-start)
	b = append(b, "\r\n"...)
	ex.bodyLen = end - start
	if head {
		c.wbuf = b
		return
	}
	if f.Inline != nil && int64(len(b))+end-start <= int64(cap(b)) {
		b = append(b, f.Inline[start:end]...)
		ex.sent = end - start
		c.wbuf = b
		return
	}
	c.wbuf = b
	if f.Inline != nil {
		// Inline content that does not fit next to the head: send it in
		// the head's wake from memory.
		c.wbuf = append(c.wbuf, f.Inline[start:end]...)
		ex.sent = end - start
		return
	}
	w.files.Acquire(f)
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
