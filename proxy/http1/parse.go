package http1

import "bytes"

// HeadScanner finds where a message head ends, incrementally: bytes that
// arrive one at a time are scanned once each, so a slow client cannot make
// the server re-scan its head quadratically. The zero value is ready; call
// Reset before each new message.
type HeadScanner struct {
	pos        int  // next byte to look at
	lineStart  int  // offset of the line being scanned
	lines      int  // complete lines seen, the request line included
	skipped    int  // empty lines skipped before the request line
	method     int  // bytes of the request line's method checked so far
	methodDone bool // the method ended with its space
}

// Reset prepares the scanner for a new message at the start of the buffer.
func (s *HeadScanner) Reset() { *s = HeadScanner{} }

// maxLeadingEmptyLines bounds the empty lines tolerated before a request
// line (RFC 9112 §2.2 asks servers to ignore at least one).
const maxLeadingEmptyLines = 4

// requestLineSlack is what a request line may add to the target limit
// (method, spaces, version).
const requestLineSlack = 32

// maxMethodLen bounds a method name (Parse refuses longer ones too).
const maxMethodLen = 20

// Scan looks at buf, which must hold everything passed to earlier calls since
// Reset followed by any new bytes, and returns the length of the head once
// its final empty line is present, or 0 when more bytes are needed. It fails
// on a bare LF and when the head or the request line outgrow lim.
func (s *HeadScanner) Scan(buf []byte, lim *Limits) (int, error) {
	maxHead, maxLine := lim.MaxHeadBytes, lim.MaxTargetBytes+requestLineSlack
	for {
		if s.lines == 0 && !s.methodDone {
			if err := s.scanMethod(buf); err != nil {
				return 0, err
			}
		}
		i := bytes.IndexByte(buf[s.pos:], '\n')
		if i < 0 {
			s.pos = len(buf)
			if s.lines == 0 && len(buf)-s.lineStart > maxLine {
				return 0, errTargetTooLong
			}
			if len(buf) > maxHead {
				return 0, errHeadTooLarge
			}
			return 0, nil
		}
		nl := s.pos + i
		if nl == 0 || buf[nl-1] != '\r' {
			return 0, errBareLF
		}
		lineLen := nl + 1 - s.lineStart
		if s.lines == 0 && lineLen > maxLine {
			return 0, errTargetTooLong
		}
		if nl+1 > maxHead {
			return 0, errHeadTooLarge
		}
		s.pos, s.lineStart = nl+1, nl+1
		if lineLen == 2 {
			if s.lines > 0 {
				return nl + 1, nil
			}
			if s.skipped++; s.skipped > maxLeadingEmptyLines {
				return 0, errBadRequestLine
			}
			continue
		}
		s.lines++
	}
}

// scanMethod checks the method of the request line as its bytes arrive, so
// that what is not HTTP at all (a TLS ClientHello on the plain port, binary
// noise) is refused at its first byte instead of after the head deadline.
// It judges as Request.Parse does (1 to maxMethodLen upper-case letters,
// then a space), so the verdict cannot depend on how the bytes arrived. A
// CR where the method would start may begin an empty line, which the line
// logic of Scan handles. The scanner also delimits response heads: a first
// line that starts with "HTTP/" is a status line, left to Response.Parse
// (as a request it is refused by Request.Parse, '/' being no method byte).
func (s *HeadScanner) scanMethod(buf []byte) error {
	for p := s.lineStart + s.method; p < len(buf); p++ {
		switch c := buf[p]; {
		case c == ' ' && s.method > 0:
			s.methodDone = true
			return nil
		case c == '/' && s.method == 4 && string(buf[p-4:p]) == "HTTP":
			s.methodDone = true // a status line
			return nil
		case c == '\r' && s.method == 0:
			return nil
		case c < 'A' || c > 'Z' || s.method == maxMethodLen:
			return errBadMethod
		}
		s.method++
	}
	return nil
}

// Parse parses a complete request head (as delimited by HeadScanner.Scan)
// into r, validating it strictly. It returns an *Error for any violation.
// The slices in r point into head.
func (r *Request) Parse(head []byte, lim *Limits) error {
	r.reset()
	r.HeadLen = len(head)
	for len(head) >= 2 && head[0] == '\r' && head[1] == '\n' {
		head = head[2:]
	}
	eol := bytes.IndexByte(head, '\n')
	if eol < 1 {
		return errBadRequestLine
	}
	if err := r.parseRequestLine(head[:eol-1], lim); err != nil {
		return err
	}
	return r.parseFields(head[eol+1:], lim)
}

func (r *Request) parseRequestLine(line []byte, lim *Limits) error {
	// method
	sp := 0
	for sp < len(line) && line[sp] != ' ' {
		c := line[sp]
		if c < 'A' || c > 'Z' {
			return errBadMethod
		}
		sp++
	}
	if sp == 0 || sp == len(line) || sp > maxMethodLen {
		return errBadMethod
	}
	r.Method = line[:sp]
	rest := line[sp+1:]

	// request target
	sp = 0
	for sp < len(rest) && rest[sp] != ' ' {
		if !isTargetChar[rest[sp]] {
			return errBadTarget
		}
		sp++
	}
	if sp == 0 || sp == len(rest) {
		return errBadRequestLine
	}
	if sp > lim.MaxTargetBytes {
		return errTargetTooLong
	}
	r.Target = rest[:sp]

	// version: exactly "HTTP/d.d" and nothing after it
	v := rest[sp+1:]
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' ||
		v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9' {
		return errBadVersion
	}
	if v[5] != '1' {
		return errVersion
	}
	r.Major, r.Minor = 1, int(v[7]-'0')
	if r.Minor > 1 {
		r.Minor = 1 // RFC 9112 §2.3: a higher minor version is served as 1.1
	}
	return r.splitTarget()
}

// slash is the origin-form target of an absolute-form URI without a path.
var slash = []byte{'/'}

func (r *Request) splitTarget() error {
	if h := bytes.IndexByte(r.Target, '#'); h >= 0 {
		r.Target = r.Target[:h] // a fragment is never part of a request
		if len(r.Target) == 0 {
			return errBadTarget
		}
	}
	t := r.Target
	switch {
	case t[0] == '/':
	case len(t) == 1 && t[0] == '*':
		if string(r.Method) != "OPTIONS" {
			return errBadTarget
		}
		r.Path = t
		return nil
	case string(r.Method) == "CONNECT":
		return errConnect
	default:
		// absolute-form: scheme "://" authority [path-abempty] [? query]
		var rest []byte
		switch {
		case len(t) > 7 && EqualFold(t[:7], "http://"):
			rest = t[7:]
		case len(t) > 8 && EqualFold(t[:8], "https://"):
			rest = t[8:]
		default:
			return errBadTarget
		}
		end := bytes.IndexAny(rest, "/?")
		if end < 0 {
			end = len(rest)
		}
		authority := rest[:end]
		if len(authority) == 0 || bytes.IndexByte(authority, '@') >= 0 {
			return errBadTarget // userinfo is never legitimate in a request
		}
		if !ValidHost(authority) {
			return errBadTarget
		}
		r.Host = authority
		r.AbsoluteForm = true
		t = rest[end:]
		if len(t) == 0 {
			t = slash
		} else if t[0] != '/' {
			return errBadTarget
		}
		r.Target = t
	}
	if q := bytes.IndexByte(t, '?'); q >= 0 {
		r.Path, r.Query = t[:q], t[q+1:]
	} else {
		r.Path = t
	}
	return checkEscapes(r.Path)
}

// checkEscapes refuses a path whose '%' is not followed by two hex digits:
// every later decoder (ours, the application's) would guess differently.
// Queries are left alone; applications parse them leniently anyway.
func checkEscapes(p []byte) error {
	for i := 0; i < len(p); i++ {
		if p[i] == '%' {
			if i+2 >= len(p) {
				return errBadTarget
			}
			if _, ok := HexDigit(p[i+1]); !ok {
				return errBadTarget
			}
			if _, ok := HexDigit(p[i+2]); !ok {
				return errBadTarget
			}
			i += 2
		}
	}
	return nil
}

// fieldState collects what the field lines say about framing.
type fieldState struct {
	seenHost, seenCL, seenTE         bool
	connClose, connKeepAlive, connUp bool
	hasUpgrade                       bool
}

func (r *Request) parseFields(b []byte, lim *Limits) error {
	var st fieldState
	absHost := r.Host
	for {
		eol := bytes.IndexByte(b, '\n')
		if eol < 1 {
			return errBareLF // Scan guarantees CRLF; defensive
		}
		line := b[:eol-1]
		b = b[eol+1:]
		if len(line) == 0 {
			break // the empty line that ends the head
		}
		if err := r.parseField(line, lim, &st); err != nil {
			return err
		}
	}
	return r.checkFraming(&st, absHost)
}

func (r *Request) parseField(line []byte, lim *Limits, st *fieldState) error {
	if line[0] == ' ' || line[0] == '\t' {
		return errObsFold
	}
	colon := -1
	underscore := false
	for i, c := range line {
		if c == ':' {
			colon = i
			break
		}
		if !isTchar[c] {
			if c == ' ' || c == '\t' {
				return errSpaceBeforeColon
			}
			return errBadName
		}
		if c == '_' {
			underscore = true
		}
	}
	switch colon {
	case -1:
		return errNoColon
	case 0:
		return errEmptyName
	}
	name := line[:colon]
	value := trimOWS(line[colon+1:])
	for _, c := range value {
		if isValueCtl(c) {
			if c == '\r' {
				return errBareCR
			}
			return errBadValue
		}
	}
	if len(r.Headers) >= lim.MaxHeaders {
		return errTooManyHeaders
	}
	id := LookupHeader(name)
	if id == HeaderOther && len(name) >= 12 && len(name) <= 24 && framingLookalike(name) {
		return errSuspiciousName
	}
	r.Headers = append(r.Headers, Header{Name: name, Value: value, ID: id, Underscore: underscore})
	return r.interpret(id, value, st)
}

// interpret records what a known field means for framing and connection
// management.
func (r *Request) interpret(id HeaderID, value []byte, st *fieldState) error {
	switch id {
	case HeaderHost:
		if st.seenHost {
			return errDupHost
		}
		st.seenHost = true
		if !ValidHost(value) {
			return errBadHost
		}
		if !r.AbsoluteForm {
			r.Host = value
		} else if !equalFoldBytes(value, r.Host) {
			return errHostMismatch
		}
	case HeaderContentLength:
		if st.seenCL {
			return errDupCL
		}
		st.seenCL = true
		n, ok := ParseContentLength(value)
		if !ok {
			return errBadCL
		}
		r.ContentLength = n
	case HeaderTransferEncoding:
		st.seenTE = true
		return r.addTransferCodings(value)
	case HeaderConnection:
		forEachToken(value, func(tok []byte) {
			switch {
			case EqualFold(tok, "close"):
				st.connClose = true
			case EqualFold(tok, "keep-alive"):
				st.connKeepAlive = true
			case EqualFold(tok, "upgrade"):
				st.connUp = true
			}
		})
	case HeaderUpgrade:
		st.hasUpgrade = len(value) > 0
	case HeaderExpect:
		if !EqualFold(value, "100-continue") {
			return errExpectation
		}
		r.Expect100 = true
	}
	return nil
}

func (r *Request) checkFraming(st *fieldState, absHost []byte) error {
	if r.Minor == 1 && !st.seenHost {
		return errNoHost
	}
	if r.AbsoluteForm && !st.seenHost {
		r.Host = absHost
	}
	if st.seenCL && st.seenTE {
		return errCLAndTE
	}
	if st.seenTE && !r.Chunked {
		return errBadTE // chunked must be the final coding (RFC 9112 §6.3)
	}
	if r.Chunked {
		if r.Minor == 0 {
			return errTEOnHTTP10
		}
		r.ContentLength = -1
	}
	if r.ContentLength != 0 && !methodAllowsBody(r.Method) {
		return errBodyNotAllowed
	}
	if r.Minor == 1 {
		r.KeepAlive = !st.connClose
	} else {
		r.KeepAlive = st.connKeepAlive && !st.connClose
	}
	r.Upgrade = r.Minor == 1 && st.connUp && st.hasUpgrade
	return nil
}

// methodAllowsBody is false for methods whose body has no defined semantics
// and that intermediaries commonly forward without one: a body there is a
// classic smuggling carrier.
func methodAllowsBody(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "TRACE":
		return false
	}
	return true
}

// ParseContentLength parses 1*DIGIT strictly: no sign, no spaces inside, no
// list, at most 18 digits so the value cannot overflow an int64.
func ParseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// forEachToken calls f for each non-empty element of a comma-separated list.
func forEachToken(v []byte, f func([]byte)) {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ',')
		var tok []byte
		if i < 0 {
			tok, v = v, nil
		} else {
			tok, v = v[:i], v[i+1:]
		}
		if tok = trimOWS(tok); len(tok) > 0 {
			f(tok)
		}
	}
}

// equalFoldBytes compares two ASCII strings ignoring case.
func equalFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}
