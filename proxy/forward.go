package proxy

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
	"strconv"

	"frontdoor/proxy/http1"
)

// buildUpstreamHead writes the request head sent to the application into
// b, without the Content-Length line and the final empty line (added at
// dispatch, once a chunked body's length is known). It removes hop-by-hop
// fields and fields the Connection header names, drops names with '_',
// replaces forwarding fields from untrusted peers and sets X-Forwarded-*,
// X-Real-IP and X-Request-ID.
func (ex *exchange) buildUpstreamHead(b []byte) []byte {
	w, c, px := ex.w, ex.c, ex.px
	r := ex.req
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = append(b, r.Target...)
	b = append(b, " HTTP/1.1\r\n"...)
	host := r.Host
	if len(host) == 0 {
		host = defaultHost()
	}
	b = append(b, "Host: "...)
	b = append(b, host...)
	b = append(b, "\r\n"...)

	trusted := w.trusted.contains(c.remote.Addr())
	connection := r.Header(http1.HeaderConnection)
	var xff, xfProto, xfHost, cfIP, reqID []byte
	for i := range r.Headers {
		h := &r.Headers[i]
		switch h.ID {
		case http1.HeaderHost, http1.HeaderContentLength, http1.HeaderExpect:
			continue // set by us
		case http1.HeaderXForwardedFor:
			if trusted {
				xff = joinList(xff, h.Value)
			}
			continue
		case http1.HeaderXForwardedProto:
			if trusted && xfProto == nil {
				xfProto = h.Value
			}
			continue
		case http1.HeaderXForwardedHost:
			if trusted && xfHost == nil {
				xfHost = h.Value
			}
			continue
		case http1.HeaderXRealIP, http1.HeaderForwarded:
			continue // rebuilt below, never passed on from a client
		case http1.HeaderXRequestID:
			if reqID == nil && validRequestID(h.Value) {
				reqID = h.Value
			}
			continue
		}
		if http1.IsHopByHop(h.ID) || h.Underscore || listsToken(connection, h.Name) {
			continue
		}
		if ex.connectUpgrade && http1.EqualFold(h.Name, "sec-websocket-key") {
			continue // ours is sent below
		}
		if w.trusted != nil && w.trusted.cloudflare && http1.EqualFold(h.Name, "cf-connecting-ip") {
			if trusted {
				cfIP = h.Value
			} else {
				continue // spoofed: only Cloudflare's edge may say this
			}
		}
		b = append(b, h.Name...)
		b = append(b, ": "...)
		b = append(b, h.Value...)
		b = append(b, "\r\n"...)
	}
	peer := c.remote.Addr()
	var peerText [64]byte
	peerStr := peer.AppendTo(peerText[:0])
	b = append(b, "X-Forwarded-For: "...)
	if len(xff) > 0 {
		b = append(b, xff...)
		b = append(b, ", "...)
	}
	b = append(b, peerStr...)
	b = append(b, "\r\nX-Forwarded-Proto: "...)
	switch {
	case xfProto != nil:
		b = append(b, xfProto...)
	case c.isTLS():
		b = append(b, "https"...)
	default:
		b = append(b, "http"...)
	}
	b = append(b, "\r\nX-Forwarded-Host: "...)
	if xfHost != nil {
		b = append(b, xfHost...)
	} else {
		b = append(b, host...)
	}
	b = append(b, "\r\nX-Real-IP: "...)
	b = append(b, w.realClientIP(peer, trusted, xff, cfIP, peerStr)...)
	b = append(b, "\r\nX-Request-ID: "...)
	if reqID != nil {
		px.requestID = append(px.requestID[:0], reqID...)
	} else {
		px.requestID = w.newRequestID(px.requestID[:0])
	}
	b = append(b, px.requestID...)
	b = append(b, "\r\n"...)
	if r.Upgrade && ex.connectUpgrade {
		// RFC 8441 §5: the HTTP/1.1 handshake an extended CONNECT stands
		// for, with the key HTTP/2 does without.
		b = append(b, "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: "...)
		b = w.newWebSocketKey(b)
		b = append(b, "\r\n"...)
	} else if r.Upgrade {
		b = append(b, "Connection: Upgrade\r\nUpgrade: "...)
		b = append(b, r.Header(http1.HeaderUpgrade)...)
		b = append(b, "\r\n"...)
	}
	return b
}

// realClientIP is the address the application should see: the peer, or,
// when the peer is a trusted proxy, the right-most address of
// X-Forwarded-For that is not itself trusted (Cloudflare's
// CF-Connecting-IP when present).
func (w *worker) realClientIP(peer netip.Addr, trusted bool, xff, cfIP, peerStr []byte) []byte {
	if !trusted {
		return peerStr
	}
	if cfIP != nil {
		if a, err := netip.ParseAddr(string(cfIP)); err == nil {
			return a.AppendTo(w.ipScratch[:0])
		}
	}
	if a, ok := w.trusted.clientIn(xff); ok {
		return a.AppendTo(w.ipScratch[:0])
	}
	return peerStr
}

// defaultHost is the Host sent for an HTTP/1.0 request that had none.
func defaultHost() []byte { return []byte("localhost") }

// joinList appends a comma-separated value to a list.
func joinList(list, v []byte) []byte {
	if len(list) == 0 {
		return v
	}
	out := make([]byte, 0, len(list)+2+len(v))
	out = append(out, list...)
	out = append(out, ", "...)
	return append(out, v...)
}

// listsToken reports whether a Connection value names field.
func listsToken(connection, field []byte) bool {
	for len(connection) > 0 {
		var tok []byte
		if i := bytes.IndexByte(connection, ','); i >= 0 {
			tok, connection = connection[:i], connection[i+1:]
		} else {
			tok, connection = connection, nil
		}
		tok = bytes.TrimSpace(tok)
		if len(tok) == len(field) && http1.EqualFold(field, string(bytes.ToLower(tok))) {
			return true
		}
	}
	return false
}

// validRequestID accepts 1–128 characters from a conservative set: an ID
// from a client (or a CDN) is kept only when it cannot inject anything into
// logs or headers.
func validRequestID(v []byte) bool {
	if len(v) == 0 || len(v) > 128 {
		return false
	}
	for _, c := range v {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':' || c == '=' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// newRequestID appends 32 random hex digits from the worker's generator.
func (w *worker) newRequestID(b []byte) []byte {
	for i := 0; i < 2; i++ {
		v := w.rng.Uint64()
		for j := 0; j < 16; j++ {
			b = append(b, hexDigits[v&0xf])
			v >>= 4
		}
	}
	return b
}

// newWebSocketKey appends a Sec-WebSocket-Key value: 16 random bytes in
// base64 (RFC 6455 §4.1), a nonce the application answers with its
// Sec-WebSocket-Accept.
func (w *worker) newWebSocketKey(b []byte) []byte {
	var raw [16]byte
	binary.LittleEndian.PutUint64(raw[:8], w.rng.Uint64())
	binary.LittleEndian.PutUint64(raw[8:], w.rng.Uint64())
	return base64.StdEncoding.AppendEncode(b, raw[:])
}

// appendContentLengthLine adds Content-Length for a request body.
func appendContentLengthLine(b []byte, n int64) []byte {
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, n, 10)
	return append(b, "\r\n"...)
}
