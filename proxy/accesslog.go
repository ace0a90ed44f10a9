package proxy

import (
	"bytes"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"frontdoor/proxy/http1"
)

// accessLog is a worker's batch of JSON lines. Lines are appended without
// allocating and written to the shared writer in one write call per batch;
// an O_APPEND file receives each batch whole, so lines from different
// workers never interleave.
type accessLog struct {
	out       io.Writer
	buf       []byte
	firstLine int64 // worker clock of the oldest unflushed line
	log       func(msg string, args ...any)
}

const (
	accessLogFlushBytes = 32 << 10
	accessLogFlushAge   = int64(time.Second)
)

func (a *accessLog) enabled() bool { return a.out != nil }

func (a *accessLog) flushIfDue(now int64) {
	if len(a.buf) > 0 && (len(a.buf) >= accessLogFlushBytes || now-a.firstLine >= accessLogFlushAge) {
		a.flush()
	}
}

// due is when the buffered lines must be written, if there are any.
func (a *accessLog) due() (int64, bool) {
	return a.firstLine + accessLogFlushAge, len(a.buf) > 0 && a.out != nil
}

func (a *accessLog) flush() {
	if len(a.buf) == 0 || a.out == nil {
		return
	}
	if _, err := a.out.Write(a.buf); err != nil && a.log != nil {
		a.log("access log write failed", "err", err)
	}
	a.buf = a.buf[:0]
}

// logAccess appends the line for a finished exchange.
func (w *worker) logAccess(ex *exchange) {
	ex.logged = true
	a := &w.alog
	if !a.enabled() {
		return
	}
	if len(a.buf) == 0 {
		a.firstLine = w.loop.Now()
	}
	r := ex.req
	b := a.buf
	b = append(b, `{"time":"`...)
	b = time.Unix(0, w.loop.UnixNano()).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, `","remote":"`...)
	b = ex.c.remote.Addr().AppendTo(b)
	b = append(b, `","method":`...)
	if r != nil {
		b = appendJSONString(b, r.Method)
		b = append(b, `,"host":`...)
		b = appendJSONString(b, r.Host)
		b = append(b, `,"uri":`...)
		w.logScratch = redactQuery(w.logScratch[:0], r, w.cfg.RedactQuery)
		b = appendJSONString(b, w.logScratch)
		b = append(b, `,"proto":"HTTP/`...)
		b = strconv.AppendInt(b, int64(r.Major), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(r.Minor), 10)
		b = append(b, '"')
	} else {
		b = append(b, `"-","host":"","uri":"","proto":""`...)
	}
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(ex.status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, ex.bodyBytesSent(), 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(w.loop.Now()-ex.start)/1e6, 'f', 3, 64)
	if r != nil {
		if ua := r.Header(http1.HeaderUserAgent); ua != nil {
			b = append(b, `,"user_agent":`...)
			b = appendJSONString(b, ua)
		}
		if ref := r.Header(http1.HeaderReferer); ref != nil {
			// The page the client came from carries its own query
			// (a reset link's token, say): redacted like the target's.
			b = append(b, `,"referer":`...)
			w.logScratch = redactURL(w.logScratch[:0], ref, w.cfg.RedactQuery)
			b = appendJSONString(b, w.logScratch)
		}
	}
	if ex.c.isTLS() {
		b = append(b, `,"tls":true`...)
	}
	b = append(b, "}\n"...)
	a.buf = b
	if len(b) >= accessLogFlushBytes {
		a.flush()
	}
}

// bodyBytesSent is the number of response body bytes sent to the client:
// those counted as they were queued (static files, pages, a small proxied
// body sent with its head) and those of a proxied response that left the
// spool (after any compression and chunking, as on the wire).
func (ex *exchange) bodyBytesSent() int64 {
	n := ex.sent
	if px := ex.px; px != nil {
		n += px.out.Total() - px.out.Pending()
	}
	return n
}

// logCutShort logs an exchange that ends with its connection before its
// response was sent: nothing of the response left (the client reset the
// connection, a write failed, the server shut down) is status 499, as
// nginx logs it; a response cut in the middle keeps its status, with the
// bytes that went out.
func (w *worker) logCutShort(ex *exchange) {
	if ex.c.wOff == 0 && ex.phase != phaseTunnel {
		ex.status, ex.sent = 499, 0
	}
	w.logAccess(ex)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Bytes that are not valid
// UTF-8 are escaped as \u00XX (read as Latin-1), so the line stays valid
// JSON whatever a client sent.
func appendJSONString(b []byte, s []byte) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			i++
			continue
		}
		b = append(b, s[i:i+size]...)
		i += size
	}
	return append(b, '"')
}

// redactQuery appends the request target with the values of the listed
// query parameters replaced by REDACTED: tokens and passwords in URLs must
// not end up in logs.
func redactQuery(dst []byte, r *http1.Request, names []string) []byte {
	dst = append(dst, r.Path...)
	if r.Query == nil {
		return dst
	}
	return redactParams(append(dst, '?'), r.Query, names)
}

// redactURL appends a URL (a Referer) with the listed query parameters'
// values replaced by REDACTED; a fragment is dropped.
func redactURL(dst, u []byte, names []string) []byte {
	u, _, _ = bytes.Cut(u, []byte{'#'})
	base, q, hasQuery := bytes.Cut(u, []byte{'?'})
	dst = append(dst, base...)
	if !hasQuery {
		return dst
	}
	return redactParams(append(dst, '?'), q, names)
}

// redactParams appends the query string q with the listed parameters'
// values replaced by REDACTED.
func redactParams(dst, q []byte, names []string) []byte {
	first := true
	for len(q) > 0 {
		var param []byte
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			param, q = q[:i], q[i+1:]
		} else {
			param, q = q, nil
		}
		if !first {
			dst = append(dst, '&')
		}
		first = false
		name, _, hasValue := bytes.Cut(param, []byte{'='})
		if hasValue && isRedacted(name, names) {
			dst = append(dst, name...)
			dst = append(dst, "=REDACTED"...)
			continue
		}
		dst = append(dst, param...)
	}
	return dst
}

func isRedacted(name []byte, names []string) bool {
	for _, n := range names {
		if len(n) == len(name) && http1.EqualFold(name, n) {
			return true
		}
	}
	return false
}
