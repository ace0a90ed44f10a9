package acme

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"
)

// parseCached decodes a certificate the way autocert caches it (the private
// key block followed by the chain, all PEM), checks that key and leaf
// belong together and that the leaf covers name. An expired certificate is
// returned too: the caller decides (it is renewed at once).
func parseCached(name string, data []byte) (*tls.Certificate, error) {
	// X509KeyPair skips blocks of the other kind in each argument.
	cert, err := tls.X509KeyPair(data, data)
	if err != nil {
		return nil, fmt.Errorf("cached certificate for %s: %w", name, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("cached certificate for %s: %w", name, err)
		}
	}
	if err := cert.Leaf.VerifyHostname(name); err != nil {
		return nil, fmt.Errorf("cached certificate for %s: %w", name, err)
	}
	return &cert, nil
}

// renewAt is when a certificate is due for renewal: RenewBefore ahead of
// expiry, but no earlier than two thirds into its life.
func renewAt(leaf *x509.Certificate, renewBefore time.Duration) time.Time {
	lifetime := leaf.NotAfter.Sub(leaf.NotBefore)
	return leaf.NotAfter.Add(-min(renewBefore, lifetime/3))
}

// issuerName is a short name of who signed leaf, for status.
func issuerName(leaf *x509.Certificate) string {
	if leaf == nil {
		return ""
	}
	if cn := leaf.Issuer.CommonName; cn != "" {
		return cn
	}
	return leaf.Issuer.String()
}
