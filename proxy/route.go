package proxy

import (
	"net/netip"
	"strconv"

	"frontdoor/proxy/http1"
)

// route sends a parsed request to what answers it: the per-client rate
// limit, ACME HTTP-01 challenges, the site (router.go) by Host — and by
// the TLS server name, which must agree — the site's redirects, then the
// route by path: a static directory (exchange_static.go) or an upstream
// group (exchange_proxy.go). Whatever answers leaves the exchange with its
// response queued (phaseRespond), or waiting for its body or the
// application.
func (ex *exchange) route() {
	w, c := ex.w, ex.c
	r := ex.req
	ex.phase = phaseRespond
	if hook := w.e.beforeServe.Load(); hook != nil {
		(*hook)(r.Path)
	}
	if rl := &w.cfg.Limits.Clients; rl.RequestsPerSecond > 0 &&
		!w.e.limiter.allow(ex.clientAddr(), rl.RequestsPerSecond, float64(rl.Burst), w.loop.UnixNano()) {
		ex.skipBody() // before the head: it says Connection: close
		ex.writeErrorWith(429, "Retry-After: 1\r\n")
		return
	}
	if !c.isTLS() && isACMEChallenge(r.Path) {
		ex.answerChallenge()
		return
	}
	s := w.router.lookupSite(r.Host, w.scratch)
	if s != nil && c.ts != nil && c.ts.ServerName() != "" && w.router.lookupSite([]byte(c.ts.ServerName()), w.scratch) != s {
		// The certificate was chosen for another site (domain fronting,
		// or a client reusing a connection across names).
		ex.respondError(421)
		return
	}
	ex.site = s
	if s != nil && ex.redirectHost(s) {
		return
	}
	if s == nil {
		if len(w.router.routes) == 0 {
			ex.skipBody()
			ex.writePage(503, "Retry-After: 60\r\n", w.e.texts.unconfigured)
			return
		}
		ex.respondError(421)
		return
	}
	rt := s.match(r.Path)
	switch {
	case rt == nil || (rt.static != nil && rt.static.Internal):
		ex.respondError(404)
	case rt.upstream != "":
		ex.startProxy(s, rt)
	case rt.static != nil:
		ex.serveStatic(rt)
	default:
		ex.respondError(500)
	}
}

const acmeChallengePrefix = "/.well-known/acme-challenge/"

func isACMEChallenge(path []byte) bool {
	return len(path) > len(acmeChallengePrefix) && string(path[:len(acmeChallengePrefix)]) == acmeChallengePrefix
}

// answerChallenge answers an ACME HTTP-01 challenge (never redirected).
func (ex *exchange) answerChallenge() {
	cb := ex.w.challenge
	var body []byte
	ok := false
	if cb != nil {
		body, ok = cb(string(hostWithoutPort(ex.req.Host)), string(ex.req.Path))
	}
	if !ok {
		ex.respondError(404)
		return
	}
	ex.skipBody()
	b := ex.head(200)
	b = append(b, "Content-Type: text/plain\r\nCache-Control: no-store\r\n"...)
	b = appendContentLength(b, int64(len(body)))
	ex.send(b, body)
}

// redirectHost sends the www/apex redirect and the HTTP→HTTPS redirect a
// site asks for. It reports whether it answered.
func (ex *exchange) redirectHost(s *site) bool {
	w, c := ex.w, ex.c
	r := ex.req
	host := hostWithoutPort(r.Host)
	target := host
	switch s.redirectWWW {
	case "to_apex":
		if len(host) > 4 && http1EqualFoldPrefix(host, "www.") {
			target = host[4:]
		}
	case "to_www":
		if !(len(host) > 4 && http1EqualFoldPrefix(host, "www.")) {
			target = append(append(w.hostScratch[:0], "www."...), host...)
		}
	}
	toHTTPS := !c.isTLS() && s.httpsRedirect
	if len(target) == len(host) && !toHTTPS {
		return false
	}
	status := 301
	if string(r.Method) != "GET" && string(r.Method) != "HEAD" {
		status = 308 // keeps the method and body
	}
	ex.skipBody()
	b := ex.head(status)
	b = append(b, "Location: "...)
	if c.isTLS() || toHTTPS {
		b = append(b, "https://"...)
	} else {
		b = append(b, "http://"...)
	}
	b = append(b, target...)
	if toHTTPS && w.httpsPort != 443 {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(w.httpsPort), 10)
	} else if !toHTTPS {
		b = append(b, r.Host[len(host):]...) // the port, if the client gave one
	}
	b = append(b, r.Target...)
	b = append(b, "\r\nContent-Length: 0\r\n"...)
	ex.send(b, nil)
	return true
}

func http1EqualFoldPrefix(s []byte, prefix string) bool {
	return len(s) >= len(prefix) && http1.EqualFold(s[:len(prefix)], prefix)
}

// clientAddr is the address rate limits count against: the peer, or the
// real client a trusted proxy names in X-Forwarded-For (so limits work
// behind a CDN).
func (ex *exchange) clientAddr() netip.Addr {
	w := ex.w
	peer := ex.c.remote.Addr()
	if !w.trusted.contains(peer) {
		return peer
	}
	if a, ok := w.trusted.clientIn(ex.req.Header(http1.HeaderXForwardedFor)); ok {
		return a
	}
	return peer
}
