package acme

import (
	"encoding/json"
	"fmt"
	"time"
)

// backoffSteps is the wait after the nth consecutive failed attempt for a
// name (certmagic's shape): quick retries for a passing glitch, then
// slower, never longer than 6 hours so a fixed DNS record is picked up the
// same day. Let's Encrypt allows 5 failed validations per name per hour,
// and one attempt may fail two validations (TLS-ALPN-01, then HTTP-01,
// one order each).
var backoffSteps = []time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute,
	20 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour,
	3 * time.Hour, 4 * time.Hour, 5 * time.Hour, 6 * time.Hour,
}

// backoffAfter returns how long to wait after the given number of
// consecutive failures (>= 1).
func backoffAfter(failures int) time.Duration {
	if failures < 1 {
		return 0
	}
	return backoffSteps[min(failures, len(backoffSteps))-1]
}

// retryBeforeExpiry caps the backoff of a name whose certificate is still
// valid for left: a tenth of what is left, at least a minute, so that a
// short-lived certificate (6 days) gets many more tries before it expires
// than the 6-hour cap would give it.
func retryBeforeExpiry(left time.Duration) time.Duration {
	return max(left/10, time.Minute)
}

// resolveRetryAfter is how long to wait before checking again a name that
// did not resolve to this machine: short, because the fix (a DNS record) is
// made by hand and costs the CA nothing to re-check.
func resolveRetryAfter(failures int) time.Duration {
	return min(backoffAfter(failures), 10*time.Minute)
}

// record is what the manager remembers about a name across restarts.
type record struct {
	// LastAttempt is when an order was last started.
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	// LastSuccess is when a certificate was last obtained.
	LastSuccess time.Time `json:"last_success,omitzero"`
	// Failures counts consecutive failed attempts; reset on success.
	Failures int `json:"failures,omitempty"`
	// LastError is the CA's message (or the local error) of the last
	// failure; cleared on success.
	LastError string `json:"last_error,omitempty"`
	// NextAttempt is the earliest time a new order may be placed.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// ARI is the CA's renewal information about the current certificate
	// (ari.go); nil until fetched, dropped when a new certificate
	// replaces the one it is about.
	ARI *renewalInfo `json:"ari,omitempty"`
}

const recordBucket = "acme"

func recordKey(name string) string { return "name/" + name }

func loadRecord(s Store, name string) (record, error) {
	var r record
	data, ok, err := s.Blob(recordBucket, recordKey(name))
	if err != nil || !ok {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		// A record is advice, not truth: start afresh rather than fail.
		return record{}, nil
	}
	return r, nil
}

func saveRecord(s Store, name string, r record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode record of %s: %w", name, err)
	}
	return s.PutBlob(recordBucket, recordKey(name), data)
}
