package loop

import (
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// How a loop waits for events. Everything about blocking and polling is
// here and in spin.go: when to block in epoll_wait and for how long, when
// to busy-poll instead, and when to pass through the Go scheduler.

// MaxWait bounds epoll_wait so that the heartbeat and the owner's
// periodic work (AfterTurn) advance even on an idle loop: a loop that
// turns turns at least this often.
const MaxWait = time.Second

// schedulerPass is how often a loop goes through the Go scheduler.
const schedulerPass = 5 * time.Millisecond

// SetBusyPoll sets the longest busy-polling window (0 or negative: never
// poll).
func (l *Loop) SetBusyPoll(d time.Duration) { l.spin.setMax(d) }

// lockThread locks the loop to its OS thread and opens the thread's
// scheduler statistics: busy polling needs to see contention for the CPU
// (spin.go), so a kernel without per-thread statistics gets no polling.
func (l *Loop) lockThread() {
	runtime.LockOSThread()
	l.runDelayFd = -1
	if fd, err := openRunDelay(); err == nil {
		l.runDelayFd = fd
	} else if l.spin.max > 0 {
		l.log.Warn("busy polling off: no scheduler statistics for the worker thread", "err", err)
	}
}

func (l *Loop) unlockThread() {
	if l.runDelayFd >= 0 {
		unix.Close(l.runDelayFd)
		l.runDelayFd = -1
	}
}

// wait returns the next batch of events: at once when some are ready,
// else after busy-polling for the adaptive window (spin.go) if one is
// open, else after sleeping until an event or the next timer.
func (l *Loop) wait() (int, error) {
	if l.spin.cur > 0 && l.runDelayFd >= 0 {
		n, errno := l.spinPoll()
		if errno != 0 {
			return 0, errno
		}
		if n > 0 {
			return n, nil
		}
	}
	start := time.Now()
	n, err := unix.EpollWait(l.p.epfd, l.events, l.pollTimeout())
	l.spin.afterSleep(l.now, time.Since(start), n > 0)
	return n, err
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

// pollTimeout is epoll_wait's timeout in milliseconds: until the next
// timer, at most MaxWait.
func (l *Loop) pollTimeout() int {
	wait := int64(MaxWait)
	if next := l.timers.next(); next >= 0 {
		if d := next - l.now; d < wait {
			wait = d
		}
	}
	if wait <= 0 {
		return 0
	}
	return int((wait + int64(time.Millisecond) - 1) / int64(time.Millisecond))
}

// passThroughScheduler yields to the Go scheduler every schedulerPass.
// A loop whose system calls never block never enters the scheduler on
// its own, so to the runtime it looks like a goroutine that has run for
// ever: every 10 ms the runtime's monitor thread (sysmon) preempts it,
// which hands its thread's P to another thread and back, and sends the
// monitor into polling every 20 µs for a while: thousands of wake-ups a
// second on the loop's CPU, 40% of frontdoor's CPU time at 1,400
// proxied requests a second (bench/RESULTS.md). Going through the
// scheduler instead costs one such hand-off two hundred times a second;
// it also lets any goroutine waiting for this P run.
//
// It is also when the busy-polling window learns whether the kernel has
// been giving the loop's CPU to other threads (spin.go).
func (l *Loop) passThroughScheduler() {
	if l.now-l.lastPass <= int64(schedulerPass) {
		return
	}
	l.lastPass = l.now
	if l.spin.max > 0 && l.runDelayFd >= 0 {
		if waited, ok := threadRunDelay(l.runDelayFd, l.runDelayBuf[:]); ok {
			l.spin.checkRunDelay(l.now, waited)
		}
	}
	runtime.Gosched()
}
