package acme

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Several edges, one set of certificates: when Config.Cluster is set, the
// Store is shared by every edge of a cluster (state/cluster implements
// both over PostgreSQL) and the manager
//   - orders a name only under the cluster's lease on it, renewed while
//     the order runs; an edge that finds the lease held waits for the
//     holder's certificate (pushed through Watch) or for the lease to run
//     out, and takes it over then (a holder that died);
//   - reads the name's certificate and record again once it holds the
//     lease, and orders only if they still say it is due: an edge that
//     lost the race finds the winner's certificate, or its backoff;
//   - stores the certificate fenced by the lease's token, so an edge
//     whose lease ran out cannot overwrite a newer one;
//   - publishes its challenge answers (and the resolve check's probes) to
//     every edge before the CA validates, and answers those of the others;
//   - shares the account key and the session-ticket keys, created and
//     rotated once for the whole cluster (CompareAndSwap).
// A cluster whose database is unavailable places no order at all: the
// lease cannot be taken. Certificates keep being served from memory.

// Cluster is what a manager needs from a store shared by several edges.
// Kinds of challenges are "http-01", "tls-alpn-01" and "probe". Bucket ""
// names the certificate cache (CertCache), other buckets are Store's.
type Cluster interface {
	// LockOrder takes the order lease on name for ttl and returns its
	// fencing token; or token 0, the holding edge and when its lease
	// runs out, when another edge holds it. An error means the lease
	// could not be asked for: no order then.
	LockOrder(ctx context.Context, name string, ttl time.Duration) (token int64, holder string, until time.Time, err error)
	// RenewOrder extends a held lease to ttl from now; an error means it
	// is lost (or cannot be renewed): the order stops.
	RenewOrder(ctx context.Context, name string, token int64, ttl time.Duration) error
	// UnlockOrder ends a held lease.
	UnlockOrder(ctx context.Context, name string, token int64) error
	// PutCertificate stores the certificate cache's entry for name only
	// while token holds a live lease on it and nothing stored under a
	// later token exists, and tells the other edges.
	PutCertificate(ctx context.Context, name string, token int64, data []byte) error
	// CompareAndSwap replaces bucket/key with next if it holds old (nil:
	// absent); it returns the value held afterwards and whether it
	// swapped.
	CompareAndSwap(bucket, key string, old, next []byte) (current []byte, swapped bool, err error)
	// PresentChallenge publishes an answer and returns once the other
	// live edges have it (or after a bound).
	PresentChallenge(ctx context.Context, name, kind, token, answer string) error
	// WithdrawChallenge removes a published answer; it does not block.
	WithdrawChallenge(name, token string)
	// LookupChallenge returns another edge's answer to an HTTP-01
	// challenge or probe token for name; it never blocks on I/O.
	LookupChallenge(name, token string) (answer string, ok bool)
	// LookupALPN returns another edge's TLS-ALPN-01 key authorization
	// for name; it never blocks on I/O.
	LookupALPN(name string) (keyAuth string, ok bool)
	// Watch calls fn for every entry another edge changed, once the
	// store has it, and fn("", "") when the store (re)connects, until
	// stop is called.
	Watch(fn func(bucket, key string)) (stop func())
}

// ClusterBuckets are the Store buckets the edges of a cluster share: the
// ACME records (backoff, renewal information) and the session-ticket
// keys, besides the certificate cache. The local CA stays each edge's.
func ClusterBuckets() []string { return []string{recordBucket, ticketBucket} }

// DefaultLeaseTTL is Config.LeaseTTL's default.
const DefaultLeaseTTL = 2 * time.Minute

// errLeaseLost ends an order whose lease the edge lost: not the CA's
// fault, so no failure is recorded; the name is looked at again.
var errLeaseLost = errors.New("the cluster's order lease was lost")

// orderLease is a held lease, renewed in the background while the
// order runs; ctx ends when a renewal fails.
type orderLease struct {
	m     *Manager
	name  string
	token int64
	ctx   context.Context
	stop  context.CancelCauseFunc
	done  chan struct{}
}

// takeLease asks for a's name's lease. It returns nil and a reason when
// another edge holds it or the cluster cannot be asked; neither is a
// failed order.
func (m *Manager) takeLease(a *attempt) (*orderLease, error) {
	ns := a.ns
	token, holder, until, err := m.cluster.LockOrder(m.lifetime, ns.name, m.cfg.LeaseTTL)
	now := m.now()
	if err != nil {
		m.mu.Lock()
		changed := ns.clusterErr != err.Error()
		ns.clusterErr = err.Error()
		m.mu.Unlock()
		if changed {
			m.log.Warn("no order while the cluster's database is unavailable; the certificate in hand keeps serving", "name", ns.name, "err", err)
		}
		return nil, fmt.Errorf("acme: no order for %s while the cluster's database is unavailable: %w", ns.name, err)
	}
	m.mu.Lock()
	ns.clusterErr = ""
	if token == 0 {
		ns.heldBy, ns.heldUntil = holder, now.Add(time.Until(until))
	} else {
		ns.heldBy, ns.heldUntil = "", time.Time{}
	}
	m.mu.Unlock()
	if token == 0 {
		m.log.Info("another edge of the cluster is ordering this certificate", "name", ns.name, "edge", holder, "lease_until", until)
		// Take over if the holder never finishes (it died).
		time.AfterFunc(time.Until(until)+50*time.Millisecond, m.wake)
		return nil, fmt.Errorf("acme: edge %s is ordering the certificate of %s", holder, ns.name)
	}
	ctx, stop := context.WithCancelCause(m.lifetime)
	l := &orderLease{m: m, name: ns.name, token: token, ctx: ctx, stop: stop, done: make(chan struct{})}
	go l.renew()
	return l, nil
}

// renew extends the lease every third of its time to live; a failed
// renewal ends the order (the lease may be another edge's by then).
func (l *orderLease) renew() {
	defer close(l.done)
	ttl := l.m.cfg.LeaseTTL
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
		}
		if err := l.m.cluster.RenewOrder(l.ctx, l.name, l.token, ttl); err != nil {
			if l.ctx.Err() != nil {
				return
			}
			l.m.log.Warn("the cluster's order lease could not be renewed: stopping the order", "name", l.name, "err", err)
			l.stop(fmt.Errorf("%w: %v", errLeaseLost, err))
			return
		}
	}
}

// lost reports whether the order must stop for the lease.
func (l *orderLease) lost() bool { return errors.Is(context.Cause(l.ctx), errLeaseLost) }

// release stops renewing and frees the lease for the next order.
func (l *orderLease) release() {
	l.stop(nil)
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.m.cluster.UnlockOrder(ctx, l.name, l.token); err != nil {
		l.m.log.Debug("releasing the cluster's order lease (it runs out by itself)", "name", l.name, "err", err)
	}
}

// storeCertificate keeps a new certificate: fenced by the lease in a
// cluster, else in the cache.
func (m *Manager) storeCertificate(ctx context.Context, a *attempt, name string, data []byte) error {
	if a.lease == nil {
		return m.cache.Put(ctx, name, data)
	}
	if err := m.cluster.PutCertificate(ctx, name, a.lease.token, data); err != nil {
		return fmt.Errorf("%w: the certificate was not stored: %v", errLeaseLost, err)
	}
	return nil
}

// refreshName reads ns's record and certificate again from the store:
// after the lease, another edge's work is there.
func (m *Manager) refreshName(ns *nameState) {
	rec, cert, err := m.loadStored(ns.name)
	if err != nil {
		m.log.Warn("reading the name's state from the cluster", "name", ns.name, "err", err)
		return
	}
	m.mu.Lock()
	ns.rec = rec
	m.mu.Unlock()
	if cert != nil {
		m.adopt(ns, cert)
	}
}

// adopt serves cert for ns if it is not the one served now (another edge
// stored it).
func (m *Manager) adopt(ns *nameState, cert *tls.Certificate) {
	old := ns.cert.Load()
	if old != nil && old.Leaf.SerialNumber.Cmp(cert.Leaf.SerialNumber) == 0 {
		return
	}
	if old != nil && cert.Leaf.NotBefore.Before(old.Leaf.NotBefore) {
		return // an older one: keep the newer
	}
	ns.cert.Store(cert)
	m.mu.Lock()
	ns.heldBy, ns.heldUntil = "", time.Time{}
	m.mu.Unlock()
	msg := fmt.Sprintf("certificate loaded from the cluster: serial %s, issued by %s, valid until %s",
		cert.Leaf.SerialNumber.Text(16), issuerName(cert.Leaf), cert.Leaf.NotAfter.Format(time.RFC3339))
	m.log.Info(msg, "name", ns.name)
	m.event("loaded", ns.name, msg)
}

// storeChanged is the cluster's Watch callback: another edge changed an
// entry; take it in.
func (m *Manager) storeChanged(bucket, key string) {
	switch {
	case bucket == "" && key == "":
		m.wake() // the cluster is reachable (again): orders may proceed
	case bucket == "" && key == accountCacheKey:
		m.accountMu.Lock()
		m.accountKey = nil // read again at the next order
		m.accountMu.Unlock()
	case bucket == "":
		m.mu.Lock()
		ns := m.names[key]
		m.mu.Unlock()
		if ns == nil {
			return
		}
		data, err := m.cache.Get(context.Background(), key)
		if err != nil {
			return
		}
		cert, err := parseCached(key, data)
		if err != nil {
			m.log.Warn("ignoring an unusable certificate from the cluster", "name", key, "err", err)
			return
		}
		m.adopt(ns, cert)
	case bucket == recordBucket:
		name := key[len(recordKey("")):]
		m.mu.Lock()
		ns := m.names[name]
		busy := ns != nil && ns.attempt != nil
		m.mu.Unlock()
		if ns == nil || busy {
			return // an order of ours writes this record itself
		}
		rec, err := loadRecord(m.cfg.Store, name)
		if err != nil {
			return
		}
		m.mu.Lock()
		if ns.attempt == nil {
			ns.rec = rec
		}
		m.mu.Unlock()
	case bucket == ticketBucket && key == ticketKey:
		if err := m.tickets.reload(); err != nil {
			m.log.Warn("loading the cluster's session-ticket keys", "err", err)
		}
	}
}

// alpnCache keeps the TLS-ALPN-01 certificates made for other edges'
// challenges: the CA connects several times for one.
type alpnCache struct {
	mu    sync.Mutex
	certs map[string]*tls.Certificate // by name and key authorization
}

func (c *alpnCache) get(key string, make func() (*tls.Certificate, error)) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cert := c.certs[key]; cert != nil {
		return cert, nil
	}
	cert, err := make()
	if err != nil {
		return nil, err
	}
	if c.certs == nil || len(c.certs) > 64 {
		c.certs = map[string]*tls.Certificate{}
	}
	c.certs[key] = cert
	return cert, nil
}
