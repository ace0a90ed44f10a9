package loop

import "time"

// Adaptive busy polling.
//
// A loop that finds no event ready would block in epoll_wait, and the
// next packet would have to wake its thread: a scheduler round trip, an
// inter-processor interrupt and, on a virtual machine (a VPS), an exit to
// the hypervisor from the halted vCPU and back. On the machine of
// bench/RESULTS.md that wake-up costs tens of microseconds; under steady
// load the gaps between events are shorter than that, so a loop that
// sleeps in every gap is woken thousands of times a second and every
// request waits for one. Instead, the loop first polls for a short
// while — HAProxy's busy-polling, or what the kernel's haltpoll governor
// does for an idle vCPU.
//
// Polling costs CPU, though: a poll that catches an event after t µs has
// spent t µs, where a sleep costs one wake-up, whatever the gap. It pays
// only when nearly every gap is short — a loop under steady load, its
// events back to back — and not at a moderate rate, where a short gap
// (the application's answer, tens of µs after the request went to it)
// alternates with a long one (the next client request, a millisecond
// later): polling before every sleep there cost 40% more CPU per request
// at 1,000 requests a second and won nothing (bench/RESULTS.md). So the
// window opens only after spinOpenAfter sleeps in a row were each ended by
// an event within the longest allowed window; it then adapts to the
// traffic as the kernel's haltpoll window does: a sleep that an event
// ended within the longest window doubles it, a longer sleep halves it,
// and a sleep of a millisecond or more closes it. An idle or lightly
// loaded loop never polls.
//
// Polling only pays on a CPU that would otherwise idle. When another
// thread wants the loop's CPU — the application server on the same
// machine, a neighbour — a polling loop waits behind it where a
// sleeping one would be woken ahead of it. So the loop yields between
// polls, stops polling as soon as a yield lets another thread run, and
// watches how long its thread waited for a CPU while runnable (the
// kernel's run delay). A polling thread on a CPU of its own almost never
// waits (1–2% of the time, measured; up to half of it in a few moments
// when the kernel's own network work ran there); one that shares its CPU
// with a busy thread waits almost all the time (88–99%, measured). So
// when a loop that polled waited for more than three quarters of the
// time, polling stays off, for a cool-down that doubles as long as the
// contention lasts. (A loop that only slept is not judged: waiting to be
// woken up is part of its run delay, 10–15% at tens of thousands of
// wake-ups a second. Nor is a loop across a change of thread: its
// goroutine is not locked to one, and the delay is the thread's.)

const (
	// spinOpenAfter is how many short sleeps in a row open the window.
	spinOpenAfter = 16
	// spinStart is the window it opens with.
	spinStart = 10 * time.Microsecond
	// spinIdle is a sleep long enough to close the window at once.
	spinIdle = time.Millisecond
	// spinContended is a yield long enough to show that a busy thread
	// ran: a time slice, not the kernel's own short work (softirq,
	// kworkers), which takes tens of microseconds at times.
	spinContended = 250 * time.Microsecond
	// A polling thread that waited for a CPU more than spinWaitShare of
	// the time since the last check is on a contended CPU.
	spinWaitShare = 0.75
	// spinCoolMin and spinCoolMax bound the cool-down after contention.
	spinCoolMin = 100 * time.Millisecond
	spinCoolMax = 3 * time.Second
)

// spinWindow is a loop's adaptive busy-polling window.
type spinWindow struct {
	max time.Duration // the longest window; 0 disables busy polling
	cur time.Duration // the current window; 0: sleep at once
	// short counts the sleeps in a row that an event ended within max.
	short int

	// offUntil is the loop clock before which the window stays closed
	// (contention); cool is the length of the last cool-down.
	offUntil int64
	cool     time.Duration
	// checked is the loop clock at the last contention check, and
	// waited the thread's run delay then (baseline: if it was read);
	// polled is set when the loop polled since.
	checked  int64
	waited   int64
	baseline bool
	polled   bool
}

// setMax sets the longest window (negative disables).
func (s *spinWindow) setMax(d time.Duration) {
	s.max = max(d, 0)
	s.cur = min(s.cur, s.max)
}

// afterSleep adapts the window to a blocking wait that lasted slept and
// ended with events (woke) or on its timeout; now is the loop clock.
func (s *spinWindow) afterSleep(now int64, slept time.Duration, woke bool) {
	switch {
	case s.max == 0 || now < s.offUntil:
	case slept >= spinIdle:
		s.cur, s.short = 0, 0
	case slept > s.max:
		s.short = 0
		s.cur /= 2
		if s.cur < spinStart {
			s.cur = 0
		}
	case woke:
		s.short++
		if s.cur > 0 || s.short >= spinOpenAfter {
			s.cur = min(max(2*s.cur, spinStart), s.max)
		}
	}
}

// contended closes the window for a cool-down: another thread wants the
// CPU. Contention found again right after a cool-down doubles the next.
func (s *spinWindow) contended(now int64) {
	s.cur, s.short = 0, 0
	if now < s.offUntil+int64(s.cool) {
		s.cool = min(2*s.cool, spinCoolMax)
	} else {
		s.cool = spinCoolMin
	}
	s.offUntil = now + int64(s.cool)
}

// checkRunDelay takes the run delay of the loop's thread (nanoseconds
// spent runnable but waiting for a CPU, since the thread started), read
// every schedulerPass while the loop polls, and closes the window when the
// delay grew by more than spinWaitShare of the time since the last check.
// fresh says that the loop runs on another thread than at the last check
// (or that there was none): waited is then only the start of the next
// interval.
func (s *spinWindow) checkRunDelay(now, waited int64, fresh bool) {
	interval, grew, judge := now-s.checked, waited-s.waited, s.baseline && !fresh && s.polled
	s.checked, s.waited, s.polled, s.baseline = now, waited, false, true
	if judge && interval > 0 && float64(grew) > spinWaitShare*float64(interval) {
		s.contended(now)
	}
}

// skipCheck passes a check without a run delay: the loop did not poll
// since the last one (so it is not judged), or the delay could not be
// read. The next check only takes a new starting point.
func (s *spinWindow) skipCheck(now int64) {
	s.checked, s.polled, s.baseline = now, false, false
}
