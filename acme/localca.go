package acme

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"
)

// Local CA lifetimes. Leaves are short-lived and never stored: they are
// cheap to make and a restart simply issues new ones.
const (
	localRootLifetime = 10 * 365 * 24 * time.Hour
	localLeafLifetime = 7 * 24 * time.Hour
	// localRootRenewBefore replaces a root this close to expiry (the user
	// then runs `frontdoor trust` again).
	localRootRenewBefore = 90 * 24 * time.Hour
	// maxLocalLeaves bounds the leaf cache: anyone can send any
	// *.localhost name in SNI.
	maxLocalLeaves = 256
	// clockSkew backdates NotBefore so a client whose clock is slightly
	// behind still accepts a fresh certificate.
	clockSkew = time.Hour
)

const (
	localCABucket = "localca"
	localCAKey    = "root"
)

// localCA issues certificates for localhost names from a root kept in the
// store. Its private key never leaves the process except into the store.
type localCA struct {
	now  func() time.Time
	root *x509.Certificate
	key  *ecdsa.PrivateKey

	mu     sync.Mutex
	leaves map[string]*tls.Certificate
}

// loadLocalCA returns the CA kept in store, creating (and storing) one when
// there is none or it is about to expire. created reports a new root.
func loadLocalCA(store Store, now func() time.Time, hostname string) (ca *localCA, created bool, err error) {
	data, ok, err := store.Blob(localCABucket, localCAKey)
	if err != nil {
		return nil, false, fmt.Errorf("load local CA: %w", err)
	}
	if ok {
		root, key, perr := parseRootPair(data)
		if perr == nil && now().Before(root.NotAfter.Add(-localRootRenewBefore)) {
			return &localCA{now: now, root: root, key: key, leaves: map[string]*tls.Certificate{}}, false, nil
		}
		// An unreadable or expiring root is replaced: nothing depends on
		// it but the trust the user gave it, which `frontdoor trust`
		// re-establishes.
	}
	root, key, pemData, err := newRoot(now(), hostname)
	if err != nil {
		return nil, false, err
	}
	if err := store.PutBlob(localCABucket, localCAKey, pemData); err != nil {
		return nil, false, fmt.Errorf("store local CA: %w", err)
	}
	return &localCA{now: now, root: root, key: key, leaves: map[string]*tls.Certificate{}}, true, nil
}

func newRoot(now time.Time, hostname string) (*x509.Certificate, *ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("local CA key: %w", err)
	}
	name := "frontdoor local CA"
	if hostname != "" {
		name += " " + hostname
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"frontdoor"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(localRootLifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true, // signs leaves only, no intermediates
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("local CA certificate: %w", err)
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("local CA certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("local CA key: %w", err)
	}
	pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	pemData = append(pemData, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})...)
	return root, key, pemData, nil
}

func parseRootPair(data []byte) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	var root *x509.Certificate
	var key *ecdsa.PrivateKey
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		var err error
		switch b.Type {
		case "CERTIFICATE":
			root, err = x509.ParseCertificate(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	if root == nil || key == nil || !root.IsCA {
		return nil, nil, errors.New("stored local CA is incomplete")
	}
	if !key.PublicKey.Equal(root.PublicKey) {
		return nil, nil, errors.New("stored local CA key does not match its certificate")
	}
	return root, key, nil
}

// rootPEM returns the root certificate (never the key) in PEM.
func (ca *localCA) rootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.root.Raw})
}

// certFor returns a leaf for name (a DNS name or an IP address), issuing a
// new one when there is none or the cached one is past two thirds of its
// life. It holds the CA's lock while signing (well under a millisecond).
func (ca *localCA) certFor(name string) (*tls.Certificate, error) {
	now := ca.now()
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if c := ca.leaves[name]; c != nil && now.Before(renewAt(c.Leaf, localLeafLifetime)) {
		return c, nil
	}
	c, err := ca.issue(name, now)
	if err != nil {
		return nil, err
	}
	if len(ca.leaves) >= maxLocalLeaves {
		ca.evictLocked(now)
	}
	ca.leaves[name] = c
	return c, nil
}

// evictLocked makes room in the leaf cache: expired leaves first, else the
// one that expires soonest.
func (ca *localCA) evictLocked(now time.Time) {
	var victim string
	var soonest time.Time
	for n, c := range ca.leaves {
		if c.Leaf.NotAfter.Before(now) {
			delete(ca.leaves, n)
			continue
		}
		if victim == "" || c.Leaf.NotAfter.Before(soonest) {
			victim, soonest = n, c.Leaf.NotAfter
		}
	}
	if len(ca.leaves) >= maxLocalLeaves {
		delete(ca.leaves, victim)
	}
}

func (ca *localCA) issue(name string, now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("local certificate for %s: %w", name, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(localLeafLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{name}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.root, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("local certificate for %s: %w", name, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("local certificate for %s: %w", name, err)
	}
	return &tls.Certificate{
		Certificate: [][]byte{der, ca.root.Raw},
		PrivateKey:  key,
		Leaf:        leaf,
	}, nil
}

// issued lists the leaves currently cached, for status.
func (ca *localCA) issued() map[string]*tls.Certificate {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	out := make(map[string]*tls.Certificate, len(ca.leaves))
	for n, c := range ca.leaves {
		out[n] = c
	}
	return out
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand does not fail on Linux (it panics rather than
		// return short reads since Go 1.24).
		panic(err)
	}
	return n.Add(n, big.NewInt(1))
}
