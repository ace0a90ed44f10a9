package state

import "time"

// Event is one line of the appliance's event log: something an operator
// wants to see in `frontdoor status` (a child crashed, a certificate was
// renewed, a deploy finished).
type Event struct {
	// Time is when it happened; AddEvent fills in the current time when
	// zero.
	Time time.Time `json:"time"`
	// Source is the part that reports it: "supervisor", "acme", "proxy"...
	Source string `json:"source"`
	// Kind is a short machine-readable tag, e.g. "restart", "cert-renewed".
	Kind string `json:"kind"`
	// Message is the human-readable sentence.
	Message string `json:"message"`
	// Attrs carries details (process name, pid, domain...).
	Attrs map[string]string `json:"attrs,omitempty"`
}

// AddEvent appends e to the event log, dropping the oldest events beyond
// Options.MaxEvents, in one committed transaction.
func (db *DB) AddEvent(e Event) error {
	e.Time = stamp(e.Time)
	return db.appendCapped(bucketEvents, db.opts.MaxEvents, e.Time, e)
}

// Events returns up to n events, newest first (by Time, then by insertion
// order); n <= 0 returns all of them.
func (db *DB) Events(n int) ([]Event, error) {
	return listNewest[Event](db, bucketEvents, n)
}
