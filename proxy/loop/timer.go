package loop

// Timers. Every timeout of one kind has the same duration, so deadlines in a
// list are in the order their nodes were (re)armed: a FIFO list per kind
// gives O(1) arm, re-arm and cancel, and expiry only ever looks at list
// heads. (nginx uses a red-black tree because its durations vary per
// location; ours vary only on reload, when at worst a timer fires late by
// the difference.)

// TimerKind names what a timer guards. The loop's owner defines the kinds
// (from 1 up to MaxTimerKinds-1) and their durations (SetTimeout); 0 is
// no timer.
type TimerKind uint8

// NoTimer is the kind of a timer that is not armed.
const NoTimer TimerKind = 0

// MaxTimerKinds bounds the kinds a loop knows.
const MaxTimerKinds = 24

// TimerOwner is told when its timer expires.
type TimerOwner interface {
	OnTimeout(kind TimerKind)
}

// Timer is embedded in whatever can time out. Its Owner is set once, when
// the embedding value is made.
type Timer struct {
	prev, next *Timer
	deadline   int64 // loop clock, nanoseconds
	kind       TimerKind
	Owner      TimerOwner
}

// Armed reports whether the timer is running.
func (n *Timer) Armed() bool { return n.kind != NoTimer }

// Kind is the kind the timer was armed with (NoTimer when stopped).
func (n *Timer) Kind() TimerKind { return n.kind }

// Deadline is when an armed timer expires, on the loop clock.
func (n *Timer) Deadline() int64 { return n.deadline }

// timerList is a FIFO of nodes sharing one duration.
type timerList struct {
	head, tail *Timer
	d          int64 // duration in nanoseconds
}

// timers is a loop's set of lists, one per kind.
type timers struct {
	lists [MaxTimerKinds]timerList
}

// arm (re)starts n's timer of the given kind, replacing any other.
func (t *timers) arm(n *Timer, kind TimerKind, now int64) {
	t.stop(n)
	l := &t.lists[kind]
	n.kind = kind
	n.deadline = now + l.d
	n.prev = l.tail
	n.next = nil
	if l.tail != nil {
		l.tail.next = n
	} else {
		l.head = n
	}
	l.tail = n
}

// armAt starts a timer with an explicit deadline. It keeps the list
// ordered by inserting from the tail.
func (t *timers) armAt(n *Timer, kind TimerKind, deadline int64) {
	t.stop(n)
	l := &t.lists[kind]
	n.kind = kind
	n.deadline = deadline
	after := l.tail
	for after != nil && after.deadline > deadline {
		after = after.prev
	}
	n.prev = after
	if after == nil {
		n.next = l.head
		l.head = n
	} else {
		n.next = after.next
		after.next = n
	}
	if n.next != nil {
		n.next.prev = n
	} else {
		l.tail = n
	}
}

// stop cancels n's timer if it is armed.
func (t *timers) stop(n *Timer) {
	if n.kind == NoTimer {
		return
	}
	l := &t.lists[n.kind]
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		l.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		l.tail = n.prev
	}
	n.prev, n.next, n.kind = nil, nil, NoTimer
}

// next returns the earliest deadline, or -1 when nothing is armed.
func (t *timers) next() int64 {
	earliest := int64(-1)
	for i := range t.lists {
		if h := t.lists[i].head; h != nil && (earliest < 0 || h.deadline < earliest) {
			earliest = h.deadline
		}
	}
	return earliest
}

// pop stops and returns the first timer whose deadline has passed, with
// the kind it was armed for; nil when none has. Expiring owners may re-arm
// or stop other timers meanwhile.
func (t *timers) pop(now int64) (*Timer, TimerKind) {
	for i := range t.lists {
		l := &t.lists[i]
		if n := l.head; n != nil && n.deadline <= now {
			kind := n.kind
			t.stop(n)
			return n, kind
		}
	}
	return nil, NoTimer
}
