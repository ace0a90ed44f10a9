package tlsterm

import "time"

// Handshakes runs one loop's TLS handshakes on goroutines of their own:
// handshake errors are sticky in crypto/tls (so it cannot be retried when
// input runs dry) and GetCertificate may block for minutes (a certificate
// being ordered). At most a fixed number run at once; the others wait in
// line. The goroutines touch only their job's Conn, whose transport the
// loop feeds under its lock, and report through the finished callback.
// Everything but the goroutines' own work happens on the loop.
type Handshakes struct {
	// slots is how many more handshake goroutines may run; connections
	// beyond wait in queue.
	slots int
	queue []job
	// jobs hands handshakes to idle goroutines (unbuffered: a send
	// succeeds only when one is waiting).
	jobs chan job
	// stop ends idle goroutines (the loop is gone).
	stop <-chan struct{}
}

// job is one connection's handshake for a handshake goroutine.
type job struct {
	c        *Conn
	finished func(error)
}

// handshakeIdle is how long a handshake goroutine waits for the next
// handshake before it exits.
const handshakeIdle = 10 * time.Second

// NewHandshakes allows slots handshakes at once; stop closes when the loop
// ends.
func NewHandshakes(slots int, stop <-chan struct{}) *Handshakes {
	return &Handshakes{slots: slots, jobs: make(chan job), stop: stop}
}

// Start runs c's handshake, now or once a slot frees up. finished gets the
// result on the handshake goroutine; the loop must then call Finished.
func (h *Handshakes) Start(c *Conn, finished func(error)) {
	j := job{c: c, finished: finished}
	if h.slots > 0 {
		h.slots--
		h.dispatch(j)
		return
	}
	h.queue = append(h.queue, j)
}

// Finished frees the slot of a handshake that finished and starts waiting
// ones whose connections are still open.
func (h *Handshakes) Finished() {
	h.slots++
	for h.slots > 0 && len(h.queue) > 0 {
		next := h.queue[0]
		h.queue[0] = job{}
		h.queue = h.queue[1:]
		if !next.c.shutDown() {
			h.slots--
			h.dispatch(next)
		}
	}
}

// dispatch hands a job to an idle handshake goroutine, or starts one.
// Goroutines are kept between handshakes because a new one grows its
// stack to what crypto/tls needs by copying it, several times, for every
// handshake.
func (h *Handshakes) dispatch(j job) {
	select {
	case h.jobs <- j:
	default:
		go h.run(j)
	}
}

// run is a handshake goroutine: it runs its job, reports, then waits for
// the next job until it has been idle for handshakeIdle or the loop
// stops.
func (h *Handshakes) run(j job) {
	idle := time.NewTimer(handshakeIdle)
	defer idle.Stop()
	for {
		err := j.c.handshake()
		j.finished(err)
		j = job{}
		idle.Reset(handshakeIdle)
		select {
		case j = <-h.jobs:
		case <-idle.C:
			return
		case <-h.stop:
			return
		}
	}
}
