package acme

import (
	"context"
	"crypto/tls"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"frontdoor/internal/testkit"
)

// waitValid waits until name has a certificate.
func waitValid(t *testing.T, m *Manager, name string) CertStatus {
	t.Helper()
	testkit.WaitFor(t, 60*time.Second, name+" to get a certificate", func() bool {
		return statusOf(m, name).State == "valid"
	})
	return statusOf(m, name)
}

func TestObtainByTLSALPN01(t *testing.T) {
	f := newFront(t, true, false) // HTTP-01 port closed
	p := startPebble(t, f.httpPort, f.tlsPort)
	path := tempStorePath(t)
	store := openStore(t, path)
	m, _ := testManager(t, p, f, store, []string{"alpn.test"}, nil)
	m.Start() // proactive: no handshake triggers the order

	s := waitValid(t, m, "alpn.test")
	t.Logf("obtained: issuer %q, valid until %v, renew at %v", s.Issuer, s.NotAfter, s.RenewAt)
	if !strings.HasPrefix(s.Issuer, "Pebble Intermediate") {
		t.Errorf("issuer %q, want pebble's intermediate", s.Issuer)
	}
	if got := httpsGet(t, f.tlsPort, "alpn.test", p.Roots(t)); got != "200 OK" {
		t.Errorf("GET over the obtained certificate: %s", got)
	}
	if s.Orders != 1 || p.Orders() != 1 {
		t.Errorf("orders: manager %d, pebble %d; want 1 each", s.Orders, p.Orders())
	}
	// issue 7: the state holds private keys; only its owner may read it.
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{filepath.Dir(path), 0o700}, {path, 0o600}} {
		fi, err := os.Stat(c.path)
		must(t, err)
		if fi.Mode().Perm() != c.mode {
			t.Errorf("%s has mode %o, want %o", c.path, fi.Mode().Perm(), c.mode)
		}
	}
}

func TestObtainByHTTP01(t *testing.T) {
	f := newFront(t, false, true) // TLS-ALPN-01 port closed
	p := startPebble(t, f.httpPort, f.tlsPort)
	store := openStore(t, tempStorePath(t))
	m, _ := testManager(t, p, f, store, []string{"http01.test"}, nil)
	m.Start()
	s := waitValid(t, m, "http01.test")

	// TLS-ALPN-01 is tried first (that order fails: nothing listens),
	// then a second order with HTTP-01.
	if s.Orders != 2 || p.Orders() != 2 {
		t.Errorf("orders: manager %d, pebble %d; want 2 (TLS-ALPN-01 refused, then HTTP-01)", s.Orders, p.Orders())
	}
	// Serve it on a TLS listener of our own (pebble's TLS port is closed).
	tf := newFront(t, true, false)
	tf.use(m)
	if got := httpsGet(t, tf.tlsPort, "http01.test", p.Roots(t)); got != "200 OK" {
		t.Errorf("GET over the obtained certificate: %s", got)
	}
}

func TestRestartPlacesNoNewOrder(t *testing.T) {
	f := newFront(t, true, true)
	p := startPebble(t, f.httpPort, f.tlsPort)
	path := tempStorePath(t)
	names := []string{"a.restart.test", "b.restart.test"}

	store := openStore(t, path)
	m1, _ := testManager(t, p, f, store, names, nil)
	m1.Start()
	first := map[string]string{}
	for _, n := range names {
		waitValid(t, m1, n)
		leaf, err := handshake(f.tlsPort, n, p.Roots(t))
		must(t, err)
		first[n] = leaf.SerialNumber.String()
	}
	ordersBefore := p.Orders()
	if ordersBefore != 2 {
		t.Fatalf("pebble created %d orders for two names, want 2", ordersBefore)
	}
	m1.Close()
	must(t, store.Close())

	// A new process: reopen the file, new manager, full maintenance pass.
	store2 := openStore(t, path)
	m2, _ := testManager(t, p, f, store2, names, nil)
	for _, n := range names {
		if s := statusOf(m2, n); s.State != "valid" {
			t.Errorf("%s after restart: state %q before any network I/O, want valid from state", n, s.State)
		}
	}
	m2.Start()
	m2.maintain() // at least one complete pass, synchronously
	waitIdle(t, m2)
	for _, n := range names {
		leaf, err := handshake(f.tlsPort, n, p.Roots(t))
		must(t, err)
		if leaf.SerialNumber.String() != first[n] {
			t.Errorf("%s: serving serial %s after restart, want the cached %s", n, leaf.SerialNumber, first[n])
		}
		if s := statusOf(m2, n); s.Orders != 0 {
			t.Errorf("%s: manager placed %d orders after restart", n, s.Orders)
		}
	}
	if got := p.Orders(); got != ordersBefore {
		t.Errorf("pebble created %d orders after the restart, want none", got-ordersBefore)
	}
}

// A forced renewal replaces the certificate while a client keeps making new
// TLS connections: none may fail.
func TestForcedRenewalFailsNoHandshake(t *testing.T) {
	f := newFront(t, true, true)
	p := startPebble(t, f.httpPort, f.tlsPort)
	store := openStore(t, tempStorePath(t))
	const name = "renew.test"
	m, _ := testManager(t, p, f, store, []string{name}, nil)
	m.Start()
	waitValid(t, m, name)
	roots := p.Roots(t)

	var (
		stop                 atomic.Bool
		handshakes, failures atomic.Int64
		mu                   sync.Mutex
		serials              = map[string]bool{}
		firstErr             error
		wg                   sync.WaitGroup
	)
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				leaf, err := handshake(f.tlsPort, name, roots)
				handshakes.Add(1)
				mu.Lock()
				if err != nil {
					failures.Add(1)
					if firstErr == nil {
						firstErr = err
					}
				} else {
					serials[leaf.SerialNumber.String()] = true
				}
				mu.Unlock()
			}
		})
	}
	testkit.WaitFor(t, 10*time.Second, "the client loop to start", func() bool { return handshakes.Load() > 20 })
	servedSerial := func() string {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.names[name].cert.Load().Leaf.SerialNumber.String()
	}
	before := servedSerial()
	if err := m.Renew(context.Background(), name); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	after := handshakes.Load()
	testkit.WaitFor(t, 10*time.Second, "handshakes after the renewal", func() bool { return handshakes.Load() > after+20 })
	stop.Store(true)
	wg.Wait()

	if failures.Load() != 0 {
		t.Errorf("%d of %d handshakes failed during the renewal; first: %v", failures.Load(), handshakes.Load(), firstErr)
	}
	if len(serials) != 2 {
		t.Errorf("clients saw %d distinct certificates, want the old and the new one", len(serials))
	}
	s := statusOf(m, name)
	if s.Orders != 2 || p.Orders() != 2 {
		t.Errorf("orders: manager %d, pebble %d; want 2", s.Orders, p.Orders())
	}
	renewed := servedSerial()
	if renewed == before {
		t.Errorf("still serving serial %s after the renewal", before)
	}
	// The new certificate is the one kept in state.
	data, err := store.CertCache().Get(context.Background(), name)
	must(t, err)
	cached, err := parseCached(name, data)
	must(t, err)
	if got := cached.Leaf.SerialNumber.String(); got != renewed {
		t.Errorf("state holds serial %s, serving %s", got, renewed)
	}
	t.Logf("%d handshakes, 0 failed, across the renewal", handshakes.Load())
}

// With the clock moved to within RenewBefore of expiry, the background pass
// renews on its own.
func TestScheduledRenewal(t *testing.T) {
	f := newFront(t, true, true)
	p := startPebble(t, f.httpPort, f.tlsPort)
	store := openStore(t, tempStorePath(t))
	clock := &fakeClock{}
	const name = "scheduled.test"
	var events []Event
	var evMu sync.Mutex
	m, _ := testManager(t, p, f, store, []string{name}, func(c *Config) {
		c.Now = clock.Now
		c.OnEvent = func(e Event) { evMu.Lock(); events = append(events, e); evMu.Unlock() }
	})
	m.Start()
	s := waitValid(t, m, name)
	m.maintain()
	waitIdle(t, m)
	if got := statusOf(m, name).Orders; got != 1 {
		t.Fatalf("renewed before it was due: %d orders", got)
	}
	// The pass asked pebble for the renewal window (ARI): the renewal
	// time is picked inside it.
	s = statusOf(m, name)
	if s.RenewSource != SourceARI || s.RenewAt.Before(s.WindowStart) || s.RenewAt.After(s.WindowEnd) {
		t.Fatalf("renewal at %v from %q, want a time inside the CA's window %v..%v", s.RenewAt, s.RenewSource, s.WindowStart, s.WindowEnd)
	}
	clock.Advance(s.RenewAt.Sub(clock.Now()) + time.Minute)
	m.maintain()
	testkit.WaitFor(t, 60*time.Second, "the scheduled renewal", func() bool {
		st := statusOf(m, name)
		return st.State == "valid" && st.Orders == 2
	})
	evMu.Lock()
	defer evMu.Unlock()
	if len(events) != 2 || events[0].Kind != "obtained" || events[1].Kind != "renewed" {
		t.Errorf("events %+v, want obtained then renewed", events)
	}
}

func TestNameOutsidePolicyGetsNothing(t *testing.T) {
	f := newFront(t, true, true)
	p := startPebble(t, f.httpPort, f.tlsPort)
	store := openStore(t, tempStorePath(t))
	m, _ := testManager(t, p, f, store, []string{"inside.test"}, nil)
	m.Start()
	waitValid(t, m, "inside.test")

	_, err := handshake(f.tlsPort, "outside.test", p.Roots(t))
	if err == nil {
		t.Fatal("handshake for a name outside the policy succeeded")
	}
	if _, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "outside.test"}); err == nil || !strings.Contains(err.Error(), "not a name") {
		t.Errorf("GetCertificate(outside.test) = %v", err)
	}
	if _, ok := m.HTTPChallenge("outside.test", challengePrefix+"abc"); ok {
		t.Error("HTTPChallenge answered for a name outside the policy")
	}
	if err := m.Renew(context.Background(), "outside.test"); err == nil {
		t.Error("Renew accepted a name outside the policy")
	}
	m.maintain()
	waitIdle(t, m)
	if got := p.Orders(); got != 1 {
		t.Errorf("pebble created %d orders, want only the one for inside.test", got)
	}
	for _, s := range m.Status() {
		if s.Name == "outside.test" {
			t.Errorf("status lists %+v", s)
		}
	}
}

func TestNameResolvingElsewhereGetsNoOrder(t *testing.T) {
	f := newFront(t, true, true)
	p := startPebble(t, f.httpPort, f.tlsPort)
	p.SetA(t, "elsewhere.test", "198.51.100.7") // TEST-NET-2: not this machine
	store := openStore(t, tempStorePath(t))
	var unreachable atomic.Int64
	m, logs := testManager(t, p, f, store, []string{"elsewhere.test"}, func(c *Config) {
		c.ProbeTimeout = 500 * time.Millisecond
		c.OnEvent = func(e Event) {
			if e.Kind == "unreachable" {
				unreachable.Add(1)
			}
		}
	})
	m.Start()
	testkit.WaitFor(t, 20*time.Second, "the resolve check to fail", func() bool {
		return statusOf(m, "elsewhere.test").State == "unreachable"
	})
	s := statusOf(m, "elsewhere.test")
	if !strings.Contains(s.Resolve, "198.51.100.7") || !strings.Contains(s.Resolve, "not an address of this machine") || s.ResolveOK {
		t.Errorf("status resolve verdict %q (ok %v)", s.Resolve, s.ResolveOK)
	}
	if !strings.Contains(logs.String(), "not asking the CA") {
		t.Errorf("the reason is not logged:\n%s", logs.String())
	}
	// Handshakes and passes within the re-check interval do not order.
	for range 3 {
		if _, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "elsewhere.test"}); err == nil {
			t.Error("a certificate for an unreachable name")
		}
		m.maintain()
	}
	waitIdle(t, m)
	if s := statusOf(m, "elsewhere.test"); s.Orders != 0 || p.Orders() != 0 {
		t.Errorf("orders: manager %d, pebble %d; want none", s.Orders, p.Orders())
	}
	if unreachable.Load() != 1 {
		t.Errorf("%d unreachable events, want one", unreachable.Load())
	}
}

// Behind NAT the public address is on no interface: the self-probe through
// it must come back to this manager, and then the order goes ahead.
func TestSelfProbeBehindNAT(t *testing.T) {
	f := newFront(t, true, true)
	p := startPebble(t, f.httpPort, f.tlsPort)
	store := openStore(t, tempStorePath(t))
	m, _ := testManager(t, p, f, store, []string{"nat.test"}, nil)
	// This machine "has" only a private address; 127.0.0.1, where the name
	// resolves, plays the NAT's public address.
	m.localAddrs = func() ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("10.9.8.7")}, nil }
	m.Start()
	s := waitValid(t, m, "nat.test")
	if !s.ResolveOK || !strings.Contains(s.Resolve, "reached this machine through it") {
		t.Errorf("resolve verdict %q, want the probe to have come back", s.Resolve)
	}
}

// A failing name is ordered once; handshakes and passes during the backoff
// place no further order, nor does a restart; when the backoff is over the
// next attempt goes out and the backoff grows.
func TestBackoffStopsRepeatedOrders(t *testing.T) {
	f := newFront(t, true, true)
	const name = "fail.test"
	refused := name
	f.refuse.Store(&refused)
	p := startPebble(t, f.httpPort, f.tlsPort)
	path := tempStorePath(t)
	store := openStore(t, path)
	clock := &fakeClock{}
	m, _ := testManager(t, p, f, store, []string{name}, func(c *Config) { c.Now = clock.Now })
	m.Start()
	testkit.WaitFor(t, 60*time.Second, "the first attempt to fail", func() bool { return statusOf(m, name).Failures == 1 })
	waitIdle(t, m)
	s := statusOf(m, name)
	firstOrders := p.Orders()
	// One order per challenge type: 2 orders, 2 failed validations.
	if firstOrders != 2 || s.Orders != 2 {
		t.Errorf("first attempt: pebble %d orders, manager %d; want 2 (TLS-ALPN-01, then HTTP-01)", firstOrders, s.Orders)
	}
	if !strings.Contains(s.LastError, "tls-alpn-01") || !strings.Contains(s.LastError, "http-01") {
		t.Errorf("last error %q does not carry the CA's messages for both challenges", s.LastError)
	}
	if wait := s.NextAttempt.Sub(s.LastAttempt); wait < time.Minute || wait > time.Minute+30*time.Second {
		t.Errorf("next attempt %v after the last, want about 1 minute", wait)
	}
	if s.State != "waiting" {
		t.Errorf("state %q, want waiting", s.State)
	}

	for range 5 {
		if _, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: name}); err == nil || !strings.Contains(err.Error(), "backing off") {
			t.Errorf("handshake during backoff: %v", err)
		}
		m.maintain()
	}
	waitIdle(t, m)
	if got := p.Orders(); got != firstOrders {
		t.Fatalf("%d new orders during the backoff", got-firstOrders)
	}

	// The backoff survives a restart.
	m.Close()
	must(t, store.Close())
	store = openStore(t, path)
	m, _ = testManager(t, p, f, store, []string{name}, func(c *Config) { c.Now = clock.Now })
	m.Start()
	m.maintain()
	waitIdle(t, m)
	if got := p.Orders(); got != firstOrders {
		t.Fatalf("%d new orders after a restart during the backoff", got-firstOrders)
	}
	if s := statusOf(m, name); s.Failures != 1 || s.LastError == "" {
		t.Errorf("record after restart: %+v", s)
	}

	clock.Advance(61 * time.Second)
	m.maintain()
	testkit.WaitFor(t, 60*time.Second, "the second attempt to fail", func() bool { return statusOf(m, name).Failures == 2 })
	s = statusOf(m, name)
	if got := p.Orders(); got <= firstOrders {
		t.Errorf("no order after the backoff ended")
	}
	if wait := s.NextAttempt.Sub(s.LastAttempt); wait < 2*time.Minute || wait > 2*time.Minute+30*time.Second {
		t.Errorf("second backoff %v, want about 2 minutes", wait)
	}
}
