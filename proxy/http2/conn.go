package http2

import "unsafe"

// Conn is the server side of one HTTP/2 connection, without I/O: the event
// loop feeds it the bytes it reads (after TLS) with Feed and gets Events
// back; the exchange layer answers through WriteHeaders, WriteData,
// WriteTrailers and Reset; whatever the connection must send collects in
// Output, which the loop writes to the socket and acknowledges with Sent.
// Nothing blocks, nothing starts a goroutine, and a warm connection
// allocates nothing per request. A Conn is driven by one goroutine.
//
// Lifetimes: a Request (EventRequest) and its Trailers live in memory the
// stream borrowed from the Pool; they stay valid until the stream has
// closed and the next call into the Conn has begun. Data (EventData) is a
// slice of the caller's input.
type Conn struct {
	cfg  *Config
	pool *Pool
	now  int64

	// Input.
	prefaceN    int  // bytes of the client preface seen so far
	sawSettings bool // the client's first frame, a SETTINGS, arrived
	fr          frameReader
	in          inFrame
	hb          headerBlock
	dec         Decoder

	// What the client asked for in its SETTINGS.
	peerMaxFrame   uint32
	peerInitWindow int64

	// Flow control. recvInit is the receive window a new stream starts
	// with: the protocol's 65,535 may still be in use by the client until
	// it acknowledges our SETTINGS.
	sendWindow  int64
	recvWindow  int64
	recvUnacked int64
	recvInit    int64
	connBlocked bool // a write stopped at the connection window
	// windowOpened: the client's SETTINGS raised every stream's window.
	windowOpened bool

	// Streams. Closed streams are not kept: opened and quiet describe the
	// 64 odd stream ids at and below maxClientID (bit i: maxClientID-2i),
	// whether each was opened, and whether we reset it (frames on it are
	// then ignored, as RFC 9113 §5.1 asks).
	streams       []*stream
	maxClientID   uint32
	opened, quiet uint64
	closed        *stream // closed streams, released at the next call
	last          *stream // the stream found last

	// Settings acknowledgement and shutdown.
	settingsAckDue int64  // when the client must have acknowledged our SETTINGS; 0 once it has
	drainDue       int64  // when a graceful shutdown sends its final GOAWAY anyway
	lastAccepted   uint32 // streams above it are refused (after the final GOAWAY)
	goAwaySent     bool
	finalSent      bool
	peerGoAway     bool
	dead           bool

	// Abuse budgets.
	resets  windowCounter
	control windowCounter

	// Output: bytes to send are out[outOff:].
	out    []byte
	outOff int
}

// inFrame is the frame being received.
type inFrame struct {
	fh frameHeader
	s  *stream // the stream DATA goes to
	// discard: the payload is skipped (its flow-control credit has been
	// returned already, for DATA).
	discard bool
	padded  bool   // the pad length byte is still to come
	padLen  uint32 // padding after the body
	body    uint32 // data or fragment bytes still to come
	prio    uint8  // priority bytes still to come (HEADERS)
	ended   bool   // END_STREAM was reported with the last data bytes
	n       int    // control payload bytes gathered in buf
	buf     [8]byte
}

// headerBlock is a header block being received (HEADERS, then any
// CONTINUATION frames until END_HEADERS).
type headerBlock struct {
	active    bool
	stream    uint32
	kind      blockKind
	endStream bool
	frames    int
	size      int
	buf       []byte // fragments so far, from the pool
	direct    []byte // a whole block found in the input: decoded in place
	err       *Error // a stream error to apply once the block is decoded
}

type blockKind uint8

const (
	blockRequest      blockKind = iota // opens a stream
	blockTrailers                      // ends an open stream's request
	blockStreamClosed                  // on a half-closed (remote) stream: STREAM_CLOSED
	blockRefused                       // over the concurrency limit: REFUSED_STREAM
	blockAfterGoAway                   // above the final GOAWAY's last stream id
	blockIgnore                        // on a stream we reset: decoded for HPACK, dropped
)

// drainPing is the payload of the PING that follows a graceful GOAWAY.
var drainPing = [8]byte{'d', 'r', 'a', 'i', 'n', 'i', 'n', 'g'}

// NewConn returns a connection ready for the client's preface. cfg must
// have been normalized; the server's preface is already in Output.
func NewConn(cfg *Config, pool *Pool, now int64) *Conn {
	c := &Conn{}
	c.Init(cfg, pool, now)
	return c
}

// Init prepares c for a new connection (a Conn can be reused after
// Release). now is the loop's clock in nanoseconds, the same clock as
// later calls.
func (c *Conn) Init(cfg *Config, pool *Pool, now int64) {
	*c = Conn{cfg: cfg, pool: pool, now: now}
	c.dec.Init(cfg.HeaderTableSize)
	c.peerMaxFrame = minMaxFrameSize
	c.peerInitWindow = defaultWindow
	c.sendWindow = defaultWindow
	c.recvWindow = defaultWindow
	c.recvInit = max(defaultWindow, int64(cfg.InitialWindowSize))
	c.lastAccepted = maxStreamID

	var s [7]setting
	n := 0
	add := func(id uint16, v uint32) { s[n] = setting{id, v}; n++ }
	add(settingMaxConcurrentStreams, cfg.MaxConcurrentStreams)
	add(settingEnablePush, 0)
	if cfg.InitialWindowSize != defaultWindow {
		add(settingInitialWindowSize, cfg.InitialWindowSize)
	}
	if cfg.MaxFrameSize != minMaxFrameSize {
		add(settingMaxFrameSize, cfg.MaxFrameSize)
	}
	add(settingMaxHeaderListSize, cfg.MaxHeaderListSize)
	if cfg.HeaderTableSize != defaultTableSize {
		add(settingHeaderTableSize, cfg.HeaderTableSize)
	}
	if cfg.EnableConnectProtocol {
		add(settingEnableConnectProtocol, 1)
	}
	c.ensureOut()
	c.out = appendSettings(c.out, s[:n])
	if w := int64(cfg.ConnWindowSize); w > defaultWindow {
		c.out = appendWindowUpdate(c.out, 0, uint32(w-defaultWindow))
		c.recvWindow = w
	}
	c.settingsAckDue = now + int64(cfg.SettingsTimeout)
}

// Feed consumes bytes read from the client, in whatever pieces they
// arrived, until it has something to report. It returns how many bytes it
// consumed and the event; call it again with the rest of the input (and
// after it returns EventNone, with the next read). Bytes are never kept
// except a partial frame header and the fragments of an unfinished header
// block, so the caller may reuse its buffer once everything is consumed.
// After EventClosed everything is consumed and ignored.
func (c *Conn) Feed(in []byte, now int64) (int, Event) {
	c.now = now
	c.releaseClosed()
	if c.dead {
		return len(in), Event{}
	}
	n := 0
	if c.prefaceN < len(clientPreface) {
		k := min(len(in), len(clientPreface)-c.prefaceN)
		if string(in[:k]) != clientPreface[c.prefaceN:c.prefaceN+k] {
			return len(in), c.connError(errPreface)
		}
		c.prefaceN += k
		n = k
	}
	for n < len(in) {
		k, step, chunk := c.fr.next(in[n:])
		n += k
		var ev Event
		switch step {
		case stepHeader:
			ev = c.onFrameHeader()
		case stepPayload:
			used, e := c.onPayload(chunk, c.fr.left == 0)
			if rest := len(chunk) - used; rest > 0 {
				c.fr.left += uint32(rest)
				n -= rest
			}
			ev = e
		}
		if ev.Kind == EventNone && !c.dead && len(c.out)-c.outOff > c.cfg.MaxPendingOutput {
			ev = c.connError(errOutputFlood)
		}
		if ev.Kind != EventNone {
			return n, ev
		}
		if c.dead {
			return len(in), Event{}
		}
	}
	return n, Event{}
}

// onFrameHeader starts a frame.
func (c *Conn) onFrameHeader() Event {
	fh := c.fr.fh
	c.in = inFrame{fh: fh}
	if !c.sawSettings {
		if fh.typ != frameSettings {
			return c.connError(errNoSettings)
		}
		c.sawSettings = true
	}
	if fh.length > c.cfg.MaxFrameSize {
		return c.connError(errFrameSize)
	}
	if c.hb.active && (fh.typ != frameContinuation || fh.stream != c.hb.stream) {
		return c.connError(errHeaderBlockBroken)
	}
	var ev Event
	switch fh.typ {
	case frameData:
		ev = c.startData()
	case frameHeaders:
		ev = c.startHeaders()
	case frameContinuation:
		ev = c.startContinuation()
	case framePriority:
		ev = c.startPriority()
	case frameRSTStream:
		ev = c.startRSTStream()
	case frameSettings:
		ev = c.startSettings()
	case framePushPromise:
		return c.connError(errPushPromise)
	case framePing:
		ev = c.startPing()
	case frameGoAway:
		ev = c.startGoAway()
	case frameWindowUpdate:
		ev = c.startWindowUpdate()
	default:
		// Unknown types are ignored (RFC 9113 §5.5), but they cost.
		c.in.discard = true
		if c.overControl() {
			return c.connError(errControlFlood)
		}
	}
	if ev.Kind != EventNone || c.dead {
		return ev
	}
	if fh.length == 0 {
		return c.finishFrame()
	}
	return Event{}
}

// onPayload handles the next piece of the current frame's payload; last
// is set when the piece ends the frame. It returns the bytes used: fewer
// than the piece when it stops at an event mid-frame.
func (c *Conn) onPayload(p []byte, last bool) (int, Event) {
	if c.in.discard && c.in.fh.typ != frameData {
		return len(p), Event{}
	}
	switch c.in.fh.typ {
	case frameData:
		return c.dataPayload(p, last)
	case frameHeaders, frameContinuation:
		return c.headerPayload(p, last)
	case frameSettings:
		return c.settingsPayload(p, last)
	case framePing, frameRSTStream, frameWindowUpdate, framePriority, frameGoAway:
		k := copy(c.in.buf[c.in.n:], p)
		c.in.n += k
		if last {
			return len(p), c.finishFrame()
		}
		return len(p), Event{}
	}
	return len(p), Event{}
}

// finishFrame acts on a frame whose payload has all arrived.
func (c *Conn) finishFrame() Event {
	f := &c.in
	switch f.fh.typ {
	case frameData:
		if !f.discard && !f.ended && f.fh.has(flagEndStream) {
			return c.endRequestBody(f.s, nil)
		}
	case frameHeaders, frameContinuation:
		if f.fh.has(flagEndHeaders) {
			return c.endHeaderBlock()
		}
	case frameSettings:
		return c.finishSettings()
	case framePing:
		return c.finishPing()
	case frameRSTStream:
		return c.finishRSTStream()
	case frameWindowUpdate:
		return c.finishWindowUpdate()
	case framePriority:
		return c.finishPriority()
	case frameGoAway:
		return c.finishGoAway()
	}
	return Event{}
}

// connError ends the connection: GOAWAY with the error's code, every
// stream dropped, all further input ignored.
func (c *Conn) connError(err *Error) Event {
	if c.dead {
		return Event{}
	}
	c.ensureOut()
	c.out = appendGoAway(c.out, c.maxClientID, err.Code)
	c.finish()
	return Event{Kind: EventClosed, Code: err.Code, Err: err}
}

// finish marks the connection dead and drops its streams.
func (c *Conn) finish() {
	c.dead = true
	for len(c.streams) > 0 {
		c.closeStream(c.streams[len(c.streams)-1], false)
	}
	c.pool.putBuf(c.hb.buf)
	c.hb = headerBlock{}
}

// Tick tells the connection the time (the loop calls it at Deadline). It
// sends the final GOAWAY of a graceful shutdown whose PING went
// unanswered, and ends a connection whose client never acknowledged our
// SETTINGS (EventClosed).
func (c *Conn) Tick(now int64) Event {
	c.now = now
	c.releaseClosed()
	if c.dead {
		return Event{}
	}
	if c.settingsAckDue != 0 && now >= c.settingsAckDue {
		return c.connError(errSettingsTimeout)
	}
	if c.drainDue != 0 && now >= c.drainDue {
		c.sendFinalGoAway()
	}
	return Event{}
}

// Deadline is when Tick must next be called, or 0 when no timer runs.
func (c *Conn) Deadline() int64 {
	d := c.settingsAckDue
	if c.drainDue != 0 && (d == 0 || c.drainDue < d) {
		d = c.drainDue
	}
	return d
}

// Shutdown starts a graceful shutdown (reload, stop): a GOAWAY that
// admits every stream the client may have in flight, and a PING; when the
// PING's answer comes (or DrainTimeout passes) the final GOAWAY names the
// last stream that will be served. Streams below it are served to the
// end; Finished reports when the last is done.
func (c *Conn) Shutdown(now int64) {
	c.now = now
	if c.dead || c.goAwaySent {
		return
	}
	c.goAwaySent = true
	c.ensureOut()
	c.out = appendGoAway(c.out, maxStreamID, ErrCodeNo)
	c.out = appendPing(c.out, false, &drainPing)
	c.drainDue = now + int64(c.cfg.DrainTimeout)
}

func (c *Conn) sendFinalGoAway() {
	c.drainDue = 0
	if c.finalSent || c.dead {
		return
	}
	c.goAwaySent, c.finalSent = true, true
	c.lastAccepted = c.maxClientID
	c.ensureOut()
	c.out = appendGoAway(c.out, c.maxClientID, ErrCodeNo)
}

// Close ends the connection at once with a GOAWAY carrying code (an idle
// timeout, a fatal error of the caller's): every stream is dropped. Send
// Output, then close the socket.
func (c *Conn) Close(code ErrCode) {
	if c.dead {
		return
	}
	c.ensureOut()
	c.out = appendGoAway(c.out, c.maxClientID, code)
	c.finish()
}

// Finished reports that the connection has nothing more to do: it ended,
// or it is draining (after our final GOAWAY or the client's) and its last
// stream is done. Send Output, then close the socket.
func (c *Conn) Finished() bool {
	return c.dead || (c.finalSent || c.peerGoAway) && len(c.streams) == 0 && !c.hb.active
}

// Idle reports a connection with no stream, no partial frame and no
// output: it holds no borrowed memory, and the loop's keep-alive timer
// may run.
func (c *Conn) Idle() bool {
	return len(c.streams) == 0 && !c.fr.pending() && !c.hb.active && c.outOff == len(c.out)
}

// Streams is the number of open streams.
func (c *Conn) Streams() int { return len(c.streams) }

// Release gives everything the connection borrowed back to the pool (the
// loop calls it when it closes the socket). The Conn can then be reused
// with Init.
func (c *Conn) Release() {
	if !c.dead {
		c.finish()
	}
	c.releaseClosed()
	c.pool.putBuf(c.out)
	c.out, c.outOff = nil, 0
}

// Memory is the heap the connection holds besides its Conn struct: the
// HPACK table, the stream list and buffers it has borrowed.
func (c *Conn) Memory() int {
	m := c.dec.Memory() + cap(c.out) + cap(c.hb.buf) + 8*cap(c.streams)
	for _, s := range c.streams {
		m += cap(s.arena) + cap(s.tarena)
	}
	return m
}

// idle reports a stream id the client has not opened yet: above every id
// it used, or even (ours, and we open none).
func (c *Conn) idle(id uint32) bool { return id > c.maxClientID || id%2 == 0 }

// find returns the open stream with the given id, or nil.
func (c *Conn) find(id uint32) *stream {
	if s := c.last; s != nil && s.id == id {
		return s
	}
	for _, s := range c.streams {
		if s.id == id {
			c.last = s
			return s
		}
	}
	return nil
}

// openStream advances maxClientID to id, marking it opened.
func (c *Conn) openStream(id uint32) {
	shift := (id - c.maxClientID) / 2
	if shift >= 64 {
		c.opened, c.quiet = 0, 0
	} else {
		c.opened <<= shift
		c.quiet <<= shift
	}
	c.opened |= 1
	c.maxClientID = id
}

// recentBit is the bit of a closed stream id in opened and quiet, or 0
// when the id is too old to be remembered.
func (c *Conn) recentBit(id uint32) uint64 {
	d := (c.maxClientID - id) / 2
	if d >= 64 {
		return 0
	}
	return 1 << d
}

func (c *Conn) markQuiet(id uint32) { c.quiet |= c.recentBit(id) }

// isQuiet reports a closed stream we reset: frames on it are ignored.
func (c *Conn) isQuiet(id uint32) bool { return c.quiet&c.recentBit(id) != 0 }

// wasOpened reports whether a closed stream id was ever opened (ids too
// old to remember count as opened).
func (c *Conn) wasOpened(id uint32) bool {
	b := c.recentBit(id)
	return b == 0 || c.opened&b != 0
}

// addStream puts a new stream in the table.
func (c *Conn) addStream(s *stream) {
	if c.streams == nil {
		c.streams = c.pool.getSlice()
	}
	c.streams = append(c.streams, s)
}

// closeStream removes s from the table; with quiet set, frames still
// arriving on it are ignored. The body it was handed but did not consume
// goes back to the connection window, and its memory goes back to the
// pool at the next call.
func (c *Conn) closeStream(s *stream, quiet bool) {
	for i, t := range c.streams {
		if t == s {
			last := len(c.streams) - 1
			c.streams[i] = c.streams[last]
			c.streams[last] = nil
			c.streams = c.streams[:last]
			break
		}
	}
	if c.last == s {
		c.last = nil
	}
	if quiet {
		c.markQuiet(s.id)
	}
	if s.held > 0 {
		c.creditConn(s.held)
	}
	s.next = c.closed
	c.closed = s
}

// releaseClosed returns closed streams' memory to the pool.
func (c *Conn) releaseClosed() {
	for s := c.closed; s != nil; {
		next := s.next
		if c.in.s == s {
			// The stream closed in the middle of one of its DATA
			// frames: the rest of the frame goes nowhere, and its
			// credit back at once (the padding's was returned already
			// unless the pad length is still to come).
			f := &c.in
			f.s, f.discard = nil, true
			if f.padded {
				c.creditConn(int64(c.fr.left))
			} else {
				c.creditConn(int64(f.body))
			}
		}
		c.pool.putBuf(s.arena)
		c.pool.putBuf(s.tarena)
		s.reset()
		c.pool.putStream(s)
		s = next
	}
	c.closed = nil
	if len(c.streams) == 0 && c.streams != nil {
		c.pool.putSlice(c.streams)
		c.streams = nil
	}
}

func (c *Conn) overResets() bool {
	return c.resets.add(c.now, int64(c.cfg.ResetWindow), c.cfg.MaxResets)
}

func (c *Conn) overControl() bool {
	return c.control.add(c.now, int64(c.cfg.ControlWindow), c.cfg.MaxControlFrames)
}

// sizeofConn is the size of a Conn, for the memory report.
const sizeofConn = int(unsafe.Sizeof(Conn{}))
