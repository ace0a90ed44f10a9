package acme

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
)

// A cached certificate that cannot be used (damaged PEM, another name's
// certificate, a key that does not match) is not served: it is reported
// and a new one is ordered at start, which replaces it in the state.
func TestUnusableCachedCertificateIsReordered(t *testing.T) {
	f := newFront(t, true, true)
	p := startPebble(t, f.httpPort, f.tlsPort)
	// Usable-looking material from the local CA: a certificate for another
	// name, and one for the right name with another certificate's key.
	other := localManager(t, tempStorePath(t), nil)
	wrongName, err := other.local.certFor("other.example")
	must(t, err)
	rightName, err := other.local.certFor("cached.test")
	must(t, err)
	keyPEM := func(c any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(c)
		must(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	certPEM := func(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}) }
	for _, c := range []struct {
		name string
		data []byte
		why  string
	}{
		{"damaged", []byte("-----BEGIN EC PRIVATE KEY-----\nnot base64\n"), "find any PEM data"},
		{"another name", append(keyPEM(wrongName.PrivateKey), certPEM(wrongName.Certificate[0])...), "cached.test"},
		{"key of another certificate", append(keyPEM(wrongName.PrivateKey), certPEM(rightName.Certificate[0])...), "does not match"},
	} {
		t.Run(c.name, func(t *testing.T) {
			const name = "cached.test"
			store := openStore(t, tempStorePath(t))
			must(t, store.CertCache().Put(context.Background(), name, c.data))
			before := p.Orders()
			m, logs := testManager(t, p, f, store, []string{name}, nil)
			if s := statusOf(m, name); s.State != "pending" || !s.NotAfter.IsZero() {
				t.Fatalf("status %+v before start: the unusable certificate is used", s)
			}
			if !strings.Contains(logs.String(), "unusable cached certificate") || !strings.Contains(logs.String(), c.why) {
				t.Errorf("the log does not say why the cached certificate is ignored (%q):\n%s", c.why, logs.String())
			}
			m.Start()
			s := waitValid(t, m, name)
			if !strings.HasPrefix(s.Issuer, "Pebble") || p.Orders() != before+1 {
				t.Errorf("issuer %q after %d orders: want a new one from pebble", s.Issuer, p.Orders()-before)
			}
			data, err := store.CertCache().Get(context.Background(), name)
			must(t, err)
			if _, err := parseCached(name, data); err != nil {
				t.Errorf("the state still holds an unusable certificate: %v", err)
			}
		})
	}
}
