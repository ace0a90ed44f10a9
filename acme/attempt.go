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
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// attempt is one try at getting a certificate for a name: one short-lived
// autocert.Manager and its sealed-after-use exchange. autocert may place
// two orders in one attempt (TLS-ALPN-01 first; if that validation fails,
// HTTP-01).
type attempt struct {
	ns   *nameState
	done chan struct{} // closed when the attempt is over
	err  error         // its outcome; read after done is closed

	// Set (under Manager.mu) once the ACME client exists, so that the
	// challenge answers can reach this attempt's autocert.Manager.
	am      *autocert.Manager
	handler http.Handler
}

// accountCacheKey is where autocert keeps the account key; the manager
// reads and writes it in autocert's format so both agree.
const accountCacheKey = "acme_account+key"

// attemptRenewBefore is the RenewBefore of an attempt's autocert.Manager.
// autocert starts a renewal timer for every certificate it obtains and
// offers no way to stop it; with this value the timer first fires a minute
// before expiry, long after this manager renewed, and then finds the newer
// certificate in the cache and sleeps again; and its exchange refuses new
// orders anyway.
const attemptRenewBefore = time.Minute

// run carries out a and records its outcome.
func (m *Manager) run(a *attempt) {
	defer m.wg.Done()
	err := m.obtain(a)
	m.mu.Lock()
	a.err = err
	a.ns.attempt = nil
	a.am, a.handler = nil, nil
	m.mu.Unlock()
	close(a.done)
}

func (m *Manager) obtain(a *attempt) error {
	ns := a.ns
	name := ns.name
	if !m.cfg.SkipResolveCheck {
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
			m.log.Info("placing an ACME order", "name", name, "ca", m.cfg.DirectoryURL)
		},
	}
	defer x.seal()
	view := &orderCache{Cache: m.cache, key: name}
	view.hide.Store(true)
	defer view.hide.Store(false)
	am := &autocert.Manager{
		Prompt:      autocert.AcceptTOS,
		Cache:       view,
		HostPolicy:  autocert.HostWhitelist(name),
		RenewBefore: attemptRenewBefore,
		Email:       m.cfg.Email,
		Client: &acme.Client{
			Key:          key,
			DirectoryURL: m.cfg.DirectoryURL,
			HTTPClient:   &http.Client{Transport: x},
			UserAgent:    "frontdoor",
			RetryBackoff: retryBackoff,
		},
	}
	handler := am.HTTPHandler(nil) // also enables HTTP-01 as the fallback

	m.mu.Lock()
	a.am, a.handler = am, handler
	ns.rec.LastAttempt = m.now()
	rec := ns.rec
	m.mu.Unlock()
	m.saveRecord(name, rec)

	// autocert obtains a certificate through GetCertificate: a hello that
	// prefers ECDSA makes it order one P-256 certificate per name.
	cert, err := am.GetCertificate(&tls.ClientHelloInfo{
		ServerName:   name,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
	})
	x.seal()
	if m.lifetime.Err() != nil {
		return ErrNotRunning // shutting down: not the name's fault, record nothing
	}
	if err != nil {
		return m.failed(ns, x, err)
	}
	m.succeeded(ns, cert)
	return nil
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
	ns.rec.NextAttempt = now.Add(backoffAfter(ns.rec.Failures))
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
		if err := m.cache.Put(ctx, accountCacheKey, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})); err != nil {
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

// orderCache is the cache an attempt's autocert.Manager sees: the store's,
// except that the attempt's own certificate is hidden while it runs. That
// is what makes autocert order even though a still-valid certificate is
// cached (a renewal). Challenge tokens and the new certificate go straight
// to the store.
type orderCache struct {
	autocert.Cache
	key  string
	hide atomic.Bool
}

func (c *orderCache) Get(ctx context.Context, key string) ([]byte, error) {
	if key == c.key && c.hide.Load() {
		return nil, autocert.ErrCacheMiss
	}
	return c.Cache.Get(ctx, key)
}

func transportOf(c *http.Client) http.RoundTripper {
	if c != nil && c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}
