package loop

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Handler receives the events of a descriptor registered with a Loop
// (EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLHUP, EPOLLERR bits).
type Handler interface {
	OnEvent(events uint32)
}

// Hooks is what the loop's owner does besides handling events.
type Hooks interface {
	// AfterTurn runs at the end of every turn of the loop, after the
	// turn's events and the timers that expired.
	AfterTurn()
	// Recovered is told of a panic r on the loop's goroutine, with the
	// owner of the work that raised it: the Handler of an event, the
	// TimerOwner of an expired timer, the owner given to Post (maybe nil).
	// It runs inside the deferred recovery, so a stack trace taken there
	// shows where the panic happened. The loop goes on.
	Recovered(owner any, r any)
}

// slot is the handler registered for one descriptor, with the generation
// its events carry.
type slot struct {
	h   Handler
	gen uint32
}

// Loop is one event loop: an epoll set, its handlers by descriptor, its
// timers and clock, and the task queue through which other goroutines
// reach it. Run it on a goroutine of its own.
type Loop struct {
	p      poller
	events []unix.EpollEvent
	slots  []slot // indexed by file descriptor
	gen    uint32
	timers timers
	tasks  taskQueue
	log    *slog.Logger

	// start is the clock's origin; now is the loop's clock in nanoseconds
	// since then, read once per turn; second is the Unix second of now.
	start  time.Time
	now    int64
	second int64
	// turns counts the turns of the loop; probe is the wall clock (Unix
	// nanoseconds) at which the pending liveness probe was posted, 0 when
	// none is pending (Responsive). Both are read from other goroutines.
	turns atomic.Uint64
	probe atomic.Int64
	// probed is the probe posted by Responsive (made once).
	probed func()

	// How the loop waits (wait.go).
	spin spinWindow
	// lastPass is when the loop last went through the Go scheduler;
	// parked is set when it parked since.
	lastPass int64
	parked   bool
	// runDelay reads the run delay of the loop's thread (spin.go).
	runDelay runDelay
	// deadline is the loop clock by which the parked loop wakes up, if
	// hasDeadline; ready is readyNow, which leaves the events it found in
	// nready (or an error in errno), counting its calls in checks.
	deadline    int64
	hasDeadline bool
	ready       func(uintptr) bool
	nready      int
	errno       syscall.Errno
	checks      int
	// parks counts the times the loop found nothing to do and parked;
	// asleep is set while it is parked. Read from other goroutines (the
	// tests, to reach a parked loop); written once per park and wake-up.
	parks  atomic.Uint64
	asleep atomic.Bool

	stopped bool

	// panics counts the panics recovered on the loop's goroutine, read
	// from other goroutines (the engine's Stats; tests fail on any).
	panics atomic.Uint64
}

// New makes a loop whose clock starts at start. Its messages go to log.
func New(start time.Time, log *slog.Logger) (*Loop, error) {
	p, err := newPoller()
	if err != nil {
		return nil, err
	}
	l := &Loop{p: p, events: make([]unix.EpollEvent, 256), start: start, log: log}
	l.ready = l.readyNow
	l.probed = func() { l.probe.Store(0) }
	l.tick()
	return l, nil
}

// Close releases the epoll set and the eventfd, once Run has returned (or
// when it never ran).
func (l *Loop) Close() { l.p.close() }

// Run turns the loop until Stop: wait for events (wait.go), dispatch them
// to their handlers, fire expired timers, then hooks.AfterTurn. A loop
// with nothing to do and no timer armed makes no turn at all.
func (l *Loop) Run(hooks Hooks) {
	defer l.runDelay.close()
	for !l.stopped {
		n, err := l.wait()
		l.tick()
		l.turns.Add(1)
		l.passThroughScheduler()
		if err != nil && !errors.Is(err, syscall.EINTR) {
			l.log.Error("epoll_wait failed", "err", err)
			continue
		}
		for i := 0; i < n; i++ {
			l.dispatch(&l.events[i], hooks)
		}
		l.expire(hooks)
		hooks.AfterTurn()
	}
}

// Stop ends Run after the current turn (on the loop's goroutine).
func (l *Loop) Stop() { l.stopped = true }

// dispatch hands one event to its handler. A panic in the handler is
// recovered and reported to hooks.
func (l *Loop) dispatch(ev *unix.EpollEvent, hooks Hooks) {
	fd := int(ev.Fd)
	if fd == l.p.eventfd {
		l.p.drainWake()
		l.runTasks(hooks)
		return
	}
	if fd >= len(l.slots) {
		return
	}
	s := l.slots[fd]
	if s.h == nil || s.gen != uint32(ev.Pad) {
		return // stale: the descriptor was closed (and maybe reused)
	}
	defer l.recoverPanic(s.h, hooks)
	s.h.OnEvent(ev.Events)
}

func (l *Loop) recoverPanic(owner any, hooks Hooks) {
	if r := recover(); r != nil {
		l.panics.Add(1)
		hooks.Recovered(owner, r)
	}
}

// expire fires the timers whose deadline has passed, each under the same
// recovery as an event.
func (l *Loop) expire(hooks Hooks) {
	for {
		n, kind := l.timers.pop(l.now)
		if n == nil {
			return
		}
		l.fire(n.Owner, kind, hooks)
	}
}

func (l *Loop) fire(owner TimerOwner, kind TimerKind, hooks Hooks) {
	defer l.recoverPanic(owner, hooks)
	owner.OnTimeout(kind)
}

// Register adds a connection's descriptor to the epoll set, once for its
// whole life: edge-triggered input, output and the peer's half-close, so
// no epoll_ctl is ever needed to switch between reading and writing. It
// returns the registration's generation, which tells its events from
// those of an earlier descriptor with the same number.
func (l *Loop) Register(fd int, h Handler) (uint32, error) {
	gen := l.nextGen()
	l.ensureSlots(fd)
	if err := l.p.add(fd, connEvents, gen); err != nil {
		return 0, err
	}
	l.slots[fd] = slot{h: h, gen: gen}
	return gen, nil
}

// Unregister forgets h's descriptor before it is closed (closing takes it
// out of the epoll set). A descriptor already reused by another handler is
// left alone.
func (l *Loop) Unregister(fd int, h Handler) {
	if fd < len(l.slots) && l.slots[fd].h == h {
		l.slots[fd] = slot{}
	}
}

// Watch adds a listening socket: level-triggered, so that a backlog left
// after a batch of accepts is reported again, and EPOLLEXCLUSIVE, so that
// one loop of those sharing the socket is woken per connection.
func (l *Loop) Watch(fd int, h Handler) error {
	l.ensureSlots(fd)
	if err := l.p.add(fd, listenerEvents, 0); err != nil {
		return err
	}
	l.slots[fd] = slot{h: h}
	return nil
}

// Unwatch takes a listening socket out of the epoll set.
func (l *Loop) Unwatch(fd int) error {
	if fd < len(l.slots) {
		l.slots[fd] = slot{}
	}
	return l.p.remove(fd)
}

// Each calls f for every registered handler.
func (l *Loop) Each(f func(Handler)) {
	for _, s := range l.slots {
		if s.h != nil {
			f(s.h)
		}
	}
}

// ensureSlots grows the descriptor table to hold fd.
func (l *Loop) ensureSlots(fd int) {
	if fd < len(l.slots) {
		return
	}
	slots := make([]slot, max(2*len(l.slots), fd+1, 1024))
	copy(slots, l.slots)
	l.slots = slots
}

func (l *Loop) nextGen() uint32 {
	l.gen++
	if l.gen == 0 {
		l.gen = 1
	}
	return l.gen
}

// Post runs f on the loop's goroutine; it may be called from any
// goroutine. owner is who a panic in f is reported about (Recovered), or
// nil.
func (l *Loop) Post(owner any, f func()) {
	l.tasks.push(task{owner: owner, f: f})
	l.p.wake()
}

// PendingTasks counts the tasks posted and not yet taken by the loop (a
// test's way to know that a Post has happened).
func (l *Loop) PendingTasks() int { return l.tasks.pending() }

func (l *Loop) runTasks(hooks Hooks) {
	tasks := l.tasks.take()
	for _, t := range tasks {
		l.run(t, hooks)
	}
	l.tasks.recycle(tasks)
}

func (l *Loop) run(t task, hooks Hooks) {
	defer l.recoverPanic(t.owner, hooks)
	t.f()
}

// Panics is how many panics the loop has recovered from (events, timers
// and tasks alike). It may be called from any goroutine.
func (l *Loop) Panics() uint64 { return l.panics.Load() }

// Now is the loop's clock: nanoseconds since its start, read once per
// turn.
func (l *Loop) Now() int64 { return l.now }

// UnixNano is Now as Unix nanoseconds.
func (l *Loop) UnixNano() int64 { return l.start.UnixNano() + l.now }

// Second is the Unix second of Now.
func (l *Loop) Second() int64 { return l.second }

// Turns counts the turns the loop has made. It may be read from any
// goroutine.
func (l *Loop) Turns() uint64 { return l.turns.Load() }

// Responsive reports whether the loop runs what is posted to it: false
// when a probe posted by an earlier call has waited more than maxAge.
// When the last probe has run, it posts the next one. A watchdog calls it
// periodically (from any goroutine): an idle loop is not woken in
// between, and a stuck one — a handler that never returns — is found
// within maxAge plus the watchdog's period.
func (l *Loop) Responsive(maxAge time.Duration) bool {
	now := time.Now().UnixNano()
	sent := l.probe.Load()
	if sent == 0 {
		if l.probe.CompareAndSwap(0, now) {
			l.Post(nil, l.probed)
		}
		return true
	}
	return now-sent <= int64(maxAge)
}

// tick reads the clock once per turn.
func (l *Loop) tick() {
	now := time.Now()
	l.now = int64(now.Sub(l.start))
	l.second = now.Unix()
}

// SetTimeout sets the duration of every timer of kind armed from now on.
func (l *Loop) SetTimeout(kind TimerKind, d time.Duration) { l.timers.lists[kind].d = int64(d) }

// Arm (re)starts t as a timer of kind, replacing whatever it was armed
// for, to expire after the kind's timeout.
func (l *Loop) Arm(t *Timer, kind TimerKind) { l.timers.arm(t, kind, l.now) }

// ArmAt (re)starts t to expire at deadline on the loop clock, for a kind
// whose timers do not share one duration.
func (l *Loop) ArmAt(t *Timer, kind TimerKind, deadline int64) { l.timers.armAt(t, kind, deadline) }

// Disarm stops t if it is armed.
func (l *Loop) Disarm(t *Timer) { l.timers.stop(t) }
