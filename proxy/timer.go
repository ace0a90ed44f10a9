package proxy

// Timers. Every timeout of one kind has the same duration, so deadlines in a
// list are in the order their nodes were (re)armed: a FIFO list per kind
// gives O(1) arm, re-arm and cancel, and expiry only ever looks at list
// heads. (nginx uses a red-black tree because its durations vary per
// location; ours vary only on reload, when at worst a timer fires late by
// the difference.)

// timerKind names what a timer guards.
type timerKind uint8

const (
	timerNone      timerKind = iota
	timerHead                // absolute deadline for a whole request head
	timerBodyIdle            // idle time between body reads
	timerSendIdle            // idle time between response writes
	timerKeepAlive           // idle keep-alive connection
	timerLinger              // lingering close: draining input after an error
	timerUpConnect           // upstream connect
	timerUpRead              // upstream response head, and between body reads
	timerUpIdle              // pooled upstream connection idle lifetime
	timerUpRetry             // retry a connect refused for a full backlog
	timerUpHold              // a request waiting for a booting application
	timerTunnel              // idle WebSocket / upgraded tunnel
	timerHandshake           // TLS handshake
	numTimerKinds
)

// timerOwner is told when its timer expires.
type timerOwner interface {
	onTimeout(w *worker, kind timerKind)
}

// timerNode is embedded in whatever can time out.
type timerNode struct {
	prev, next *timerNode
	deadline   int64 // worker clock, nanoseconds
	kind       timerKind
	owner      timerOwner
}

func (n *timerNode) armed() bool { return n.kind != timerNone }

// timerList is a FIFO of nodes sharing one duration.
type timerList struct {
	head, tail *timerNode
	d          int64 // duration in nanoseconds
}

// timers is a worker's set of lists, one per kind. (timerUpHold's duration
// is set per request with armAt, since it follows the group's hold.)
type timers struct {
	lists [numTimerKinds]timerList
}

// arm (re)starts n's timer of the given kind, replacing any other.
func (t *timers) arm(n *timerNode, kind timerKind, now int64) {
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

// armAt starts a timer with an explicit deadline (used for the absolute
// request-head deadline, which must not move when bytes arrive). It keeps the
// list ordered by inserting from the tail.
func (t *timers) armAt(n *timerNode, kind timerKind, deadline int64) {
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
func (t *timers) stop(n *timerNode) {
	if n.kind == timerNone {
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
	n.prev, n.next, n.kind = nil, nil, timerNone
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

// expire fires every timer whose deadline has passed. An owner may re-arm
// or stop other timers from its callback.
func (t *timers) expire(w *worker, now int64) {
	for i := range t.lists {
		l := &t.lists[i]
		for l.head != nil && l.head.deadline <= now {
			n := l.head
			kind := n.kind
			t.stop(n)
			n.owner.onTimeout(w, kind)
		}
	}
}
