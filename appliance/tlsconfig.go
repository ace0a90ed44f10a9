package appliance

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"crypto/tls"
	"crypto/x509"

	"frontdoor/acme"
)

// TLSSettings is the [tls] table: how certificates are obtained.
type TLSSettings struct {
	// ACME turns ordering certificates from the ACME CA on or off
	// (default on). Off: only local names (localhost, *.localhost,
	// loopback addresses, local_names) get certificates, from the local CA.
	ACME *bool `toml:"acme"`
	// Email is given to the CA for expiry warnings (optional).
	Email string `toml:"email"`
	// DirectoryURL is the ACME directory (default Let's Encrypt;
	// "https://acme-staging-v02.api.letsencrypt.org/directory" for tests).
	DirectoryURL string `toml:"directory_url"`
	// DirectoryCA is a PEM file of roots the ACME API's own certificate is
	// checked against, besides the system's (a private CA, a test pebble).
	DirectoryCA string `toml:"directory_ca"`
	// Names overrides the names certificates are ordered for (default:
	// the concrete host names of every [[site]]).
	Names []string `toml:"names"`
	// LocalNames get certificates from the local CA, like localhost.
	LocalNames []string `toml:"local_names"`
	// RenewBefore is how long before expiry to renew (default 720h).
	RenewBefore Duration `toml:"renew_before"`
	// SkipResolveCheck orders without checking that names resolve to this
	// machine (NAT that cannot reach its own public address).
	SkipResolveCheck bool `toml:"skip_resolve_check"`
	// Resolver is a DNS server ("host:port") to resolve names with, instead
	// of the system's (tests point it at pebble-challtestsrv).
	Resolver string `toml:"resolver"`
	// HandshakeTimeout bounds a TLS handshake (default 10s).
	HandshakeTimeout Duration `toml:"handshake_timeout"`
	// Profile is the certificate profile to order ("classic",
	// "tlsserver", "shortlived" at Let's Encrypt; default: the CA's
	// choice); [[site]] profile overrides it for a site's names.
	Profile string `toml:"profile"`
	// AlertCommand runs (argv, no shell) on certificate expiry warnings
	// and errors and on failed renewals (alerts.go).
	AlertCommand []string `toml:"alert_command"`
}

// acmeEnabled reports whether certificates are ordered from the CA.
func (c *Config) acmeEnabled() bool { return c.TLS.ACME == nil || *c.TLS.ACME }

// acmeNames are the names to order certificates for: [tls] names, or every
// concrete host of the sites (no wildcards, no IP addresses, no local
// names, which the local CA covers).
func (c *Config) acmeNames() []string {
	if !c.acmeEnabled() {
		return nil
	}
	if c.TLS.Names != nil {
		return c.TLS.Names
	}
	seen := map[string]bool{}
	var names []string
	for _, s := range c.Sites {
		for _, h := range s.Hosts {
			h = certName(h)
			if h == "" || h == "*" || isLocalName(h) || seen[h] {
				continue
			}
			seen[h] = true
			names = append(names, h)
		}
	}
	return names
}

// certName is the certificate name of a site host: lower case, no final
// dot, an IPv6 literal without its brackets. IP addresses get IP
// certificates and "*.example.com" a wildcard one (dns-persist-01); the
// manager serves an IP address the CA cannot reach (loopback) from the
// local CA.
func certName(h string) string {
	h = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(h), "."))
	if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return ip.Unmap().String()
	}
	return h
}

// certProfiles maps the names of sites with their own profile to it.
func (c *Config) certProfiles() map[string]string {
	out := map[string]string{}
	for _, s := range c.Sites {
		if s.Profile == "" {
			continue
		}
		for _, h := range s.Hosts {
			out[certName(h)] = s.Profile
		}
	}
	return out
}

func isLocalName(h string) bool {
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// newCertManager builds the certificate manager from the configuration.
// httpPort is the port HTTP-01 is answered on (the self-probe uses it).
func (a *Appliance) newCertManager(cfg *Config, httpPort int) (*acme.Manager, error) {
	ac := acme.Config{
		Names:            cfg.acmeNames(),
		Profile:          cfg.TLS.Profile,
		Profiles:         cfg.certProfiles(),
		LocalNames:       cfg.TLS.LocalNames,
		DirectoryURL:     cfg.TLS.DirectoryURL,
		Email:            cfg.TLS.Email,
		RenewBefore:      cfg.TLS.RenewBefore.Duration,
		SkipResolveCheck: cfg.TLS.SkipResolveCheck,
		HTTPPort:         httpPort,
		Store:            a.certStore(),
		Cluster:          a.certCluster(),
		LeaseTTL:         a.leaseTTL(cfg),
		Logger:           a.log.With("part", "acme"),
		OnEvent: func(e acme.Event) {
			a.recordEvent("acme", e.Kind, e.Name+": "+e.Message)
			a.alert(e)
		},
	}
	if cfg.TLS.DirectoryCA != "" {
		client, err := clientTrusting(cfg.TLS.DirectoryCA)
		if err != nil {
			return nil, err
		}
		ac.HTTPClient = client
	}
	if cfg.TLS.Resolver != "" {
		server := cfg.TLS.Resolver
		ac.Resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, server)
		}}
	}
	return acme.New(ac)
}

// clientTrusting is an HTTP client that also trusts the roots in pemFile.
func clientTrusting(pemFile string) (*http.Client, error) {
	pool, err := trustedRoots(pemFile)
	if err != nil {
		return nil, fmt.Errorf("tls.directory_ca: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

// trustedRoots is the system's roots plus the PEM certificates in pemFile,
// which must hold at least one. check calls it too, so a file run cannot
// use fails there, with its line.
func trustedRoots(pemFile string) (*x509.CertPool, error) {
	data, err := os.ReadFile(pemFile)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate", pemFile)
	}
	return pool, nil
}
