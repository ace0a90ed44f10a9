package proxy

import (
	"context"
	"fmt"
	"frontdoor/proxy/loop"
	"frontdoor/proxy/static"
	"frontdoor/proxy/tlsterm"
	"frontdoor/proxy/upstream"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"frontdoor/proxy/http1"
	"frontdoor/proxy/http2"
)

// Engine runs the event-loop workers. Create it with New, start it with
// Start, change its configuration with Reload and stop it with Shutdown.
type Engine struct {
	log   *slog.Logger
	texts *responseTexts
	start time.Time

	mu sync.Mutex // serialises Reload, SetUpstreamServers and Shutdown
	// cfg is replaced whole on reload, never written in place: workers
	// hold the pointer they were given until their switch task runs.
	cfg       *Config
	router    *router
	groups    map[string]*upstream.Spec
	trusted   *trustedSet
	listeners []Listener
	workers   []*worker
	done      chan struct{}
	tempDir   string
	servers   upstream.Registry
	limiter   ipLimiter
	health    *upstream.Checker
	// started: Start has run. Before, a group's change is given to the
	// workers directly (no loop runs yet), so what the caller sets before
	// Start — a hold, a maintenance page — is in force from the first
	// connection accepted.
	started bool
	// stopped: the workers have stopped and their loops are closed; a
	// task posted now would write to a descriptor number another file
	// may have taken since.
	stopped bool

	// beforeServe, when set (by tests only), runs before each request is
	// routed; it lets a test make a handler panic.
	beforeServe atomic.Pointer[func(path []byte)]
}

// New validates cfg, compiles its routes and prepares the workers. It
// takes ownership of the listeners' descriptors and closes them when the
// workers have stopped.
func New(cfg Config, listeners []Listener) (*Engine, error) {
	if errs := cfg.Validate(); errs != nil {
		return nil, errs
	}
	cfg = cfg.WithDefaults()
	listeners = append([]Listener(nil), listeners...)
	for i := range listeners {
		if err := prepareListener(&listeners[i]); err != nil {
			return nil, err
		}
	}
	if errs := checkListenerTLS(&cfg, listeners); errs != nil {
		return nil, errs
	}
	e := &Engine{
		log:       cfg.Logger,
		texts:     newResponseTexts(),
		start:     time.Now(),
		listeners: listeners,
		done:      make(chan struct{}),
	}
	groups, trusted, err := e.compileProxy(&cfg)
	if err != nil {
		return nil, err
	}
	rt, err := newRouter(cfg.Sites)
	if err != nil {
		return nil, err
	}
	e.cfg, e.router, e.groups, e.trusted = &cfg, rt, groups, trusted
	if rt.walksPaths() {
		e.log.Info("openat2 is refused here (a seccomp filter): static files are opened by walking their paths, with the same confinement")
	}
	e.tempDir = cfg.Proxy.TempDir
	if e.tempDir == "" {
		e.tempDir = os.TempDir()
	}
	for i := 0; i < cfg.Workers; i++ {
		w, err := e.newWorker(i)
		if err != nil {
			e.closeWorkers()
			rt.close()
			return nil, err
		}
		e.workers = append(e.workers, w)
	}
	return e, nil
}

func (e *Engine) newWorker(id int) (*worker, error) {
	l, err := loop.New(e.start, e.log.With("worker", id))
	if err != nil {
		return nil, fmt.Errorf("worker %d: %w", id, err)
	}
	w := &worker{
		id:          id,
		e:           e,
		loop:        l,
		log:         e.log,
		scratch:     make([]byte, 4096),
		done:        make(chan struct{}),
		upScratch:   make([]byte, 16<<10),
		tlsScratch:  make([]byte, 16<<10),
		hostScratch: make([]byte, 0, 256),
		ipScratch:   make([]byte, 0, 64),
		rng:         rand.NewPCG(uint64(time.Now().UnixNano()), uint64(id)+1),
	}
	w.acceptTimer.Owner = w
	w.dueTimer.Owner = w
	w.pool = upstream.NewPool(l, timerUpConnect, timerUpIdle)
	w.h2pool = http2.NewPool()
	w.handshakes = tlsterm.NewHandshakes(max(32, 256/e.cfg.Workers), w.done)
	w.applyConfig(e.cfg, e.router, e.groups, e.trusted)
	w.alog = accessLog{out: e.cfg.AccessLog, log: func(msg string, args ...any) { e.log.Warn(msg, args...) }}
	for _, l := range e.listeners {
		w.addListener(l)
	}
	return w, nil
}

// applyConfig installs a configuration on the worker (its own goroutine, or
// before it starts).
func (w *worker) applyConfig(cfg *Config, rt *router, groups map[string]*upstream.Spec, trusted *trustedSet) {
	w.cfg = cfg
	w.router = rt
	w.proxyCfg = &cfg.Proxy
	w.tlsCfg, w.tlsNoH2 = cfg.TLS, noHTTP2Config(cfg)
	w.challenge = cfg.ACMEChallenge
	w.httpsPort = cfg.HTTPSPort
	if w.httpsPort == 0 {
		w.httpsPort = 443
	}
	w.trusted = trusted
	w.pool.Size = cfg.Proxy.PoolSize
	w.setGroups(groups)
	w.loop.SetBusyPoll(cfg.BusyPoll)
	t := &cfg.Timeouts
	for kind, d := range map[loop.TimerKind]time.Duration{
		timerHead: t.RequestHead, timerBodyIdle: t.BodyIdle, timerSendIdle: t.SendIdle,
		timerKeepAlive: t.KeepAlive, timerLinger: t.Linger,
		timerUpConnect: cfg.Proxy.ConnectTimeout, timerUpRead: cfg.Proxy.ResponseTimeout,
		timerUpIdle: cfg.Proxy.PoolIdle, timerUpRetry: 20 * time.Millisecond,
		timerTunnel: cfg.Proxy.TunnelIdle, timerHandshake: t.TLSHandshake, timerH2Hold: t.BodyIdle,
		timerDrainFirst: min(drainFirstRequest, t.RequestHead),
	} {
		w.loop.SetTimeout(kind, d)
	}
	w.h2cfg = newHTTP2Config(cfg)
	w.headLimits = http1.Limits{
		MaxHeadBytes:   cfg.Limits.MaxHeaderBytes,
		MaxTargetBytes: cfg.Limits.MaxTargetBytes,
		MaxHeaders:     cfg.Limits.MaxHeaders,
	}
	// The read buffer must hold a whole head of the largest allowed size.
	rsize := max(16<<10, cfg.Limits.MaxHeaderBytes+1024)
	if w.rpool.Size() != rsize {
		w.rpool = loop.NewBufPool(rsize, 1024)
	}
	if w.wpool.Size() == 0 {
		w.wpool = loop.NewBufPool(16<<10, 1024)
	}
	if w.files != nil {
		w.files.Clear()
	}
	w.files = static.NewCache(cfg.FileCache.Entries, cfg.FileCache.Valid, cfg.FileCache.InlineMax)
}

// Start runs the workers. It returns at once.
//
// Each worker holds a scheduler P while it runs or busy-polls, so Start
// makes sure one P is left for every other goroutine — TLS handshakes,
// health checks, the supervisor — however busy the workers are: without
// it they would wait for the runtime to preempt a worker (10 ms).
func (e *Engine) Start() {
	if runtime.GOMAXPROCS(0) <= len(e.workers) {
		runtime.GOMAXPROCS(len(e.workers) + 1)
	}
	var wg sync.WaitGroup
	e.mu.Lock()
	e.started = true
	for _, w := range e.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run()
		}()
	}
	e.health = upstream.NewChecker(e.log)
	e.health.Update(e.groups)
	e.mu.Unlock()
	go e.sweepLimiter()
	go func() {
		wg.Wait()
		e.health.Stop()
		e.mu.Lock()
		e.stopped = true // before the loops' descriptors close: changeGroup must not post to them
		e.closeWorkers()
		e.router.close()
		e.mu.Unlock()
		for _, l := range e.Listeners() {
			unix.Close(l.Fd)
		}
		close(e.done)
	}()
}

// Done is closed when every worker has stopped.
func (e *Engine) Done() <-chan struct{} { return e.done }

func (e *Engine) closeWorkers() {
	for _, w := range e.workers {
		w.files.Clear()
		w.loop.Close()
	}
}

// Reload installs a new configuration atomically: each worker switches
// between two events, so every request sees either the old or the new
// configuration whole. On error the old configuration stays in force.
// Worker count and listeners are not changed by Reload.
func (e *Engine) Reload(cfg Config) error {
	if errs := cfg.Validate(); errs != nil {
		return errs
	}
	cfg = cfg.WithDefaults()
	cfg.Workers = len(e.workers)
	if errs := checkListenerTLS(&cfg, e.listeners); errs != nil {
		return errs
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	groups, trusted, err := e.compileProxy(&cfg)
	if err != nil {
		return err
	}
	// A dynamic group keeps what it was given at run time: the servers
	// (the supervised application's current generation), its maintenance
	// mode, and its start hold (an application still booting).
	for name, g := range groups {
		if old, ok := e.groups[name]; ok && len(g.Servers) == 0 {
			g.Servers = old.Servers
			g.Maintenance = old.Maintenance
			g.Hold = old.Hold
		}
	}
	rt, err := newRouter(cfg.Sites)
	if err != nil {
		return err
	}
	old := e.router
	newCfg := &cfg
	e.cfg, e.router, e.groups, e.trusted = newCfg, rt, groups, trusted
	e.health.Update(groups)
	e.onEachWorker(func(w *worker) {
		w.applyConfig(newCfg, rt, groups, trusted)
		w.alog.flush()
		w.alog.out = newCfg.AccessLog
		// HTTP/2 connections drain (GOAWAY): their clients open new ones,
		// whose settings and limits are the new configuration's.
		w.shutdownHTTP2()
	})
	old.close()
	return nil
}

// onEachWorker runs f on every worker's goroutine and waits until all have.
func (e *Engine) onEachWorker(f func(*worker)) {
	var wg sync.WaitGroup
	for _, w := range e.workers {
		wg.Add(1)
		w.loop.Post(nil, func() {
			defer wg.Done()
			f(w)
		})
	}
	wg.Wait()
}

// Shutdown stops accepting, lets in-flight responses finish (until ctx ends
// or the configured grace period passes), closes every connection and
// waits for the workers to stop.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	grace := e.cfg.Timeouts.ShutdownGrace
	if d, ok := ctx.Deadline(); ok {
		grace = min(grace, time.Until(d))
	}
	for _, w := range e.workers {
		w.loop.Post(nil, func() { w.startDrain(int64(grace)) })
	}
	e.mu.Unlock()
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startDrain stops accepting and closes idle connections; connections in
// the middle of a request finish it and close. An idle connection is read
// first: a request may already wait in its socket, its input event not
// handled yet (a connection accepted a moment before, whose client sent
// at once; a keep-alive client's next request). Closing under it gave
// that client no answer at all (curl: "Empty reply from server") during a
// restart, which socket activation otherwise makes lossless; now it is
// answered, with Connection: close. A connection that has not sent its
// first request yet is given drainFirstRequest for it instead of being
// closed: its client sent the request a moment ago, or is about to (its
// TLS handshake just ended), and, unlike a keep-alive client whose
// reused connection closes, it does not retry — curl reported "Empty
// reply from server" in a restart loop about once in a hundred requests.
func (w *worker) startDrain(grace int64) {
	w.draining = true
	w.pool.Draining = true
	w.drainDeadline = w.loop.Now() + grace
	w.pauseAccept(0)
	var idle []*conn
	w.loop.Each(func(h loop.Handler) {
		if c, ok := h.(*conn); ok && c.state == stateIdle {
			idle = append(idle, c)
		}
	})
	w.shutdownHTTP2()
	for _, c := range idle {
		if c.state != stateIdle {
			continue
		}
		fresh := c.timer.Kind() == timerHead
		c.readable = true
		c.drive()
		if c.state != stateIdle || len(c.rbuf) > 0 {
			continue
		}
		if fresh {
			w.loop.Arm(&c.timer, timerDrainFirst)
			continue
		}
		c.close()
	}
}

// drainFirstRequest is how long a draining worker waits for the first
// request of a connection accepted just before: long enough for a request
// already on its way (a round trip), short enough that a client that
// opened a connection it may never use (a browser's preconnect) does not
// hold up a restart.
const drainFirstRequest = time.Second

// shutdownHTTP2 starts a graceful drain on every HTTP/2 connection: a
// GOAWAY that lets the streams in flight finish, after which each closes.
func (w *worker) shutdownHTTP2() {
	var h2 []*conn
	w.loop.Each(func(h loop.Handler) {
		if c, ok := h.(*conn); ok && c.state == stateHTTP2 {
			h2 = append(h2, c)
		}
	})
	for _, c := range h2 {
		if c.state == stateHTTP2 {
			c.h2.shutdown()
		}
	}
}

// finishDrain closes whatever is left (client connections, then pooled
// upstream connections) and stops the loop.
func (w *worker) finishDrain() {
	w.loop.Each(func(h loop.Handler) {
		if c, ok := h.(*conn); ok {
			c.close()
		}
	})
	w.loop.Each(func(h loop.Handler) {
		if u, ok := h.(*upstream.Conn); ok {
			w.pool.Close(u)
		}
	})
	w.loop.Stop()
}

// Stats is a snapshot of the engine's counters.
type Stats struct {
	Workers     int
	Connections int64
	Accepted    uint64
	Requests    uint64
	// Panics is how many panics the workers' loops recovered from
	// (proxy/loop): each one is a bug that cost one connection, and
	// tests fail on any.
	Panics uint64
}

// Stats sums the workers' counters. It may be called from any goroutine.
func (e *Engine) Stats() Stats {
	s := Stats{Workers: len(e.workers)}
	for _, w := range e.workers {
		s.Panics += w.loop.Panics()
		s.Connections += w.stats.active.Load()
		s.Accepted += w.stats.accepted.Load()
		s.Requests += w.stats.requests.Load()
	}
	return s
}

// Alive reports whether every worker's loop runs what is posted to it
// within maxAge (loop.Responsive): a worker stuck in a handler does not,
// and the systemd watchdog pings stop. It is meant to be called
// periodically (each call posts the next probe to a loop whose last one
// has run); an idle worker is woken only by these calls.
func (e *Engine) Alive(maxAge time.Duration) bool {
	alive := true
	for _, w := range e.workers {
		if !w.loop.Responsive(maxAge) {
			alive = false
		}
	}
	return alive
}

// Listeners returns the listeners the engine accepts on.
func (e *Engine) Listeners() []Listener {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Listener(nil), e.listeners...)
}

// sweepLimiter forgets idle client addresses every minute until the engine
// stops.
func (e *Engine) sweepLimiter() {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-e.done:
			return
		case now := <-t.C:
			e.limiter.sweep(now.UnixNano(), 5*time.Minute)
		}
	}
}
