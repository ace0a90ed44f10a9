package acme

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/crypto/acme/autocert"
)

// attempt is one try at getting a certificate for a name: one ACME
// session, one order per challenge type until one validates (order.go).
type attempt struct {
	ns   *nameState
	done chan struct{} // closed when the attempt is over
	err  error         // its outcome; read after done is closed
	// forced: an operator's renewal (Renew), ordered whatever the
	// certificate and the backoff say.
	forced bool
	// lease is the cluster's order lease on the name (nil for a single
	// edge), held for the whole attempt.
	lease *orderLease

	// The challenge being answered, set (under Manager.mu) while the CA
	// validates: HTTPChallenge serves httpKeyAuth for httpToken,
	// GetCertificate serves alpnCert to a TLS-ALPN-01 validation.
	httpToken, httpKeyAuth string
	alpnCert               *tls.Certificate
	// published is the token of the answer published to the cluster
	// (withdrawn with the answer).
	published string
}

// accountCacheKey is where the ACME account key is kept in the
// certificate cache (autocert's key, so that an account made before the
// move to acmez is kept).
const accountCacheKey = "acme_account+key"

// attemptTimeout bounds one attempt: every order, validation and
// download of it.
const attemptTimeout = 10 * time.Minute

// run carries out a and records its outcome.
func (m *Manager) run(a *attempt) {
	defer m.wg.Done()
	err := m.obtain(a)
	m.mu.Lock()
	a.err = err
	a.ns.attempt = nil
	a.httpToken, a.httpKeyAuth, a.alpnCert = "", "", nil
	m.mu.Unlock()
	close(a.done)
}

func (m *Manager) obtain(a *attempt) error {
	ns := a.ns
	name := ns.name
	if m.cluster != nil {
		lease, err := m.takeLease(a)
		if lease == nil {
			return err // another edge orders, or no database: no order here
		}
		a.lease = lease
		defer lease.release()
		// Another edge may have stored a certificate, or a failure with
		// its backoff, since this edge last looked.
		m.refreshName(ns)
		if !a.forced {
			m.mu.Lock()
			due, why := m.stillDueLocked(ns, m.now(), false)
			m.mu.Unlock()
			if !due {
				m.log.Debug("not ordering: the cluster's state says it is not due", "name", name, "why", why)
				return nil
			}
		}
	}
	// A wildcard has no address to check; its dns-persist-01 record is
	// checked before the order instead (persist.go).
	if !m.cfg.SkipResolveCheck && !isWildcard(name) {
		if err := m.resolveGate(ns); err != nil {
			return err
		}
	}
	key, err := m.account()
	if err != nil {
		return m.failed(ns, nil, fmt.Errorf("ACME account key: %w", err))
	}

	x := &exchange{
		base:     transportOf(m.cfg.HTTPClient),
		lifetime: m.lifetime,
		now:      m.now,
		onOrder: func() {
			m.mu.Lock()
			ns.orders++
			m.mu.Unlock()
			m.log.Info("placing an ACME order", "name", name, "ca", m.cfg.DirectoryURL, "profile", m.profileFor(name))
		},
	}
	defer x.seal()

	m.mu.Lock()
	ns.rec.LastAttempt = m.now()
	rec := ns.rec
	replaces := m.replacesLocked(ns)
	m.mu.Unlock()
	m.saveRecord(name, rec)

	// A CA that stops answering must not hold the name in "obtaining"
	// for ever: the attempt fails and backs off. In a cluster, losing
	// the lease ends it too.
	parent := m.lifetime
	if a.lease != nil {
		parent = a.lease.ctx
	}
	ctx, cancel := context.WithTimeout(parent, attemptTimeout)
	defer cancel()
	var cert *tls.Certificate
	s, err := m.openSession(ctx, x, key)
	if err == nil {
		cert, err = m.order(ctx, a, s, replaces)
	}
	x.seal()
	if m.lifetime.Err() != nil {
		return ErrNotRunning // shutting down: not the name's fault, record nothing
	}
	if a.lease != nil && (a.lease.lost() || errors.Is(err, errLeaseLost)) {
		// Not the CA's fault either: the name is looked at again at the
		// next pass, by whichever edge holds the lease then.
		m.log.Warn("the order stopped: this edge lost the cluster's lease on the name", "name", name, "err", err)
		return fmt.Errorf("acme: certificate for %s: %w", name, errLeaseLost)
	}
	var gate *gateError
	if errors.As(err, &gate) {
		return m.gateFailed(ns, gate.reason)
	}
	if err != nil {
		return m.failed(ns, x, err)
	}
	m.succeeded(ns, cert)
	return nil
}

// replacesLocked is the ARI identifier of ns's certificate when this is a
// renewal of a certificate the configured CA told us about ("" otherwise:
// a CA that never issued it would refuse the order).
func (m *Manager) replacesLocked(ns *nameState) string {
	c := ns.cert.Load()
	ri := ns.rec.ARI
	if c == nil || !ri.hasWindow() || ri.Directory != m.cfg.DirectoryURL {
		return ""
	}
	if id := certID(c.Leaf); id == ri.CertID {
		return id
	}
	return ""
}

// succeeded installs cert for ns and clears its failures.
func (m *Manager) succeeded(ns *nameState, cert *tls.Certificate) {
	now := m.now()
	old := ns.cert.Swap(cert)
	m.mu.Lock()
	ns.rec = record{LastAttempt: ns.rec.LastAttempt, LastSuccess: now}
	rec := ns.rec
	m.mu.Unlock()
	m.saveRecord(ns.name, rec)
	kind := "obtained"
	if old != nil {
		kind = "renewed"
	}
	msg := fmt.Sprintf("certificate %s: issued by %s, valid until %s", kind, issuerName(cert.Leaf), cert.Leaf.NotAfter.Format(time.RFC3339))
	m.log.Info(msg, "name", ns.name)
	m.event(kind, ns.name, msg)
}

// failed records a failed attempt (the CA's own words when the exchange
// has them), schedules the next one and returns the error for the caller.
func (m *Manager) failed(ns *nameState, x *exchange, cause error) error {
	now := m.now()
	msg := cause.Error()
	var notBefore time.Time
	if x != nil {
		if p := x.problem(); p != "" {
			msg = p
		}
		notBefore = x.notBefore()
	}
	m.mu.Lock()
	ns.rec.Failures++
	ns.rec.LastError = msg
	wait := backoffAfter(ns.rec.Failures)
	if c := ns.cert.Load(); c != nil && now.Before(c.Leaf.NotAfter) {
		wait = min(wait, retryBeforeExpiry(c.Leaf.NotAfter.Sub(now)))
	}
	ns.rec.NextAttempt = now.Add(wait)
	if notBefore.After(ns.rec.NextAttempt) {
		ns.rec.NextAttempt = notBefore
	}
	rec := ns.rec
	m.mu.Unlock()
	m.saveRecord(ns.name, rec)
	m.log.Warn("could not obtain a certificate", "name", ns.name, "err", msg,
		"failures", rec.Failures, "next_attempt", rec.NextAttempt)
	m.event("failed", ns.name, fmt.Sprintf("%s (attempt %d; next at %s)", msg, rec.Failures, rec.NextAttempt.Format(time.RFC3339)))
	return fmt.Errorf("acme: certificate for %s: %s", ns.name, msg)
}

// gateFailed records a reason not to order yet that DNS or the
// configuration must fix (a missing dns-persist-01 record): like a failed
// resolve check, it is re-checked within minutes and is not a failed
// order.
func (m *Manager) gateFailed(ns *nameState, reason string) error {
	now := m.now()
	m.mu.Lock()
	was := ns.resolve
	ns.resolveFailures++
	ns.resolve = verdict{reason: reason, at: now, next: now.Add(resolveRetryAfter(ns.resolveFailures))}
	next := ns.resolve.next
	m.mu.Unlock()
	m.log.Warn("not asking the CA yet", "name", ns.name, "reason", reason, "next_check", next)
	if was.reason != reason {
		m.event("unreachable", ns.name, reason)
	}
	return fmt.Errorf("acme: %s", reason)
}

func (m *Manager) saveRecord(name string, r record) {
	if err := saveRecord(m.cfg.Store, name, r); err != nil {
		m.log.Error("saving the ACME record", "name", name, "err", err)
	}
}

// account returns the ACME account key, loading it from the store or
// creating and storing it on first use.
func (m *Manager) account() (crypto.Signer, error) {
	m.accountMu.Lock()
	defer m.accountMu.Unlock()
	if m.accountKey != nil {
		return m.accountKey, nil
	}
	ctx := context.Background()
	data, err := m.cache.Get(ctx, accountCacheKey)
	switch {
	case err == nil:
		key, err := parseAccountKey(data)
		if err != nil {
			return nil, err
		}
		m.accountKey = key
	case errors.Is(err, autocert.ErrCacheMiss):
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return nil, err
		}
		data := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
		if m.cluster != nil {
			// Edges starting together must not register one account each:
			// the first key stored is everyone's.
			cur, swapped, err := m.cluster.CompareAndSwap("", accountCacheKey, nil, data)
			if err != nil {
				return nil, err
			}
			if !swapped {
				if m.accountKey, err = parseAccountKey(cur); err != nil {
					return nil, err
				}
				return m.accountKey, nil
			}
		} else if err := m.cache.Put(ctx, accountCacheKey, data); err != nil {
			return nil, err
		}
		m.accountKey = key
	default:
		return nil, err
	}
	return m.accountKey, nil
}

func parseAccountKey(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil || !bytes.Contains([]byte(b.Type), []byte("PRIVATE KEY")) {
		return nil, errors.New("stored ACME account key is not a PEM private key")
	}
	if k, err := x509.ParseECPrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
	}
	if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("stored ACME account key cannot be parsed")
}

func transportOf(c *http.Client) http.RoundTripper {
	if c != nil && c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}
