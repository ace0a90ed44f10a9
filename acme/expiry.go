package acme

import (
	"fmt"
	"time"
)

// Expiry alerts. Let's Encrypt stopped mailing expiry warnings in June
// 2025, so the manager raises its own: a warning when a third of a
// certificate's lifetime or less is left and its renewal is due but not
// done, an error when 3 days or less are left (for a short-lived
// certificate, a sixth of its lifetime: a 6-day certificate is renewed
// with 2 days left as a matter of course). Each is raised once per
// certificate (and again after a restart), through the log and
// Config.OnEvent.

// criticalLeft is how little time left makes an expiry alert critical.
const criticalLeft = 3 * 24 * time.Hour

// alertLevel is how urgent an expiry is.
type alertLevel int

const (
	alertNone alertLevel = iota
	alertWarning
	alertCritical
)

// expiryLevel judges leaf at now, when its renewal was due at renewAt.
func expiryLevel(notBefore, notAfter, renewAt, now time.Time) alertLevel {
	left, lifetime := notAfter.Sub(now), notAfter.Sub(notBefore)
	switch {
	case left <= min(criticalLeft, lifetime/6):
		return alertCritical
	case left <= lifetime/3 && !now.Before(renewAt):
		return alertWarning
	}
	return alertNone
}

// DaysLeft is how many whole days are left until notAfter (negative once
// expired), for status and alerts.
func DaysLeft(notAfter, now time.Time) int {
	left := notAfter.Sub(now)
	days := int(left / (24 * time.Hour))
	if left < 0 && left%(24*time.Hour) != 0 {
		days--
	}
	return days
}

// checkExpiry raises the expiry alerts that are due; a warning waits while
// an order for the name is under way (the renewal being done is no news).
// The caller must not hold m.mu.
func (m *Manager) checkExpiry(now time.Time) {
	type alert struct {
		level    alertLevel
		name     string
		notAfter time.Time
	}
	var due []alert
	m.mu.Lock()
	for _, ns := range m.names {
		c := ns.cert.Load()
		if c == nil {
			continue
		}
		serial := c.Leaf.SerialNumber.String()
		if serial != ns.alertedSerial {
			ns.alertedSerial, ns.alerted = serial, alertNone
		}
		plan := planRenewal(c.Leaf, ns.rec.ARI, m.cfg.RenewBefore)
		level := expiryLevel(c.Leaf.NotBefore, c.Leaf.NotAfter, plan.At, now)
		if level == alertWarning && ns.attempt != nil {
			continue // the renewal is being done right now
		}
		if level > ns.alerted {
			ns.alerted = level
			due = append(due, alert{level, ns.name, c.Leaf.NotAfter})
		}
	}
	m.mu.Unlock()
	for _, a := range due {
		days := DaysLeft(a.notAfter, now)
		when := a.notAfter.Format(time.RFC3339)
		if a.level == alertCritical {
			msg := fmt.Sprintf("the certificate expires in %d day(s), at %s, and is not renewed yet", days, when)
			if !now.Before(a.notAfter) {
				msg = fmt.Sprintf("the certificate expired at %s and is not renewed yet", when)
			}
			m.log.Error(msg, "name", a.name)
			m.event("expiry-critical", a.name, msg)
			continue
		}
		msg := fmt.Sprintf("the certificate has a third of its lifetime or less left (%d day(s), until %s) and its renewal, due, is not done yet", days, when)
		m.log.Warn(msg, "name", a.name)
		m.event("expiry-warning", a.name, msg)
	}
}
