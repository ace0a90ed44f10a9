package state

import "time"

// Restart records one exit of a supervised process.
type Restart struct {
	// Time is when the process exited; filled in when zero.
	Time time.Time `json:"time"`
	// Process is the configured name of the process ("web", "worker").
	Process string `json:"process"`
	// PID is the pid it had.
	PID int `json:"pid"`
	// ExitCode is its exit status, or -1 when a signal killed it.
	ExitCode int `json:"exit_code"`
	// Signal names the signal that killed it ("SIGKILL"), empty otherwise.
	Signal string `json:"signal,omitempty"`
	// Stderr holds the last lines it wrote to stderr, oldest first.
	Stderr []string `json:"stderr,omitempty"`
}

// AddRestart appends r to the restart history (capped at
// Options.MaxRestarts) in one committed transaction.
func (db *DB) AddRestart(r Restart) error {
	r.Time = stamp(r.Time)
	return db.appendCapped(bucketRestarts, db.opts.MaxRestarts, r.Time, r)
}

// Restarts returns up to n restarts, newest first; n <= 0 returns all.
func (db *DB) Restarts(n int) ([]Restart, error) {
	return listNewest[Restart](db, bucketRestarts, n)
}

// HealthTransition records a component changing health, e.g. Postgres going
// from "up" to "down".
type HealthTransition struct {
	// Time is when the change was seen; filled in when zero.
	Time      time.Time `json:"time"`
	Component string    `json:"component"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	// Detail says why (the error of the failed check, say).
	Detail string `json:"detail,omitempty"`
}

// AddHealthTransition appends h to the health history (capped at
// Options.MaxHealth) in one committed transaction.
func (db *DB) AddHealthTransition(h HealthTransition) error {
	h.Time = stamp(h.Time)
	return db.appendCapped(bucketHealth, db.opts.MaxHealth, h.Time, h)
}

// HealthTransitions returns up to n transitions, newest first; n <= 0
// returns all.
func (db *DB) HealthTransitions(n int) ([]HealthTransition, error) {
	return listNewest[HealthTransition](db, bucketHealth, n)
}

// AppliedConfig records a configuration the daemon started with or
// reloaded to.
type AppliedConfig struct {
	// Time is when it was applied; filled in when zero.
	Time time.Time `json:"time"`
	// Hash identifies the text (the caller's choice, e.g. hex SHA-256).
	Hash string `json:"hash"`
	// Text is the configuration file as applied.
	Text string `json:"text"`
}

// AddConfig appends c to the configuration history (capped at
// Options.MaxConfigs) in one committed transaction.
func (db *DB) AddConfig(c AppliedConfig) error {
	c.Time = stamp(c.Time)
	return db.appendCapped(bucketConfigs, db.opts.MaxConfigs, c.Time, c)
}

// Configs returns up to n applied configurations, newest first; n <= 0
// returns all.
func (db *DB) Configs(n int) ([]AppliedConfig, error) {
	return listNewest[AppliedConfig](db, bucketConfigs, n)
}
