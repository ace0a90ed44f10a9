package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"frontdoor/internal/testkit"
)

// servedLeafPEM is the PEM of the leaf the manager serves for name.
func servedLeafPEM(t *testing.T, m *Manager, name string) []byte {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.names[name].cert.Load()
	if c == nil {
		t.Fatalf("%s has no certificate", name)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Leaf.Raw})
}

// The renewal time comes from pebble's window; a window the CA moves into
// the past is acted on at the next check, with "replaces" naming the old
// certificate; the ARI record survives a restart, which orders nothing.
func TestARIWindowMovedIntoThePastRenews(t *testing.T) {
	f := newFront(t, true, true)
	p := startPebble(t, f.httpPort, f.tlsPort)
	path := tempStorePath(t)
	store := openStore(t, path)
	clock := &fakeClock{}
	const name = "ari.test"
	m, _ := testManager(t, p, f, store, []string{name}, func(c *Config) { c.Now = clock.Now })
	m.Start()
	waitValid(t, m, name)
	m.maintain()
	waitIdle(t, m)
	s := statusOf(m, name)
	if s.RenewSource != SourceARI || s.WindowStart.IsZero() || !s.WindowStart.Before(s.WindowEnd) {
		t.Fatalf("status %+v: want the renewal planned from pebble's window", s)
	}
	if s.RenewAt.Before(s.WindowStart) || s.RenewAt.After(s.WindowEnd) {
		t.Errorf("renew at %v, outside the window %v..%v", s.RenewAt, s.WindowStart, s.WindowEnd)
	}
	// pebble's window is around two thirds of the lifetime: nothing due.
	if s.Orders != 1 || p.Orders() != 1 {
		t.Fatalf("orders %d (pebble %d) before the window, want 1", s.Orders, p.Orders())
	}

	// A restart keeps the window and asks nothing, orders nothing.
	m.Close()
	must(t, store.Close())
	store = openStore(t, path)
	m, _ = testManager(t, p, f, store, []string{name}, func(c *Config) { c.Now = clock.Now })
	if got := statusOf(m, name); got.RenewSource != SourceARI || !got.RenewAt.Equal(s.RenewAt) {
		t.Fatalf("after restart: renew at %v from %q, want %v from ari", got.RenewAt, got.RenewSource, s.RenewAt)
	}
	m.Start()
	m.maintain()
	waitIdle(t, m)
	if p.Orders() != 1 {
		t.Fatalf("pebble saw %d orders after the restart, want 1", p.Orders())
	}

	// The CA moves the window into the past (an incident); the next check,
	// after pebble's Retry-After (6 h), sees it and renews at once.
	old := servedLeafPEM(t, m, name)
	now := clock.Now()
	p.SetRenewalInfo(t, old, now.Add(-2*time.Hour), now.Add(-time.Hour))
	m.maintain()
	waitIdle(t, m)
	if p.Orders() != 1 {
		t.Fatalf("renewed before the next ARI check was due (Retry-After not honoured)")
	}
	clock.Advance(6*time.Hour + time.Minute)
	m.maintain()
	testkit.WaitFor(t, 60*time.Second, "the renewal the moved window asks for", func() bool {
		st := statusOf(m, name)
		return st.State == "valid" && p.Orders() == 2
	})
	if got := p.Replacements(); got != 1 {
		t.Errorf("pebble accepted %d orders as replacements, want 1 (the order must carry replaces)", got)
	}
	if string(servedLeafPEM(t, m, name)) == string(old) {
		t.Error("still serving the old certificate")
	}
}

// An order with the shortlived profile gets a six-day certificate, and so
// does its renewal: the profile is kept.
func TestShortLivedProfileKeptOnRenewal(t *testing.T) {
	f := newFront(t, true, true)
	p := startPebble(t, f.httpPort, f.tlsPort)
	path := tempStorePath(t)
	store := openStore(t, path)
	const name = "short.test"
	m, _ := testManager(t, p, f, store, []string{name}, func(c *Config) { c.Profile = "shortlived" })
	m.Start()
	for round := range 2 {
		if round == 1 {
			must(t, m.Renew(context.Background(), name))
		}
		s := waitValid(t, m, name)
		if life := s.NotAfter.Sub(s.NotBefore); life < 5*24*time.Hour || life > 7*24*time.Hour {
			t.Errorf("round %d: lifetime %v, want about 6 days (the shortlived profile)", round, life)
		}
		if s.Profile != "shortlived" {
			t.Errorf("round %d: status profile %q", round, s.Profile)
		}
	}
	if p.Orders() != 2 {
		t.Errorf("pebble saw %d orders, want 2", p.Orders())
	}
	// A restart with a valid 6-day certificate outside its window orders
	// nothing.
	m.maintain()
	waitIdle(t, m)
	if s := statusOf(m, name); s.RenewSource != SourceARI {
		t.Errorf("renewal source %q, want the CA's window", s.RenewSource)
	}
	m.Close()
	must(t, store.Close())
	store = openStore(t, path)
	m, _ = testManager(t, p, f, store, []string{name}, func(c *Config) { c.Profile = "shortlived" })
	m.Start()
	m.maintain()
	waitIdle(t, m)
	if p.Orders() != 2 {
		t.Errorf("pebble saw %d orders after a restart, want still 2", p.Orders())
	}
	// Issue 14 item 7: never OCSP Must-Staple (the TLS feature extension,
	// RFC 7633), and nothing to staple.
	block, _ := pem.Decode(servedLeafPEM(t, m, name))
	leaf, err := x509.ParseCertificate(block.Bytes)
	must(t, err)
	for _, ext := range leaf.Extensions {
		if ext.Id.Equal(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}) {
			t.Error("the certificate asks for OCSP Must-Staple")
		}
	}
	cfg := m.TLSConfig()
	if c, err := cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: name}); err != nil || c.OCSPStaple != nil {
		t.Errorf("served certificate: %v, OCSP staple %d bytes; want none", err, len(c.OCSPStaple))
	}
}

// A profile the CA does not list is refused before any order, with the
// profiles it does offer.
func TestUnknownProfileIsRefusedWithoutOrder(t *testing.T) {
	f := newFront(t, true, true)
	p := startPebble(t, f.httpPort, f.tlsPort)
	store := openStore(t, tempStorePath(t))
	const name = "profile.test"
	m, _ := testManager(t, p, f, store, []string{name}, func(c *Config) { c.Profile = "nonesuch" })
	m.Start()
	testkit.WaitFor(t, 30*time.Second, "the attempt to fail", func() bool { return statusOf(m, name).Failures == 1 })
	s := statusOf(m, name)
	if !strings.Contains(s.LastError, `does not offer the profile "nonesuch"`) || !strings.Contains(s.LastError, "shortlived") {
		t.Errorf("last error %q: want the refusal naming the offered profiles", s.LastError)
	}
	if p.Orders() != 0 {
		t.Errorf("pebble saw %d orders for a profile it does not offer", p.Orders())
	}
	d, err := FetchDirectory(context.Background(), p.HTTPClient, p.DirectoryURL)
	must(t, err)
	if err := d.CheckProfile(p.DirectoryURL, "tlsserver"); err != nil {
		t.Errorf("tlsserver: %v", err)
	}
	if d.RenewalInfo == "" {
		t.Error("pebble's directory names no renewalInfo")
	}
}
