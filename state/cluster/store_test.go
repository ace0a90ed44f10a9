package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/acme/autocert"

	"frontdoor/internal/pgtest"
	"frontdoor/internal/testkit"
	"frontdoor/state"
)

// testKey is the cluster key of the tests' edges.
var testKey = bytes.Repeat([]byte{7}, KeySize)

func dsnOf(pg *pgtest.Server) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.Port)
}

// edge is one store with its own state file, as one frontdoor would have.
type edge struct {
	*Store
	local *state.DB
	log   *testkit.SyncBuffer
}

func openEdge(t *testing.T, dsn, name string, tweak func(*Options)) *edge {
	t.Helper()
	db, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return openEdgeOn(t, db, dsn, name, tweak)
}

func openEdgeOn(t *testing.T, db *state.DB, dsn, name string, tweak func(*Options)) *edge {
	t.Helper()
	log := &testkit.SyncBuffer{}
	opts := Options{
		DSN: dsn, Edge: name, Key: testKey, Local: db, Shared: []string{"acme", "tls"},
		Heartbeat: 200 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		ChallengeWait: 2 * time.Second, Version: "test",
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if tweak != nil {
		tweak(&opts)
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		db.Close()
		if t.Failed() {
			t.Logf("%s's log:\n%s", name, log.String())
		}
	})
	return &edge{Store: s, local: db, log: log}
}

func waitUp(t *testing.T, e *edge) {
	t.Helper()
	testkit.WaitFor(t, 20*time.Second, e.opts.Edge+" connected", func() bool { return e.Status().State == StateUp })
}

// query runs SQL on the test database directly (the tests' view of what
// is really stored).
func query[T any](t *testing.T, dsn, sql string, args ...any) T {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var v T
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func exec(t *testing.T, dsn, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TestSchemaKeyAndSealing: the first edge creates and migrates the
// schema; values are stored sealed (no private key in clear in the
// database); an edge with another key is refused with a message that
// says so; a schema migrated past this build is refused.
func TestSchemaKeyAndSealing(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := dsnOf(pg)
	a := openEdge(t, dsn, "a", nil)
	waitUp(t, a)
	if v := query[int](t, dsn, "SELECT max(version) FROM frontdoor.schema_migrations"); v != SchemaVersion() {
		t.Fatalf("schema at version %d, want %d", v, SchemaVersion())
	}
	secret := []byte("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIsecret\n-----END EC PRIVATE KEY-----\n")
	if err := a.CertCache().Put(context.Background(), "example.com", secret); err != nil {
		t.Fatal(err)
	}
	stored := query[[]byte](t, dsn, "SELECT value FROM frontdoor.kv WHERE space = '' AND key = 'example.com'")
	if bytes.Contains(stored, []byte("PRIVATE KEY")) || bytes.Contains(stored, []byte("secret")) {
		t.Fatalf("the database holds the key in clear: %q", stored)
	}

	// A second edge with the same key reads it, and migrates nothing.
	b := openEdge(t, dsn, "b", nil)
	waitUp(t, b)
	got, err := b.CertCache().Get(context.Background(), "example.com")
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("edge b reads %q, %v", got, err)
	}
	if n := query[int](t, dsn, "SELECT count(*) FROM frontdoor.schema_migrations"); n != SchemaVersion() {
		t.Fatalf("%d migrations recorded, want %d", n, SchemaVersion())
	}

	// Another key: never up, and the status says why.
	c := openEdge(t, dsn, "c", func(o *Options) { o.Key = bytes.Repeat([]byte{8}, KeySize) })
	testkit.WaitFor(t, 10*time.Second, "the key mismatch reported", func() bool {
		return strings.Contains(c.Status().LastError, "cluster key")
	})
	if st := c.Status(); st.State == StateUp {
		t.Fatalf("an edge with another key connected: %+v", st)
	}
	if _, err := c.CertCache().Get(context.Background(), "example.com"); !errors.Is(err, autocert.ErrCacheMiss) {
		t.Fatalf("an edge with another key read %v", err)
	}

	// A schema from a newer frontdoor.
	exec(t, dsn, "INSERT INTO frontdoor.schema_migrations (version, name) VALUES (999, '0999_future.sql')")
	d := openEdge(t, dsn, "d", nil)
	testkit.WaitFor(t, 10*time.Second, "the newer schema reported", func() bool {
		return strings.Contains(d.Status().LastError, "upgrade this edge")
	})
}

// TestChangesReachOtherEdges: a write on one edge reaches another's
// watcher through NOTIFY (no polling), in the cache as well.
func TestChangesReachOtherEdges(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := dsnOf(pg)
	a, b := openEdge(t, dsn, "a", nil), openEdge(t, dsn, "b", nil)
	waitUp(t, a)
	waitUp(t, b)
	var mu sync.Mutex
	var seen []string
	stop := b.Watch(func(bucket, key string) {
		if bucket == "" && key == "" {
			return // connected: not a change
		}
		mu.Lock()
		seen = append(seen, bucket+"/"+key)
		mu.Unlock()
	})
	defer stop()
	if err := a.PutBlob("acme", "name/example.com", []byte(`{"failures":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := a.PutBlob("localca", "root", []byte("edge a's own")); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 5*time.Second, "edge b told of the change", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) > 0
	})
	mu.Lock()
	if seen[0] != "acme/name/example.com" {
		t.Errorf("watcher saw %v", seen)
	}
	mu.Unlock()
	// In b's own state file, without asking the database.
	if v, ok, _ := b.local.Blob("acme", "name/example.com"); !ok || string(v) != `{"failures":1}` {
		t.Errorf("b's cache holds %q, %v", v, ok)
	}
	// A bucket that is not shared stays on its edge.
	if _, ok, _ := b.Blob("localca", "root"); ok {
		t.Error("a local bucket was shared")
	}
	if n := query[int](t, dsn, "SELECT count(*) FROM frontdoor.kv WHERE space = 'localca'"); n != 0 {
		t.Errorf("a local bucket reached the database: %d rows", n)
	}
}

// TestLeaseFencing: one lease per name; a holder whose lease ran out can
// neither renew nor store, and the certificate the edge that took over
// stored stays; a stored certificate from a later lease is never
// replaced by an earlier one.
func TestLeaseFencing(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := dsnOf(pg)
	a, b := openEdge(t, dsn, "a", nil), openEdge(t, dsn, "b", nil)
	waitUp(t, a)
	waitUp(t, b)
	ctx := context.Background()
	const ttl = time.Second
	tokA, _, _, err := a.LockOrder(ctx, "example.com", ttl)
	if err != nil || tokA == 0 {
		t.Fatalf("a: LockOrder = %d, %v", tokA, err)
	}
	tok, holder, until, err := b.LockOrder(ctx, "example.com", ttl)
	if err != nil || tok != 0 || holder != "a" || time.Until(until) <= 0 {
		t.Fatalf("b while a holds the lease: token %d, holder %q, until %v, %v", tok, holder, until, err)
	}
	// A renewal keeps it; then a stalls past the lease.
	if err := a.RenewOrder(ctx, "example.com", tokA, ttl); err != nil {
		t.Fatalf("a renews: %v", err)
	}
	var tokB int64
	testkit.WaitFor(t, 10*time.Second, "b takes over the lease a let run out", func() bool {
		tokB, _, _, err = b.LockOrder(ctx, "example.com", time.Minute)
		return err == nil && tokB != 0
	})
	if tokB <= tokA {
		t.Fatalf("b's token %d is not after a's %d", tokB, tokA)
	}
	if err := b.PutCertificate(ctx, "example.com", tokB, []byte("b's certificate")); err != nil {
		t.Fatalf("b stores: %v", err)
	}
	if err := a.PutCertificate(ctx, "example.com", tokA, []byte("a's stale certificate")); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("a stores under its expired lease: %v, want ErrLeaseLost", err)
	}
	if err := a.RenewOrder(ctx, "example.com", tokA, ttl); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("a renews its expired lease: %v, want ErrLeaseLost", err)
	}
	for _, e := range []*edge{a, b} {
		if got, err := e.CertCache().Get(ctx, "example.com"); err != nil || string(got) != "b's certificate" {
			t.Fatalf("%s reads %q, %v", e.opts.Edge, got, err)
		}
	}
	// Unlocked, a takes it again with a later token, which a certificate
	// stored under a still later one (say, restored by hand) outranks.
	if err := b.UnlockOrder(ctx, "example.com", tokB); err != nil {
		t.Fatal(err)
	}
	tokA2, _, _, err := a.LockOrder(ctx, "example.com", time.Minute)
	if err != nil || tokA2 <= tokB {
		t.Fatalf("a after b unlocked: %d, %v", tokA2, err)
	}
	exec(t, dsn, "UPDATE frontdoor.kv SET fence = $1 WHERE space = '' AND key = 'example.com'", tokA2+100)
	if err := a.PutCertificate(ctx, "example.com", tokA2, []byte("older")); !errors.Is(err, ErrStale) {
		t.Fatalf("storing under an earlier token than the stored one's: %v, want ErrStale", err)
	}
	if got, _ := b.CertCache().Get(ctx, "example.com"); string(got) != "b's certificate" {
		t.Fatalf("a refused store changed the certificate: %q", got)
	}
}

// TestCompareAndSwapOnce: edges racing to create the same entry (the
// ACME account, the first session-ticket keys) end with one value, the
// same for all.
func TestCompareAndSwapOnce(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := dsnOf(pg)
	var edges []*edge
	for _, n := range []string{"a", "b", "c"} {
		e := openEdge(t, dsn, n, nil)
		waitUp(t, e)
		edges = append(edges, e)
	}
	type result struct {
		current []byte
		swapped bool
		err     error
	}
	results := make([]result, len(edges))
	var wg sync.WaitGroup
	for i, e := range edges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cur, ok, err := e.CompareAndSwap("", "acme_account+key", nil, []byte("key of "+e.opts.Edge))
			results[i] = result{cur, ok, err}
		}()
	}
	wg.Wait()
	swapped := 0
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("edge %d: %v", i, r.err)
		}
		if r.swapped {
			swapped++
		}
		if !bytes.Equal(r.current, results[0].current) {
			t.Fatalf("edges disagree: %q vs %q", r.current, results[0].current)
		}
	}
	if swapped != 1 {
		t.Fatalf("%d edges created the entry, want 1", swapped)
	}
	// A swap from a value that is no longer there is refused.
	cur, ok, err := edges[1].CompareAndSwap("", "acme_account+key", []byte("stale"), []byte("new"))
	if err != nil || ok || !bytes.Equal(cur, results[0].current) {
		t.Fatalf("CAS from a stale value: %q, %v, %v", cur, ok, err)
	}
}

// TestOutageServesFromCacheAndCatchesUp: with PostgreSQL stopped, reads
// come from the cache, writes are kept, no lease can be taken, and the
// status says so; when it returns, the kept write reaches the other edge
// and the status shows the outage as over.
func TestOutageServesFromCacheAndCatchesUp(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := dsnOf(pg)
	a, b := openEdge(t, dsn, "a", nil), openEdge(t, dsn, "b", nil)
	waitUp(t, a)
	waitUp(t, b)
	ctx := context.Background()
	if err := a.CertCache().Put(ctx, "example.com", []byte("cert v1")); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 5*time.Second, "b has v1 cached", func() bool {
		v, _ := b.local.CertCache().Get(ctx, "example.com")
		return string(v) == "cert v1"
	})

	var reconnects atomic.Int32
	stop := b.Watch(func(bucket, key string) {
		if bucket == "" && key == "" {
			reconnects.Add(1)
		}
	})
	defer stop()
	pg.Stop()
	for _, e := range []*edge{a, b} {
		testkit.WaitFor(t, 10*time.Second, e.opts.Edge+" sees the outage", func() bool { return e.Status().State == StateDown })
	}
	if v, err := b.CertCache().Get(ctx, "example.com"); err != nil || string(v) != "cert v1" {
		t.Fatalf("b during the outage reads %q, %v", v, err)
	}
	if _, _, _, err := a.LockOrder(ctx, "example.com", time.Minute); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a lease during the outage: %v, want ErrUnavailable", err)
	}
	if err := a.PutBlob("acme", "name/example.com", []byte("written while away")); err != nil {
		t.Fatalf("a write during the outage failed: %v", err)
	}
	a.AddEvent("acme", "failed", "something happened while away")
	st := a.Status()
	if st.LastError == "" || st.Outages != 1 || st.LastOutageStart.IsZero() || !st.LastOutageEnd.IsZero() {
		t.Fatalf("status during the outage: %+v", st)
	}

	pg.Start()
	for _, e := range []*edge{a, b} {
		waitUp(t, e)
	}
	testkit.WaitFor(t, 5*time.Second, "the write made while away reaches b", func() bool {
		v, ok, _ := b.Blob("acme", "name/example.com")
		return ok && string(v) == "written while away"
	})
	if st := a.Status(); st.LastOutageEnd.IsZero() || st.State != StateUp {
		t.Fatalf("status after the outage: %+v", st)
	}
	testkit.WaitFor(t, 5*time.Second, "b's watcher told of the reconnection", func() bool { return reconnects.Load() == 1 })
	testkit.WaitFor(t, 5*time.Second, "the event kept while away is in the cluster's history", func() bool {
		v, err := b.View(ctx)
		if err != nil {
			return false
		}
		for _, e := range v.Events {
			if e.Edge == "a" && e.Message == "something happened while away" {
				return true
			}
		}
		return false
	})
}

// TestStartWithoutDatabaseServesCache: an edge started while PostgreSQL
// is down serves what its state file holds, and joins when it comes.
func TestStartWithoutDatabaseServesCache(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := dsnOf(pg)
	db, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Seeded from before the edge joined a cluster.
	if err := db.CertCache().Put(context.Background(), "seeded.example", []byte("from the single-edge days")); err != nil {
		t.Fatal(err)
	}
	pg.Stop()
	start := time.Now()
	a := openEdgeOn(t, db, dsn, "a", nil)
	if time.Since(start) > 10*time.Second {
		t.Fatalf("Open waited %v for a database that is down", time.Since(start))
	}
	if v, err := a.CertCache().Get(context.Background(), "seeded.example"); err != nil || string(v) != "from the single-edge days" {
		t.Fatalf("read from the cache with the database down: %q, %v", v, err)
	}
	pg.Start()
	waitUp(t, a)
	b := openEdge(t, dsn, "b", nil)
	waitUp(t, b)
	if v, err := b.CertCache().Get(context.Background(), "seeded.example"); err != nil || string(v) != "from the single-edge days" {
		t.Fatalf("the cluster was not seeded from a's state: %q, %v", v, err)
	}
}

// TestChallengeReachesEveryEdge: an answer published by one edge is in
// the others' memory when PresentChallenge returns (they confirmed it);
// an edge that stops answering is waited for ChallengeWait at most.
func TestChallengeReachesEveryEdge(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := dsnOf(pg)
	a, b, c := openEdge(t, dsn, "a", nil), openEdge(t, dsn, "b", nil), openEdge(t, dsn, "c", nil)
	for _, e := range []*edge{a, b, c} {
		waitUp(t, e)
	}
	ctx := context.Background()
	// Every edge's first heartbeat is in: they are live peers.
	testkit.WaitFor(t, 5*time.Second, "three live edges", func() bool {
		v, err := a.View(ctx)
		return err == nil && len(v.Edges) == 3
	})
	if err := a.PresentChallenge(ctx, "example.com", KindHTTP01, "tok1", "tok1.thumb"); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*edge{b, c} {
		if ans, ok := e.LookupChallenge("example.com", "tok1"); !ok || ans != "tok1.thumb" {
			t.Fatalf("%s right after PresentChallenge: %q, %v", e.opts.Edge, ans, ok)
		}
		if _, ok := e.LookupChallenge("other.example", "tok1"); ok {
			t.Fatalf("%s answers the token for another name", e.opts.Edge)
		}
	}
	if err := a.PresentChallenge(ctx, "example.com", KindTLSALPN01, "tok2", "tok2.thumb"); err != nil {
		t.Fatal(err)
	}
	if ans, ok := b.LookupALPN("example.com"); !ok || ans != "tok2.thumb" {
		t.Fatalf("b's TLS-ALPN-01 answer: %q, %v", ans, ok)
	}
	if stored := query[[]byte](t, dsn, "SELECT answer FROM frontdoor.challenges WHERE token = 'tok2'"); bytes.Contains(stored, []byte("thumb")) {
		t.Fatalf("the database holds a challenge answer in clear: %q", stored)
	}
	a.WithdrawChallenge("example.com", "tok1")
	testkit.WaitFor(t, 5*time.Second, "the withdrawal reaches b", func() bool {
		_, ok := b.LookupChallenge("example.com", "tok1")
		return !ok
	})

	// c stops listening but its heartbeat still looks fresh: a waits for
	// it, but not longer than ChallengeWait.
	exec(t, dsn, "UPDATE frontdoor.edges SET heartbeat_at = now() + interval '1 hour' WHERE edge = 'c'")
	c.Close()
	start := time.Now()
	if err := a.PresentChallenge(ctx, "example.com", KindHTTP01, "tok3", "tok3.thumb"); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < a.opts.ChallengeWait {
		t.Fatalf("returned after %v without c's confirmation", waited)
	}
	if !strings.Contains(a.log.String(), "did not confirm") {
		t.Errorf("a did not log the edge that did not confirm:\n%s", a.log.String())
	}
}
