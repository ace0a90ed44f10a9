package proxy

import (
	"bytes"
	"strconv"

	"frontdoor/proxy/http1"
	"frontdoor/proxy/static"
)

// A static exchange: a request on a static route answered from its
// directory — the file confined to the route's root, conditional and
// range requests, precompressed siblings (proxy/static does the files),
// the body from memory or with sendfile (the stream sends the file
// range).

// serveStatic answers a request on a static route: GET and HEAD only.
func (ex *exchange) serveStatic(rt *route) {
	w := ex.w
	r := ex.req
	head := string(r.Method) == "HEAD"
	if !head && string(r.Method) != "GET" {
		ex.skipBody()
		ex.writeErrorWith(405, "Allow: GET, HEAD\r\n")
		return
	}
	below := r.Path[len(rt.prefix):]
	rel, ok := static.CleanPath(w.scratch, below)
	trailingSlash := r.Path[len(r.Path)-1] == '/'
	if !ok {
		ex.respondError(400)
		return
	}
	if !rt.static.Dotfiles && static.HasDotSegment(rel, len(rt.prefix) == 1) {
		ex.respondError(404) // like a missing file: its existence is not told
		return
	}
	f, err := w.files.Lookup(rt.static, rel, w.loop.Now())
	if err != nil {
		if static.IsNotFound(err) {
			ex.respondError(404)
		} else {
			w.log.Warn("static file", "file", string(rel), "err", err)
			ex.respondError(403)
		}
		return
	}
	if f.IsDir {
		ex.serveDirectory(rt, rel, trailingSlash)
		return
	}
	if trailingSlash {
		ex.respondError(404) // "/file.css/" names a directory that is not one
		return
	}
	ex.serveFile(f, head, nil)
}

// serveDirectory redirects "/dir" to "/dir/" and serves the index of
// "/dir/". There are no listings.
func (ex *exchange) serveDirectory(rt *route, rel []byte, trailingSlash bool) {
	d := rt.static
	if d.Index == "" {
		ex.respondError(404)
		return
	}
	if !trailingSlash {
		ex.redirectToSlash()
		return
	}
	// rel lives in w.scratch; the index name is appended in place.
	var name []byte
	if len(rel) == 1 && rel[0] == '.' {
		name = append(rel[:0], d.Index...)
	} else {
		name = append(append(rel, '/'), d.Index...)
	}
	f, err := ex.w.files.Lookup(d, name, ex.w.loop.Now())
	if err != nil || f.IsDir {
		ex.respondError(404)
		return
	}
	ex.serveFile(f, string(ex.req.Method) == "HEAD", nil)
}

func (ex *exchange) redirectToSlash() {
	b := ex.head(301)
	b = append(b, "Location: "...)
	b = append(b, ex.req.Path...)
	b = append(b, '/')
	if ex.req.Query != nil {
		b = append(b, '?')
		b = append(b, ex.req.Query...)
	}
	b = append(b, "\r\nContent-Length: 0\r\n"...)
	ex.send(b, nil)
}

// serveFile writes the head for f and queues its body; extra are header
// lines (each ending in CRLF) to add, and when they name a Content-Type,
// the file's own is left out (X-Accel-Redirect).
func (ex *exchange) serveFile(f *static.File, head bool, extra []byte) {
	r := ex.req
	f = f.Variant(r.Header(http1.HeaderAcceptEncoding))
	hdr := f.Header
	if len(extra) > 0 && hasField(extra, "content-type") {
		hdr = hdr[f.TypeLen:]
	}
	if f.NotModified(r.Header(http1.HeaderIfNoneMatch), r.Header(http1.HeaderIfModifiedSince)) {
		b := ex.head(304)
		b = append(b, hdr...)
		b = append(b, extra...)
		ex.send(b, nil)
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
				b := ex.head(416)
				b = append(b, "Content-Range: bytes */"...)
				b = strconv.AppendInt(b, f.Size, 10)
				b = append(b, "\r\nContent-Length: 0\r\n"...)
				ex.send(b, nil)
				return
			}
		}
	}
	b := ex.head(status)
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
	switch {
	case head:
		ex.send(b, nil)
	case f.Inline != nil:
		// A small file is in memory: it goes out with its head.
		ex.send(b, f.Inline[start:end])
	default:
		ex.w.files.Acquire(f)
		ex.file, ex.fileOff, ex.fileEnd = f, start, end
		ex.send(b, nil)
	}
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
