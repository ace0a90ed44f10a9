package acme

import (
	"slices"
	"strings"
	"time"
)

// CertStatus describes one name for `frontdoor status` / `frontdoor certs`.
type CertStatus struct {
	Name string `json:"name"`
	// Source is "acme" or "local".
	Source string `json:"source"`
	// State is, for ACME names: "valid", "renewing" (an order is under way
	// for a name that has a certificate), "obtaining", "waiting" (backing
	// off after a failure), "unreachable" (the resolve check failed) or
	// "pending" (no certificate, nothing tried yet). Local names are
	// "valid" or "on demand" (issued at the first handshake).
	State string `json:"state"`
	// Issuer is the common name of the certificate's issuer, Serial its
	// serial number in hexadecimal (edges of a cluster serve the same).
	Issuer    string    `json:"issuer,omitempty"`
	Serial    string    `json:"serial,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	// RenewAt is when an ACME certificate is due for renewal, and
	// RenewSource why: "ari" (a time picked inside the CA's renewal
	// window, WindowStart to WindowEnd) or "lifetime" (RenewBefore
	// ahead of expiry, at most a third of the lifetime: the CA has no
	// renewal information, or has not answered yet).
	RenewAt     time.Time `json:"renew_at,omitzero"`
	RenewSource string    `json:"renew_source,omitempty"`
	WindowStart time.Time `json:"window_start,omitzero"`
	WindowEnd   time.Time `json:"window_end,omitzero"`
	// ARIExplanation is the CA's page about the window, ARIError the last
	// failure to get it, ARINextCheck when it is asked again.
	ARIExplanation string    `json:"ari_explanation,omitempty"`
	ARIError       string    `json:"ari_error,omitempty"`
	ARINextCheck   time.Time `json:"ari_next_check,omitzero"`
	// Profile is the profile orders ask for ("" for the CA's default).
	Profile string `json:"profile,omitempty"`
	// LastAttempt is when an order was last started, LastSuccess when one
	// last succeeded.
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	// LastError is the CA's message (or local error) of the last failure,
	// Failures the number of consecutive failures, NextAttempt the end of
	// the backoff.
	LastError   string    `json:"last_error,omitempty"`
	Failures    int       `json:"failures,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// Resolve is the verdict of the last resolve check, ResolveOK whether
	// it passed; empty before the first check.
	Resolve   string `json:"resolve,omitempty"`
	ResolveOK bool   `json:"resolve_ok,omitempty"`
	// Orders counts the new orders this process placed for the name.
	Orders int `json:"orders,omitempty"`
	// OrderingEdge is, in a cluster, the edge that holds the name's order
	// lease while this one waits for its certificate; ClusterError why
	// this edge could not ask for the lease (the database is away: no
	// order).
	OrderingEdge string `json:"ordering_edge,omitempty"`
	ClusterError string `json:"cluster_error,omitempty"`
}

// Status returns every ACME name (sorted), then every local name (the
// configured ones and those issued so far). It does not block on I/O.
func (m *Manager) Status() []CertStatus {
	now := m.now()
	var out []CertStatus
	m.mu.Lock()
	for _, ns := range m.names {
		s := CertStatus{
			Name:         ns.name,
			Source:       "acme",
			LastAttempt:  ns.rec.LastAttempt,
			LastSuccess:  ns.rec.LastSuccess,
			LastError:    ns.rec.LastError,
			Failures:     ns.rec.Failures,
			NextAttempt:  ns.rec.NextAttempt,
			Resolve:      ns.resolve.reason,
			ResolveOK:    ns.resolve.ok,
			Orders:       ns.orders,
			ClusterError: ns.clusterErr,
		}
		if now.Before(ns.heldUntil) {
			s.OrderingEdge = ns.heldBy
		}
		if p, ok := m.profiles[ns.name]; ok {
			s.Profile = p
		} else {
			s.Profile = m.profile
		}
		c := ns.cert.Load()
		if c != nil {
			s.Issuer, s.Serial = issuerName(c.Leaf), c.Leaf.SerialNumber.Text(16)
			s.NotBefore, s.NotAfter = c.Leaf.NotBefore, c.Leaf.NotAfter
			plan := planRenewal(c.Leaf, ns.rec.ARI, m.cfg.RenewBefore)
			s.RenewAt, s.RenewSource = plan.At, plan.Source
			s.WindowStart, s.WindowEnd = plan.WindowStart, plan.WindowEnd
			if ri := ns.rec.ARI; ri != nil && ri.CertID == certID(c.Leaf) {
				s.ARIExplanation, s.ARIError, s.ARINextCheck = ri.ExplanationURL, ri.Error, ri.NextCheck
			}
		}
		switch {
		case ns.attempt != nil && c != nil:
			s.State = "renewing"
		case ns.attempt != nil || (c == nil && s.OrderingEdge != ""):
			s.State = "obtaining"
		case c != nil && now.Before(c.Leaf.NotAfter):
			s.State = "valid"
		case !ns.resolve.ok && ns.resolve.reason != "":
			s.State = "unreachable"
		case now.Before(ns.rec.NextAttempt):
			s.State = "waiting"
		default:
			s.State = "pending"
		}
		out = append(out, s)
	}
	localNames := []string{"localhost"}
	for n := range m.localNames {
		localNames = append(localNames, n)
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b CertStatus) int { return strings.Compare(a.Name, b.Name) })

	issued := m.local.issued()
	for n := range issued {
		if !slices.Contains(localNames, n) {
			localNames = append(localNames, n)
		}
	}
	slices.Sort(localNames)
	for _, n := range localNames {
		s := CertStatus{Name: n, Source: "local", State: "on demand", Issuer: issuerName(m.local.root)}
		if c := issued[n]; c != nil {
			s.State, s.NotBefore, s.NotAfter = "valid", c.Leaf.NotBefore, c.Leaf.NotAfter
		}
		out = append(out, s)
	}
	return out
}

// RootPEM returns the local CA's root certificate in PEM (no key), for
// `frontdoor trust` and for clients that should trust local certificates.
func (m *Manager) RootPEM() []byte { return m.local.rootPEM() }
