package proxy

import (
	"bytes"
	"strings"

	"frontdoor/proxy/http1"
	"frontdoor/proxy/static"
)

// serveAccel answers with a file named by the application instead of its
// body: X-Accel-Redirect carries a URL path that must fall in one of the
// site's static routes (typically an internal one, which nobody can request
// directly); X-Sendfile carries a file system path that must lie inside
// such a route's directory. This is how Django serves protected downloads
// (django-sendfile2) without holding a worker for the transfer. A few of
// the application's header fields (Content-Type, Content-Disposition,
// caching, cookies) are kept.
func (ex *exchange) serveAccel(target []byte, sendfilePath bool) {
	w, px := ex.w, ex.px
	resp := &px.resp
	ex.phase = phaseRespond
	// The application's own body is not wanted. A connection that has
	// read all of it goes back to the pool; one whose response has no
	// body by definition (HEAD, 204, 304) does not, since a body may come
	// anyway (see startResponse).
	empty := resp.Framing == http1.FramingLength && resp.ContentLength == int64(len(px.upBuf)-resp.HeadLen)
	px.group.MarkSuccess(px.up.Member)
	px.releaseUp(empty && resp.KeepAlive)
	px.phase = upComplete

	rt, rel, ok := w.accelTarget(px.site, target, sendfilePath)
	if !ok {
		w.log.Warn("X-Accel-Redirect/X-Sendfile outside every static route", "target", string(target))
		ex.gatewayError(502)
		return
	}
	if !rt.static.Dotfiles && static.HasDotSegment(rel, len(rt.prefix) == 1) {
		ex.respondError(404) // the route's rule holds for the application too
		return
	}
	f, err := w.files.Lookup(rt.static, rel, w.loop.Now())
	if err != nil || f.IsDir {
		ex.respondError(404)
		return
	}
	extra := w.accelHeaders[:0]
	for i := range resp.Headers {
		h := &resp.Headers[i]
		if http1.EqualFold(h.Name, "content-type") || http1.EqualFold(h.Name, "content-disposition") ||
			http1.EqualFold(h.Name, "cache-control") || http1.EqualFold(h.Name, "expires") ||
			http1.EqualFold(h.Name, "set-cookie") || http1.EqualFold(h.Name, "content-language") {
			extra = append(extra, h.Name...)
			extra = append(extra, ": "...)
			extra = append(extra, h.Value...)
			extra = append(extra, "\r\n"...)
		}
	}
	w.accelHeaders = extra
	ex.serveFile(f, string(ex.req.Method) == "HEAD", extra)
}

// accelTarget resolves an accel target to a static route and a relative
// file name, confined like any static request.
func (w *worker) accelTarget(s *site, target []byte, sendfilePath bool) (*route, []byte, bool) {
	target = bytes.TrimSpace(target)
	if sendfilePath {
		for _, rt := range s.routes {
			if rt.static == nil {
				continue
			}
			// The root is clean (static.Open): a configured
			// "/srv/media/" (Django's MEDIA_ROOT often ends in '/') is
			// "/srv/media"; "/" becomes "" so that "/x" falls under it.
			root := strings.TrimSuffix(rt.static.Root, "/")
			if len(target) > len(root) && string(target[:len(root)]) == root && target[len(root)] == '/' {
				rel, ok := static.CleanPath(w.scratch, pathEscape(target[len(root):]))
				return rt, rel, ok
			}
		}
		return nil, nil, false
	}
	if q := bytes.IndexByte(target, '?'); q >= 0 {
		target = target[:q]
	}
	for _, rt := range s.routes {
		if rt.static != nil && prefixMatches(rt.prefix, target) {
			rel, ok := static.CleanPath(w.scratch, target[len(rt.prefix):])
			return rt, rel, ok
		}
	}
	return nil, nil, false
}

// pathEscape escapes '%' in a file system path so cleanPath (which decodes
// URL escapes) reads it literally.
func pathEscape(p []byte) []byte {
	if bytes.IndexByte(p, '%') < 0 {
		return p
	}
	return bytes.ReplaceAll(p, []byte("%"), []byte("%25"))
}
