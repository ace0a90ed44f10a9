package proxy

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"frontdoor/proxy/http1"
)

// pollItem is anything registered in a worker's epoll set.
type pollItem interface {
	pollGen() uint32
	onEvent(w *worker, events uint32)
}

// worker is one event loop: a goroutine locked to an OS thread with its own
// epoll set, connections, timers, buffer pools and file cache.
type worker struct {
	id         int
	e          *Engine
	p          *poller
	log        *slog.Logger
	cfg        *Config
	router     *router
	headLimits http1.Limits
	proxyCfg   *ProxyConfig
	groups     map[string]*workerGroup
	trusted    *trustedSet
	rng        *rand.PCG
	tlsCfg     *tls.Config
	challenge  func(host, path string) ([]byte, bool)
	httpsPort  int
	// hsSlots is how many more handshake goroutines this worker may run;
	// connections beyond wait in hsQueue.
	hsSlots int
	hsQueue []*conn
	// hsJobs hands handshakes to idle handshake goroutines (unbuffered:
	// a send succeeds only when one is waiting).
	hsJobs chan handshakeJob
	// held are requests waiting for a server of a group that has none.
	held        []heldRequest
	tlsScratch  []byte
	hostScratch []byte

	items  []pollItem // indexed by file descriptor
	nconns int
	gen    uint32
	timers timers

	// start is the engine's start; now is the loop's clock in nanoseconds
	// since then, read once per loop turn.
	start   time.Time
	now     int64
	wallSec int64
	date    [29]byte // "Mon, 02 Jan 2006 15:04:05 GMT" for the current second

	listeners []*listenerItem
	// acceptPausedUntil is set after EMFILE/ENFILE: listeners stay out of
	// the epoll set until then, so a full backlog cannot spin the loop.
	acceptPausedUntil int64
	acceptPaused      bool

	rpool    bufPool
	wpool    bufPool
	exFree   []*exchange
	pxFree   []*proxyExchange
	compFree []*compressor
	// scratch buffers of the proxy path
	upScratch    []byte
	ipScratch    []byte
	accelHeaders []byte
	jsonScratch  []byte
	files        *fileCache
	scratch      []byte // per-request scratch (path decoding, host folding)
	alog         accessLog
	// logScratch holds the redacted target of the line being written.
	logScratch []byte

	spin spinWindow
	// lastPass is when the worker last went through the Go scheduler.
	lastPass int64
	// runDelayFd is the worker thread's schedstat (spin.go), -1 if none.
	runDelayFd  int
	runDelayBuf [64]byte
	tasks       taskQueue
	events      []unix.EpollEvent

	draining      bool
	drainDeadline int64
	stopped       bool
	done          chan struct{}

	// heartbeat is the wall clock (Unix nanoseconds) of the loop's last
	// turn, read by the watchdog from another goroutine.
	heartbeat atomic.Int64
	stats     workerStats
}

// workerStats are counters other goroutines read.
type workerStats struct {
	accepted atomic.Uint64
	requests atomic.Uint64
	active   atomic.Int64
	// upstreamDials counts new upstream connections (pool misses).
	upstreamDials atomic.Uint64
}

// maxPollWait bounds epoll_wait so that the heartbeat, the access-log flush
// and the date string advance even on an idle worker.
const maxPollWait = time.Second

func (w *worker) run() {
	runtime.LockOSThread()
	defer close(w.done)
	// Busy polling needs to see contention for the CPU (spin.go); a
	// kernel without per-thread scheduler statistics gets no polling.
	w.runDelayFd = -1
	if fd, err := openRunDelay(); err == nil {
		w.runDelayFd = fd
		defer unix.Close(fd)
	} else if w.spin.max > 0 {
		w.log.Warn("busy polling off: no scheduler statistics for the worker thread", "worker", w.id, "err", err)
	}
	for !w.stopped {
		n, err := w.poll()
		w.tick()
		w.passThroughScheduler()
		if err != nil && !errors.Is(err, syscall.EINTR) {
			w.log.Error("epoll_wait failed", "worker", w.id, "err", err)
			continue
		}
		for i := 0; i < n; i++ {
			w.handle(&w.events[i])
		}
		w.timers.expire(w, w.now)
		if w.acceptPaused && w.now >= w.acceptPausedUntil {
			w.resumeAccept()
		}
		w.alog.flushIfDue(w.now)
		if w.draining && (w.nconns == 0 || w.now >= w.drainDeadline) {
			w.finishDrain()
		}
	}
	w.alog.flush()
}

// schedulerPass is how often a worker goes through the Go scheduler.
const schedulerPass = 5 * time.Millisecond

// passThroughScheduler yields to the Go scheduler every schedulerPass.
// A worker whose system calls never block never enters the scheduler on
// its own, so to the runtime it looks like a goroutine that has run for
// ever: every 10 ms the runtime's monitor thread (sysmon) preempts it,
// which hands its thread's P to another thread and back, and sends the
// monitor into polling every 20 µs for a while: thousands of wake-ups a
// second on the worker's CPU, 40% of frontdoor's CPU time at 1,400
// proxied requests a second (bench/RESULTS.md). Going through the
// scheduler instead costs one such hand-off two hundred times a second;
// it also lets any goroutine waiting for this P run.
//
// It is also when the busy-polling window learns whether the kernel has
// been giving the worker's CPU to other threads (spin.go).
func (w *worker) passThroughScheduler() {
	if w.now-w.lastPass <= int64(schedulerPass) {
		return
	}
	w.lastPass = w.now
	if w.spin.max > 0 && w.runDelayFd >= 0 {
		if waited, ok := threadRunDelay(w.runDelayFd, w.runDelayBuf[:]); ok {
			w.spin.checkRunDelay(w.now, waited)
		}
	}
	runtime.Gosched()
}

// poll returns the next batch of events: at once when some are ready,
// else after busy-polling for the adaptive window (spin.go) if one is
// open, else after sleeping until an event or the next timer.
func (w *worker) poll() (int, error) {
	if w.spin.cur > 0 && w.runDelayFd >= 0 {
		n, errno := w.spinPoll()
		if errno != 0 {
			return 0, errno
		}
		if n > 0 {
			return n, nil
		}
	}
	start := time.Now()
	n, err := unix.EpollWait(w.p.epfd, w.events, w.pollTimeout())
	w.spin.afterSleep(w.now, time.Since(start), n > 0)
	return n, err
}

// spinPoll polls for events for up to the spin window, yielding the CPU
// to any other runnable thread between polls. When a yield shows that
// another thread wanted this CPU, polling stops: a sleeping worker is
// woken ahead of a busy thread, a polling one waits behind it.
func (w *worker) spinPoll() (int, syscall.Errno) {
	w.spin.polled = true
	start := time.Now()
	for {
		n, errno := sysPollReady(w.p.epfd, w.events)
		if n > 0 || (errno != 0 && errno != syscall.EINTR) {
			return n, errno
		}
		now := time.Now()
		if now.Sub(start) >= w.spin.cur {
			return 0, 0
		}
		sysYield()
		if time.Since(now) > spinContended {
			w.spin.contended(w.now)
			return 0, 0
		}
	}
}

func (w *worker) pollTimeout() int {
	wait := int64(maxPollWait)
	if next := w.timers.next(); next >= 0 {
		if d := next - w.now; d < wait {
			wait = d
		}
	}
	if w.acceptPaused {
		if d := w.acceptPausedUntil - w.now; d < wait {
			wait = d
		}
	}
	if wait <= 0 {
		return 0
	}
	return int((wait + int64(time.Millisecond) - 1) / int64(time.Millisecond))
}

// tick reads the clock once per loop turn and refreshes the Date string.
func (w *worker) tick() {
	now := time.Now()
	w.now = int64(now.Sub(w.start))
	w.heartbeat.Store(now.UnixNano())
	if sec := now.Unix(); sec != w.wallSec {
		w.wallSec = sec
		now.UTC().AppendFormat(w.date[:0], httpTimeFormat)
	}
}

// handle dispatches one epoll event. A panic while handling it is confined
// to the connection involved: logged, answered with 500 when nothing was
// sent yet, and the connection closed; the worker goes on.
func (w *worker) handle(ev *unix.EpollEvent) {
	fd := int(ev.Fd)
	if fd == w.p.eventfd {
		w.p.drainWake()
		w.runTasks()
		return
	}
	if fd >= len(w.items) {
		return
	}
	it := w.items[fd]
	if it == nil || it.pollGen() != uint32(ev.Pad) {
		return // stale: the descriptor was closed (and maybe reused)
	}
	defer w.recoverPanic(it)
	it.onEvent(w, ev.Events)
}

func (w *worker) recoverPanic(it pollItem) {
	r := recover()
	if r == nil {
		return
	}
	buf := make([]byte, 8<<10)
	buf = buf[:runtime.Stack(buf, false)]
	w.log.Error("panic while handling a connection; connection closed, worker continues",
		"worker", w.id, "panic", r, "stack", string(buf))
	if c, ok := it.(*conn); ok && c.state != stateClosed {
		w.failConn(c)
	}
}

// register adds an item to the epoll set and the descriptor table.
func (w *worker) register(fd int, it pollItem, events uint32, gen uint32) error {
	w.ensureItems(fd)
	if err := w.p.add(fd, events, gen); err != nil {
		return err
	}
	w.items[fd] = it
	return nil
}

// ensureItems grows the descriptor table to hold fd.
func (w *worker) ensureItems(fd int) {
	if fd < len(w.items) {
		return
	}
	items := make([]pollItem, max(2*len(w.items), fd+1, 1024))
	copy(items, w.items)
	w.items = items
}

func (w *worker) nextGen() uint32 {
	w.gen++
	if w.gen == 0 {
		w.gen = 1
	}
	return w.gen
}

// post runs f on the worker's goroutine; it may be called from any
// goroutine.
func (w *worker) post(f func(*worker)) {
	w.tasks.push(f)
	w.p.wake()
}

func (w *worker) runTasks() {
	tasks := w.tasks.take()
	for _, f := range tasks {
		f(w)
	}
	w.tasks.recycle(tasks)
}

// heldRequest is a client connection waiting for an upstream server.
type heldRequest struct {
	c   *conn
	gen uint32
}
