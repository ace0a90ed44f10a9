package appliance

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"frontdoor/state"
	"frontdoor/supervisor"
)

// recorderQueue bounds the events waiting for the state file. The
// supervisor records with its lock held, and every state write is an fsync:
// writes happen on the recorder's own goroutine, and when the queue is full
// (a crash loop faster than the disk) events are dropped and counted.
const recorderQueue = 1024

// recorder is the supervisor's Recorder: it stores events, restarts and
// health transitions in the state file and counts them for /metrics.
type recorder struct {
	// onBootFailure, when set, is told of a failed start (it must not
	// block: Record runs under the supervisor's lock).
	onBootFailure func()
	// app is the application's name: stored with every event; restarts
	// and health components of an app other than "app" are "NAME/web".
	app  string
	db   *state.DB
	log  *slog.Logger
	poke func()

	queue   chan supervisor.Event
	done    chan struct{}
	dropped atomic.Uint64

	mu     sync.Mutex
	closed bool              // the queue is closed: events are dropped
	counts map[string]uint64 // events by kind since start
	// Only the writer goroutine touches these.
	health   map[string]string    // component → last known state
	lastExit map[string]time.Time // process → exit already stored as a restart
}

func newRecorder(db *state.DB, log *slog.Logger, app string, poke func()) *recorder {
	r := &recorder{
		app: app, db: db, log: log, poke: poke,
		queue:    make(chan supervisor.Event, recorderQueue),
		done:     make(chan struct{}),
		counts:   map[string]uint64{},
		health:   map[string]string{},
		lastExit: map[string]time.Time{},
	}
	go r.write()
	return r
}

// Record queues e; it never blocks (supervisor.Recorder's contract).
func (r *recorder) Record(e supervisor.Event) {
	if r.onBootFailure != nil {
		switch e.Kind {
		case supervisor.EventFatal, supervisor.EventDeployFailed, supervisor.EventRestartScheduled:
			r.onBootFailure()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[string(e.Kind)]++
	if r.closed {
		r.dropped.Add(1)
		return
	}
	select {
	case r.queue <- e:
	default:
		r.dropped.Add(1)
	}
}

// note records an event of the appliance itself about the application.
func (r *recorder) note(process, kind, message string) {
	r.Record(supervisor.Event{Time: time.Now(), Kind: supervisor.EventKind(kind), Process: process, Message: message})
}

// eventCounts returns the events recorded since start, by kind.
func (r *recorder) eventCounts() map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]uint64, len(r.counts))
	for k, v := range r.counts {
		out[k] = v
	}
	return out
}

// close stops accepting events and waits (until ctx ends) for the queued
// ones to be written. Record after close drops events.
func (r *recorder) close(ctx context.Context) {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.queue)
	}
	r.mu.Unlock()
	select {
	case <-r.done:
	case <-ctx.Done():
	}
}

func (r *recorder) write() {
	defer close(r.done)
	for e := range r.queue {
		r.store(e)
		r.poke()
	}
}

// store writes one event, and the restart or health transition it means.
func (r *recorder) store(e supervisor.Event) {
	if r.db == nil {
		return
	}
	attrs := map[string]string{"process": e.Process, "app": r.app}
	if e.Generation != 0 {
		attrs["generation"] = strconv.Itoa(e.Generation)
	}
	if e.Exit != nil {
		attrs["exit"] = e.Exit.String()
	}
	if len(e.Output) > 0 {
		attrs["output"] = strings.Join(e.Output, "\n")
	}
	r.check(r.db.AddEvent(state.Event{Time: e.Time, Source: "supervisor", Kind: string(e.Kind), Message: e.Message, Attrs: attrs}))

	switch e.Kind {
	case supervisor.EventExited, supervisor.EventFatal, supervisor.EventRestartScheduled:
		// An exit is stored once, whichever event reports it first (a
		// generation that never became ready has no "exited" event).
		if x := e.Exit; x != nil && !x.Time.IsZero() && !r.lastExit[e.Process].Equal(x.Time) {
			r.lastExit[e.Process] = x.Time
			r.check(r.db.AddRestart(state.Restart{Time: x.Time, Process: r.qualified(e.Process), ExitCode: x.Code, Signal: x.Signal, Stderr: x.Stderr}))
		}
	}
	component, to := "", ""
	switch e.Kind {
	case supervisor.EventPostgresUp:
		component, to = "postgres", "up"
	case supervisor.EventPostgresDown:
		component, to = "postgres", "down"
	case supervisor.EventReady:
		component, to = e.Process, "ready"
	case supervisor.EventFatal:
		component, to = e.Process, "fatal"
	case supervisor.EventRestartScheduled:
		component, to = e.Process, "backoff"
	}
	component = r.qualified(component)
	if component != "" && r.health[component] != to {
		from := r.health[component]
		if from == "" {
			from = "unknown"
		}
		r.health[component] = to
		r.check(r.db.AddHealthTransition(state.HealthTransition{Time: e.Time, Component: component, From: from, To: to, Detail: e.Message}))
	}
}

// qualified names a process or component of the app in the state file:
// as it is for the app named "app" (as before there were several),
// "NAME/web" for another.
func (r *recorder) qualified(component string) string {
	if component == "" || r.app == "" || r.app == defaultAppName {
		return component
	}
	return r.app + "/" + component
}

func (r *recorder) check(err error) {
	if err != nil {
		r.log.Warn("could not record in the state file", "err", err)
	}
}
