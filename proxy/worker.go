package proxy

import (
	"crypto/tls"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"frontdoor/proxy/http1"
	"frontdoor/proxy/http2"
	"frontdoor/proxy/loop"
	"frontdoor/proxy/static"
	"frontdoor/proxy/tlsterm"
	"frontdoor/proxy/upstream"
)

// worker is one event loop (proxy/loop) with its connections, buffer
// pools, file cache and upstream pools. A worker's state is touched only
// by its loop's goroutine.
type worker struct {
	id         int
	e          *Engine
	loop       *loop.Loop
	log        *slog.Logger
	cfg        *Config
	router     *router
	headLimits http1.Limits
	proxyCfg   *ProxyConfig
	groups     map[string]*upstream.Group
	pool       *upstream.Pool // upstream connections, idle ones per server
	trusted    *trustedSet
	rng        *rand.PCG
	// tlsCfg serves the TLS listeners, tlsNoH2 those with NoHTTP2
	// (noHTTP2Config): picked at accept, nothing per handshake.
	tlsCfg    *tls.Config
	tlsNoH2   *tls.Config
	challenge func(host, path string) ([]byte, bool)
	httpsPort int
	// handshakes runs TLS handshakes off the loop (proxy/tlsterm).
	handshakes *tlsterm.Handshakes
	// held are requests waiting for a server of a group that has none.
	held []heldRequest
	// dialWait are the requests that wait for the end of the turn to get
	// an upstream connection (dialLater).
	dialWait    []heldRequest
	tlsScratch  []byte
	hostScratch []byte

	nconns int
	// exchanges counts the exchanges begun, to tell them apart (held).
	exchanges uint32

	// dateSec is the second date was formatted for.
	dateSec int64
	date    [29]byte // "Mon, 02 Jan 2006 15:04:05 GMT"

	listeners []*listenerItem
	// acceptTimer runs while the listeners are out of the epoll set after
	// EMFILE/ENFILE, so that a full backlog cannot spin the loop.
	acceptTimer loop.Timer
	// dueTimer wakes the loop for the worker's own deadlines (AfterTurn):
	// the access log's flush and the end of a drain. An idle loop makes
	// no turn otherwise.
	dueTimer loop.Timer

	// HTTP/2: the codec's configuration (shared by the engine's
	// workers, replaced on reload), its per-worker memory pool, and the
	// free lists and scratch of http2conn.go and http2stream.go.
	h2cfg        *http2.Config
	h2pool       *http2.Pool
	h2Free       []*h2conn
	h2StreamFree []*h2stream
	h2ListFree   [][]*h2stream
	h2Fields     []http1.Header
	h2Run        []*h2stream

	rpool    loop.BufPool
	wpool    loop.BufPool
	exFree   []*exchange
	pxFree   []*proxyExchange
	compFree []*compressor
	// scratch buffers of the proxy path
	upScratch    []byte
	ipScratch    []byte
	accelHeaders []byte
	jsonScratch  []byte
	files        *static.Cache
	scratch      []byte // per-request scratch (path decoding, host folding)
	alog         accessLog
	// logScratch holds the redacted target of the line being written.
	logScratch []byte

	draining      bool
	drainDeadline int64
	done          chan struct{}

	stats workerStats
}

// workerStats are counters other goroutines read.
type workerStats struct {
	accepted atomic.Uint64
	requests atomic.Uint64
	active   atomic.Int64
}

// Timer kinds of the proxy (proxy/loop runs them).
const (
	timerHead        loop.TimerKind = iota + 1 // absolute deadline for a whole request head
	timerBodyIdle                              // idle time between body reads
	timerSendIdle                              // idle time between response writes
	timerKeepAlive                             // idle keep-alive connection
	timerLinger                                // lingering close: draining input after an error
	timerUpConnect                             // upstream connect
	timerUpRead                                // upstream response head, and between body reads
	timerUpIdle                                // pooled upstream connection idle lifetime
	timerUpRetry                               // retry a connect refused for a full backlog
	timerUpHold                                // a request waiting for a booting application (ArmAt)
	timerTunnel                                // idle WebSocket / upgraded tunnel
	timerHandshake                             // TLS handshake
	timerAcceptPause                           // listeners out of the epoll set after EMFILE (ArmAt)
	timerWorkerDue                             // the worker's own next deadline: log flush, drain end (ArmAt)
	timerH2Tick                                // an HTTP/2 connection's codec deadline (ArmAt)
	timerH2Hold                                // an HTTP/2 answer waiting for its request's end
	timerDrainFirst                            // a fresh connection's first request, once draining
)

// run turns the worker's loop until the worker has drained.
func (w *worker) run() {
	defer close(w.done)
	w.loop.Run(w)
	w.alog.flush()
}

// AfterTurn is the worker's periodic work, once per turn of its loop:
// the requests waiting for an upstream connection given one, the
// upstream pools trimmed to their size, the access log flushed when
// due, a drain finished; dueTimer is set for whichever is next.
func (w *worker) AfterTurn() {
	w.dialLater()
	w.pool.Trim()
	now := w.loop.Now()
	w.alog.flushIfDue(now)
	if w.draining && (w.nconns == 0 || now >= w.drainDeadline) {
		w.finishDrain()
		return
	}
	due := int64(-1)
	if d, ok := w.alog.due(); ok {
		due = d
	}
	if w.draining && (due < 0 || w.drainDeadline < due) {
		due = w.drainDeadline
	}
	switch {
	case due < 0:
		w.loop.Disarm(&w.dueTimer)
	case !w.dueTimer.Armed() || w.dueTimer.Deadline() != due:
		w.loop.ArmAt(&w.dueTimer, timerWorkerDue, due)
	}
}

// Recovered confines a panic on the worker's loop (an event, a timer, a
// task) to the client connection involved: logged, answered with 500 when
// nothing was sent yet, and the connection closed; the worker goes on.
func (w *worker) Recovered(owner any, r any) {
	buf := make([]byte, 8<<10)
	buf = buf[:runtime.Stack(buf, false)]
	w.log.Error("panic while handling a connection; connection closed, worker continues",
		"worker", w.id, "panic", r, "stack", string(buf))
	var c *conn
	switch o := owner.(type) {
	case *conn:
		c = o
	case *exchange:
		c = o.c
	case *h2conn:
		c = o.c
	case *h2stream:
		if o.h != nil {
			c = o.h.c
		}
	}
	if c != nil && c.state != stateClosed {
		c.fail()
	}
}

// OnTimeout ends the accept pause after EMFILE/ENFILE. (timerWorkerDue
// needs nothing here: AfterTurn follows every expiry.)
func (w *worker) OnTimeout(kind loop.TimerKind) {
	if kind == timerAcceptPause {
		w.resumeAccept()
	}
}

// httpDate is the Date header value for the loop's current second.
func (w *worker) httpDate() []byte {
	if sec := w.loop.Second(); sec != w.dateSec {
		w.dateSec = sec
		time.Unix(sec, 0).UTC().AppendFormat(w.date[:0], http.TimeFormat)
	}
	return w.date[:]
}

// heldRequest is an exchange waiting for an upstream server; id tells it
// from a later use of the pooled exchange.
type heldRequest struct {
	ex *exchange
	id uint32
}
