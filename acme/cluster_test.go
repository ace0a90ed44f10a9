package acme

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"frontdoor/internal/pgtest"
	"frontdoor/internal/testkit"
	"frontdoor/state"
	"frontdoor/state/cluster"
)

// clusterEdgeStore opens one edge's cluster store (its own state file)
// on pg.
func clusterEdgeStore(t *testing.T, pg *pgtest.Server, name string) *cluster.Store {
	t.Helper()
	db, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := cluster.Open(cluster.Options{
		DSN:  fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.Port),
		Edge: name, Key: bytes.Repeat([]byte{9}, cluster.KeySize), Local: db, Shared: ClusterBuckets(),
		Heartbeat: 200 * time.Millisecond, RetryMax: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); db.Close() })
	testkit.WaitFor(t, 20*time.Second, name+" connected", func() bool { return s.Status().State == cluster.StateUp })
	return s
}

// TestClusterSharesTicketKeysAndAccount: edges of one cluster start with
// the same session-ticket keys, rotate them once for all when they are
// due (both try at the same moment; one wins, the other takes its set),
// and register one ACME account between them.
func TestClusterSharesTicketKeysAndAccount(t *testing.T) {
	if withoutCA {
		t.Skip("starts PostgreSQL; not in the mutation run's fast layer")
	}
	pg := pgtest.Start(t)
	var clock atomic.Pointer[time.Time]
	start := time.Now()
	clock.Store(&start)
	now := func() time.Time { return *clock.Load() }
	var managers []*Manager
	for _, name := range []string{"a", "b"} {
		s := clusterEdgeStore(t, pg, name)
		m, err := New(Config{Store: s, Cluster: s, Now: now, DirectoryURL: "https://127.0.0.1:1/dir", TicketKeyRotation: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		managers = append(managers, m)
	}
	a, b := managers[0], managers[1]
	keysOf := func(m *Manager) [][32]byte {
		m.tickets.mu.Lock()
		defer m.tickets.mu.Unlock()
		return m.tickets.rawLocked()
	}
	if ka, kb := keysOf(a), keysOf(b); len(ka) != 1 || fmt.Sprint(ka) != fmt.Sprint(kb) {
		t.Fatalf("the edges started with different session-ticket keys: %x and %x", ka, kb)
	}

	later := start.Add(2 * time.Hour)
	clock.Store(&later)
	var rotated atomic.Int32
	var wg sync.WaitGroup
	for _, m := range managers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := m.tickets.rotateIfDue()
			if err != nil {
				t.Error(err)
			}
			if ok {
				rotated.Add(1)
			}
		}()
	}
	wg.Wait()
	if rotated.Load() != 1 {
		t.Fatalf("%d edges rotated the keys, want 1", rotated.Load())
	}
	ka, kb := keysOf(a), keysOf(b)
	if len(ka) != 2 || fmt.Sprint(ka) != fmt.Sprint(kb) {
		t.Fatalf("after the rotation: %d and %d keys, equal %v", len(ka), len(kb), fmt.Sprint(ka) == fmt.Sprint(kb))
	}

	// One account for the cluster, however many edges ask at once.
	var keys [2]any
	for i, m := range managers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := m.account()
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	da, _ := x509.MarshalECPrivateKey(keys[0].(*ecdsa.PrivateKey))
	db, _ := x509.MarshalECPrivateKey(keys[1].(*ecdsa.PrivateKey))
	if !bytes.Equal(da, db) {
		t.Fatal("the edges made two ACME accounts")
	}
}

// TestClusterSharesBackoff: a name whose order failed on one edge is in
// backoff on every edge: another edge, started afterwards, places no
// order for it (a handshake says it is backing off) until the backoff
// the first edge recorded is over.
func TestClusterSharesBackoff(t *testing.T) {
	f := newFront(t, true, true)
	const name = "fail.test"
	refused := name
	f.refuse.Store(&refused)
	p := startPebble(t, f.httpPort, f.tlsPort)
	pg := pgtest.Start(t)
	clock := &fakeClock{}
	onCluster := func(s *cluster.Store) func(*Config) {
		return func(c *Config) { c.Store, c.Cluster, c.Now = s, s, clock.Now }
	}
	sa := clusterEdgeStore(t, pg, "a")
	a, _ := testManager(t, p, f, sa, []string{name}, onCluster(sa))
	a.Start()
	testkit.WaitFor(t, 60*time.Second, "edge a's attempt to fail", func() bool { return statusOf(a, name).Failures == 1 })
	waitIdle(t, a)
	orders := p.Orders()

	sb := clusterEdgeStore(t, pg, "b")
	b, _ := testManager(t, p, f, sb, []string{name}, onCluster(sb))
	b.Start()
	for range 3 {
		if _, err := b.GetCertificate(&tls.ClientHelloInfo{ServerName: name}); err == nil || !strings.Contains(err.Error(), "backing off") {
			t.Errorf("a handshake on edge b during edge a's backoff: %v", err)
		}
		b.maintain()
	}
	waitIdle(t, b)
	if got := p.Orders(); got != orders {
		t.Fatalf("edge b placed %d orders during the backoff edge a recorded", got-orders)
	}
	if s := statusOf(b, name); s.Failures != 1 || !strings.Contains(s.LastError, "tls-alpn-01") {
		t.Errorf("edge b's view of the name: %+v (want edge a's failure)", s)
	}

	// Over: the next attempt goes out (from either edge), once.
	clock.Advance(61 * time.Second)
	b.maintain()
	a.maintain()
	testkit.WaitFor(t, 60*time.Second, "the second attempt to fail", func() bool {
		return statusOf(a, name).Failures == 2 && statusOf(b, name).Failures == 2
	})
	waitIdle(t, a)
	waitIdle(t, b)
	if got := p.Orders(); got != 2*orders {
		t.Errorf("pebble saw %d orders after the backoff, want %d (one attempt for the cluster)", got, 2*orders)
	}
}

// TestClusterSharesRenewalInfo: the CA's renewal window and the moment
// chosen in it (at random, once per window) are the cluster's: an edge
// that joins later plans the renewal for the same moment as the edge that
// asked the CA, and orders nothing.
func TestClusterSharesRenewalInfo(t *testing.T) {
	f := newFront(t, true, true)
	p := startPebble(t, f.httpPort, f.tlsPort)
	pg := pgtest.Start(t)
	const name = "ari.test"
	sa := clusterEdgeStore(t, pg, "a")
	a, _ := testManager(t, p, f, sa, []string{name}, func(c *Config) { c.Store, c.Cluster = sa, sa })
	a.Start()
	waitValid(t, a, name)
	a.maintain()
	waitIdle(t, a)
	first := statusOf(a, name)
	if first.RenewSource != SourceARI {
		t.Fatalf("edge a's plan: %+v, want the CA's renewal window", first)
	}

	sb := clusterEdgeStore(t, pg, "b")
	b, _ := testManager(t, p, f, sb, []string{name}, func(c *Config) { c.Store, c.Cluster = sb, sb })
	b.Start()
	waitValid(t, b, name)
	b.maintain()
	waitIdle(t, b)
	if got := statusOf(b, name); got.RenewSource != SourceARI || !got.RenewAt.Equal(first.RenewAt) || got.Serial != first.Serial {
		t.Errorf("edge b plans %s renewal at %v for serial %s; edge a at %v for %s: want one plan for the cluster",
			got.RenewSource, got.RenewAt, got.Serial, first.RenewAt, first.Serial)
	}
	if got := p.Orders(); got != 1 {
		t.Errorf("pebble saw %d orders, want 1", got)
	}
}
