package acme

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// managerWithCert is a manager (no CA) whose ACME name holds a local-CA
// certificate, on a clock the test moves.
func managerWithCert(t *testing.T, name string) (*Manager, *fakeClock, *[]Event, *sync.Mutex) {
	t.Helper()
	clock := &fakeClock{}
	var events []Event
	var mu sync.Mutex
	m := localManager(t, tempStorePath(t), func(c *Config) {
		c.Names = []string{name}
		c.Now = clock.Now
		c.OnEvent = func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() }
	})
	cert, err := m.local.certFor(name) // 7 days, backdated an hour
	must(t, err)
	m.names[name].cert.Store(cert)
	return m, clock, &events, &mu
}

// Expiry alerts come once per level and certificate: a warning once the
// renewal is overdue with a third of the lifetime left, an error at a
// sixth (a week-long certificate), none while an order is under way.
func TestExpiryAlertsAreRaisedOnce(t *testing.T) {
	const name = "expiry.example"
	m, clock, events, mu := managerWithCert(t, name)
	kinds := func() string {
		mu.Lock()
		defer mu.Unlock()
		var k []string
		for _, e := range *events {
			k = append(k, e.Kind)
			if e.Name != name || e.NotAfter.IsZero() {
				t.Errorf("event %+v: want the name and the expiry", e)
			}
		}
		return strings.Join(k, ",")
	}
	leaf := m.names[name].cert.Load().Leaf
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	m.checkExpiry(clock.Now())
	if got := kinds(); got != "" {
		t.Fatalf("a fresh certificate raised %q", got)
	}
	clock.Advance(leaf.NotAfter.Sub(clock.Now()) - life/3 + time.Minute) // a third left, renewal due
	a := orderUnderWay(t, m, name)
	m.checkExpiry(clock.Now())
	if got := kinds(); got != "" {
		t.Fatalf("an alert while the renewal runs: %q", got)
	}
	finishAttempt(m, a, nil, errors.New("failed"))
	m.checkExpiry(clock.Now())
	m.checkExpiry(clock.Now())
	if got := kinds(); got != "expiry-warning" {
		t.Fatalf("events %q, want one warning", got)
	}
	clock.Advance(life / 6)
	m.checkExpiry(clock.Now())
	m.checkExpiry(clock.Now())
	if got := kinds(); got != "expiry-warning,expiry-critical" {
		t.Fatalf("events %q, want the warning then one error", got)
	}
	mu.Lock()
	msg := (*events)[1].Message
	mu.Unlock()
	if !strings.Contains(msg, "expires in 0 day(s)") && !strings.Contains(msg, "expires in 1 day(s)") {
		t.Errorf("critical message %q", msg)
	}
	clock.Advance(life)
	// A new certificate starts afresh.
	cert, err := m.local.certFor("expiry.example")
	must(t, err)
	m.names[name].cert.Store(cert)
	m.checkExpiry(clock.Now())
	if got := kinds(); got != "expiry-warning,expiry-critical" {
		t.Errorf("events %q after a new certificate, want none more", got)
	}
	// ...and is warned about in its turn.
	clock.Advance(cert.Leaf.NotAfter.Sub(clock.Now()) - life/3 + time.Minute)
	m.checkExpiry(clock.Now())
	if got := kinds(); got != "expiry-warning,expiry-critical,expiry-warning" {
		t.Errorf("events %q, want a warning about the new certificate", got)
	}
}

// A failed renewal of a still-valid certificate is retried within a tenth
// of the time it has left, not after the 6-hour backoff; without a valid
// certificate the backoff applies.
func TestFailedRenewalRetriedBeforeExpiry(t *testing.T) {
	const name = "retry.example"
	m, clock, _, _ := managerWithCert(t, name)
	ns := m.names[name]
	leaf := ns.cert.Load().Leaf
	ns.rec.Failures = 11 // the next backoff step is 6 hours
	clock.Advance(leaf.NotAfter.Sub(clock.Now()) - 10*time.Hour)
	now := clock.Now()
	m.failed(ns, nil, errors.New("the CA is down"))
	if wait := ns.rec.NextAttempt.Sub(now).Round(time.Second); wait != time.Hour {
		t.Errorf("retry after %v with 10 h left, want 1 h", wait)
	}
	clock.Advance(11 * time.Hour) // expired
	now = clock.Now()
	m.failed(ns, nil, errors.New("the CA is down"))
	if wait := ns.rec.NextAttempt.Sub(now).Round(time.Second); wait != 6*time.Hour {
		t.Errorf("retry after %v once expired, want the 6 h backoff", wait)
	}
	if ns.rec.Failures != 13 || ns.rec.LastError != "the CA is down" {
		t.Errorf("record %+v", ns.rec)
	}
}
