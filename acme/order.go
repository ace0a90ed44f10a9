package acme

import (
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
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/mholt/acmez/v3"
	acmeapi "github.com/mholt/acmez/v3/acme"
)

// The ACME protocol of one attempt, on github.com/mholt/acmez/v3's
// low-level client (JWS, nonces, polling, ARI identifiers, profiles); this
// file decides the order of challenges and what is sent.

// Challenge types frontdoor answers.
const (
	challengeTLSALPN01    = acmeapi.ChallengeTypeTLSALPN01
	challengeHTTP01       = acmeapi.ChallengeTypeHTTP01
	challengeDNSPersist01 = acmeapi.ChallengeTypeDNSPersist01
)

// ipProfile is the profile an IP address is ordered with when none is
// configured and the CA offers it.
const ipProfile = "shortlived"

// orderPollTimeout bounds the wait for one validation or finalization.
const orderPollTimeout = 2 * time.Minute

// challengeTypesFor lists the challenges to try for name, one order each,
// in this order: TLS-ALPN-01 (answered on 443, nothing to route), then
// HTTP-01 (port 80); a wildcard can only be validated through DNS, with
// the static dns-persist-01 record.
func challengeTypesFor(name string) []string {
	if isWildcard(name) {
		return []string{challengeDNSPersist01}
	}
	return []string{challengeTLSALPN01, challengeHTTP01}
}

// identifierFor is the ACME identifier of name: "ip" for an IP address
// (RFC 8738), "dns" otherwise (a wildcard too).
func identifierFor(name string) acmeapi.Identifier {
	if net.ParseIP(name) != nil {
		return acmeapi.Identifier{Type: "ip", Value: name}
	}
	return acmeapi.Identifier{Type: "dns", Value: name}
}

// session is one attempt's ACME client with its registered account.
type session struct {
	client  *acmeapi.Client
	account acmeapi.Account
	dir     Directory
}

// openSession reads the directory and registers (or finds: the call is
// idempotent for a known key) the account of key.
func (m *Manager) openSession(ctx context.Context, x *exchange, key crypto.Signer) (*session, error) {
	httpClient := &http.Client{Transport: x}
	dir, err := FetchDirectory(ctx, httpClient, m.cfg.DirectoryURL)
	if err != nil {
		return nil, err
	}
	client := &acmeapi.Client{
		Directory:   m.cfg.DirectoryURL,
		HTTPClient:  httpClient,
		UserAgent:   "frontdoor",
		PollTimeout: orderPollTimeout,
	}
	acct := acmeapi.Account{TermsOfServiceAgreed: true, PrivateKey: key}
	if m.cfg.Email != "" {
		acct.Contact = []string{"mailto:" + m.cfg.Email}
	}
	acct, err = client.NewAccount(ctx, acct)
	if err != nil {
		return nil, fmt.Errorf("ACME account: %w", err)
	}
	m.accountMu.Lock()
	m.accountURI = acct.Location
	m.accountMu.Unlock()
	return &session{client: client, account: acct, dir: dir}, nil
}

// order gets a certificate for a's name: one order per challenge type
// until one validates, then the CSR, then the chain. replaces (an ARI
// identifier, or "") names the certificate this one renews.
func (m *Manager) order(ctx context.Context, a *attempt, s *session, replaces string) (*tls.Certificate, error) {
	name := a.ns.name
	profile := m.profileFor(name)
	if profile == "" && net.ParseIP(name) != nil {
		if _, ok := s.dir.Profiles[ipProfile]; ok {
			// Let's Encrypt issues IP-address certificates only under its
			// short-lived profile.
			profile = ipProfile
		}
	}
	if err := s.dir.CheckProfile(m.cfg.DirectoryURL, profile); err != nil {
		return nil, err
	}
	if isWildcard(name) {
		if err := m.checkPersistRecord(ctx, s, name); err != nil {
			return nil, err
		}
	}
	var failures []error
	for _, typ := range challengeTypesFor(name) {
		o, err := m.newOrder(ctx, s, name, profile, replaces)
		if err != nil {
			return nil, errors.Join(append(failures, err)...)
		}
		err = m.authorize(ctx, a, s, o, typ)
		if err == nil {
			return m.finalize(ctx, a, s, o)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		failures = append(failures, fmt.Errorf("%s: %w", typ, err))
	}
	return nil, errors.Join(failures...)
}

// newOrder places an order for name. A CA that refuses the "replaces"
// (the certificate was already replaced, or it does not know it) gets the
// order again without it: a renewal must not fail over a hint.
func (m *Manager) newOrder(ctx context.Context, s *session, name, profile, replaces string) (acmeapi.Order, error) {
	o := acmeapi.Order{Identifiers: []acmeapi.Identifier{identifierFor(name)}, Profile: profile, Replaces: replaces}
	got, err := s.client.NewOrder(ctx, s.account, o)
	var p acmeapi.Problem
	if err != nil && replaces != "" && errors.As(err, &p) && p.Type != acmeapi.ProblemTypeRateLimited {
		m.log.Info("the CA refused the order as a replacement; ordering without replaces", "name", name, "problem", p.Detail)
		o.Replaces = ""
		got, err = s.client.NewOrder(ctx, s.account, o)
	}
	if err != nil {
		return got, fmt.Errorf("new order: %w", err)
	}
	return got, nil
}

// authorize validates every authorization of o with challenge typ. On
// failure the authorizations left pending are deactivated (they count
// against the CA's pending limit).
func (m *Manager) authorize(ctx context.Context, a *attempt, s *session, o acmeapi.Order, typ string) (err error) {
	var pending []string
	defer func() {
		if err == nil {
			return
		}
		for _, url := range pending {
			if _, derr := s.client.DeactivateAuthorization(context.WithoutCancel(ctx), s.account, url); derr != nil {
				m.log.Debug("deactivating an authorization", "url", url, "err", derr)
			}
		}
	}()
	for _, url := range o.Authorizations {
		authz, err := s.client.GetAuthorization(ctx, s.account, url)
		if err != nil {
			return fmt.Errorf("authorization: %w", err)
		}
		if authz.Status == acmeapi.StatusValid {
			continue
		}
		pending = append(pending, url)
		var chal *acmeapi.Challenge
		var offered []string
		for i := range authz.Challenges {
			offered = append(offered, authz.Challenges[i].Type)
			if authz.Challenges[i].Type == typ {
				chal = &authz.Challenges[i]
			}
		}
		if chal == nil {
			return fmt.Errorf("the CA offers no %s challenge for %s (it offers: %s)", typ, authz.IdentifierValue(), strings.Join(offered, ", "))
		}
		if err := m.present(ctx, a, *chal); err != nil {
			m.unpresent(a)
			return err
		}
		_, err = s.client.InitiateChallenge(ctx, s.account, *chal)
		if err == nil {
			_, err = s.client.PollAuthorization(ctx, s.account, authz)
		}
		m.unpresent(a)
		if err != nil {
			return err
		}
		pending = pending[:len(pending)-1]
	}
	return nil
}

// present makes a's challenge answers available to the engine:
// HTTPChallenge serves the key authorization, GetCertificate the
// TLS-ALPN-01 certificate. dns-persist-01 needs nothing: its record is
// static.
// In a cluster the answer is published to every edge too, and present
// returns once they have it: the CA may reach any of them.
func (m *Manager) present(ctx context.Context, a *attempt, chal acmeapi.Challenge) error {
	var alpn *tls.Certificate
	if chal.Type == challengeTLSALPN01 {
		var err error
		if alpn, err = acmez.TLSALPN01ChallengeCert(chal); err != nil {
			return fmt.Errorf("TLS-ALPN-01 certificate: %w", err)
		}
	}
	m.mu.Lock()
	switch chal.Type {
	case challengeHTTP01:
		a.httpToken, a.httpKeyAuth = chal.Token, chal.KeyAuthorization
	case challengeTLSALPN01:
		a.alpnCert = alpn
	}
	m.mu.Unlock()
	if m.cluster != nil && (chal.Type == challengeHTTP01 || chal.Type == challengeTLSALPN01) {
		a.published = chal.Token
		if err := m.cluster.PresentChallenge(ctx, a.ns.name, chal.Type, chal.Token, chal.KeyAuthorization); err != nil {
			return fmt.Errorf("publish the %s answer to the cluster: %w", chal.Type, err)
		}
	}
	return nil
}

func (m *Manager) unpresent(a *attempt) {
	m.mu.Lock()
	a.httpToken, a.httpKeyAuth, a.alpnCert = "", "", nil
	published := a.published
	a.published = ""
	m.mu.Unlock()
	if published != "" {
		m.cluster.WithdrawChallenge(a.ns.name, published)
	}
}

// finalize sends a CSR for a new P-256 key, downloads the chain, stores
// key and chain (autocert's PEM layout: the key first) and returns the
// certificate.
func (m *Manager) finalize(ctx context.Context, a *attempt, s *session, o acmeapi.Order) (*tls.Certificate, error) {
	name := a.ns.name
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.CertificateRequest{}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{name}
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("CSR: %w", err)
	}
	o, err = s.client.FinalizeOrder(ctx, s.account, o, csr)
	if err != nil {
		return nil, fmt.Errorf("finalize: %w", err)
	}
	chains, err := s.client.GetCertificateChain(ctx, s.account, o.Certificate)
	if err != nil {
		return nil, fmt.Errorf("download the certificate: %w", err)
	}
	if len(chains) == 0 {
		return nil, errors.New("the CA returned no certificate chain")
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	data = append(data, chains[0].ChainPEM...)
	cert, err := parseCached(name, data)
	if err != nil {
		return nil, fmt.Errorf("the CA's certificate: %w", err)
	}
	if err := m.storeCertificate(context.WithoutCancel(ctx), a, name, data); err != nil {
		return nil, fmt.Errorf("store the certificate: %w", err)
	}
	return cert, nil
}
