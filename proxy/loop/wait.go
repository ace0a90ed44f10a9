package loop

import (
	"errors"
	"os"
	"runtime"
	"syscall"
	"time"
)

// How a loop waits for events. Everything about blocking and polling is
// here and in spin.go: when to park and until when, when to busy-poll
// instead, and when to pass through the Go scheduler.
//
// A loop with nothing to do parks its goroutine in the Go runtime's own
// poller, where its epoll set is watched like a socket (poller.go): the
// goroutine gives its P back, and the thread that finds the set readable
// — or the loop's next timer due, set as the set's read deadline — runs
// it. A lightly loaded proxy is thus woken once per event, as nginx is,
// and an idle one never. The runtime watches the set only from the moment
// the loop has nothing ready until it finds events ready without parking
// (attach, detach): a loop under load, going from event to event, wakes
// no other thread.
//
// Blocking in epoll_wait on a thread of its own, as the loop once did,
// cost about 100 µs of CPU per wake-up at light load (bench/RESULTS.md):
// a system call that blocks takes the thread's P into the syscall state,
// which wakes the runtime's monitor thread (sysmon) from its deep sleep;
// it then polled every 20 µs to retake the P, and the P's return after
// the wake-up woke it again: 9 wake-ups of frontdoor's threads per
// proxied request at 100 requests a second, where nginx has 2.

// schedulerPass is how often a loop that never parks goes through the Go
// scheduler, and how often a polling loop checks whether its CPU is
// contended (spin.go).
const schedulerPass = 5 * time.Millisecond

// SetBusyPoll sets the longest busy-polling window (0 or negative: never
// poll).
func (l *Loop) SetBusyPoll(d time.Duration) { l.spin.setMax(d) }

// wait returns the next batch of events: at once when some are ready,
// else after busy-polling for the adaptive window (spin.go) if one is
// open, else after parking until an event or the next timer.
func (l *Loop) wait() (int, error) {
	if l.spin.cur > 0 {
		n, errno := l.spinPoll()
		if errno != 0 {
			return 0, errno
		}
		if n > 0 {
			l.p.detach() // events back to back
			return n, nil
		}
	}
	next := l.timers.next()
	if next >= 0 && next <= l.now {
		// A timer is due: no waiting, only the events ready now.
		n, errno := pollReady(l.p.epfd, l.events)
		if errno != 0 {
			return 0, errno
		}
		return n, nil
	}
	if !l.p.attached {
		// The loop ran from event to event: what is ready now comes
		// without attaching its set to the runtime's poller.
		n, errno := pollReady(l.p.epfd, l.events)
		if n > 0 || (errno != 0 && errno != syscall.EINTR) {
			l.spin.afterSleep(l.now, 0, n > 0)
			return n, errnoErr(errno)
		}
		if errno := l.p.attach(); errno != 0 {
			return 0, errno
		}
	}
	l.setDeadline(next)
	start := time.Now()
	l.nready, l.errno, l.checks = 0, 0, 0
	err := l.p.raw.Read(l.ready)
	if l.asleep.Load() {
		l.asleep.Store(false) // woken by the deadline
	}
	slept := time.Since(start)
	if l.checks > 1 {
		l.parked = true // went through the scheduler
	} else if l.nready > 0 {
		l.p.detach() // events were ready at once: the loop runs on
	}
	l.spin.afterSleep(l.now, slept, l.nready > 0)
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, err
	}
	if l.errno != 0 {
		return 0, l.errno
	}
	return l.nready, nil
}

// errnoErr is errno as an error, nil for 0.
func errnoErr(errno syscall.Errno) error {
	if errno == 0 {
		return nil
	}
	return errno
}

// readyNow is what the runtime's poller runs before parking the loop and
// each time the epoll set becomes readable: it takes the events ready
// now, if any, and says whether there were (or an error).
func (l *Loop) readyNow(uintptr) bool {
	l.checks++
	n, errno := pollReady(l.p.epfd, l.events)
	if errno == syscall.EINTR {
		errno = 0
	}
	l.nready, l.errno = n, errno
	found := n > 0 || errno != 0
	if found == l.asleep.Load() {
		// Nothing: the loop parks. Something after a park: it woke.
		l.asleep.Store(!found)
		if !found {
			l.parks.Add(1)
		}
	}
	return found
}

// setDeadline makes the parked loop wake up by next on the loop clock
// (-1: no timer armed, no deadline). A deadline set earlier than needed
// and not passed yet is kept: it wakes the loop once for nothing, which
// costs less than moving the runtime's timer on every turn (a keep-alive
// timer re-armed by each request moves the earliest deadline each time).
func (l *Loop) setDeadline(next int64) {
	if l.hasDeadline && l.deadline > l.now && (next < 0 || l.deadline <= next) {
		return
	}
	if next < 0 {
		if l.hasDeadline {
			l.p.file.SetReadDeadline(time.Time{})
			l.hasDeadline = false
		}
		return
	}
	l.p.file.SetReadDeadline(l.start.Add(time.Duration(next)))
	l.deadline, l.hasDeadline = next, true
}

// spinPoll polls for events for up to the spin window, yielding the CPU
// to any other runnable thread between polls. When a yield shows that
// another thread wanted this CPU, polling stops: a sleeping loop is
// woken ahead of a busy thread, a polling one waits behind it.
func (l *Loop) spinPoll() (int, syscall.Errno) {
	l.spin.polled = true
	start := time.Now()
	for {
		n, errno := pollReady(l.p.epfd, l.events)
		if n > 0 || (errno != 0 && errno != syscall.EINTR) {
			return n, errno
		}
		now := time.Now()
		if now.Sub(start) >= l.spin.cur {
			return 0, 0
		}
		yield()
		if time.Since(now) > spinContended {
			l.spin.contended(l.now)
			return 0, 0
		}
	}
}

// passThroughScheduler yields to the Go scheduler when the loop has not
// parked for schedulerPass. A loop that never parks — under load, its
// events always ready or caught by polling — never enters the scheduler
// on its own, so to the runtime it looks like a goroutine that has run
// for ever: every 10 ms the runtime's monitor thread (sysmon) would
// preempt it, with a signal, and hand its P around. Going through the
// scheduler instead costs one hand-off two hundred times a second; it
// also lets any goroutine waiting for this P run.
//
// Every schedulerPass, too, a loop that polled learns whether the kernel
// has been giving its CPU to other threads (spin.go).
func (l *Loop) passThroughScheduler() {
	if l.parked {
		l.parked = false
		l.lastPass = l.now
	}
	if l.spin.max > 0 && l.now-l.spin.checked > int64(schedulerPass) {
		l.checkContention()
	}
	if l.now-l.lastPass > int64(schedulerPass) {
		l.lastPass = l.now
		runtime.Gosched()
	}
}

// checkContention gives the spin window the run delay of the loop's
// thread, if the loop polled since the last check.
func (l *Loop) checkContention() {
	if !l.spin.polled {
		l.spin.skipCheck(l.now)
		return
	}
	waited, fresh, ok := l.runDelay.read()
	if !ok {
		l.spin.skipCheck(l.now)
		return
	}
	l.spin.checkRunDelay(l.now, waited, fresh)
}
