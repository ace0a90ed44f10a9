package acme

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/crypto/acme/autocert"
)

// Directory URLs of Let's Encrypt.
const (
	LetsEncryptURL        = autocert.DefaultACMEDirectory
	LetsEncryptStagingURL = "https://acme-staging-v02.api.letsencrypt.org/directory"
)

// Defaults of Config.
const (
	DefaultRenewBefore       = 30 * 24 * time.Hour
	DefaultHTTPPort          = 80
	DefaultProbeTimeout      = 5 * time.Second
	DefaultTicketKeyRotation = 12 * time.Hour
	DefaultCheckInterval     = time.Minute
	DefaultHandshakeWait     = 10 * time.Second
)

// Store keeps what the manager must not lose across restarts. *state.DB
// implements it.
type Store interface {
	// CertCache keeps certificates with their keys (PEM) and the ACME
	// account key. autocert.Cache is only the shape of that store (Get,
	// Put, Delete, and autocert.ErrCacheMiss for a missing key), kept so
	// that state files written before the move to acmez read the same.
	CertCache() autocert.Cache
	// Blob returns the value under bucket/key and whether it exists.
	Blob(bucket, key string) ([]byte, bool, error)
	// PutBlob stores value under bucket/key durably before returning.
	PutBlob(bucket, key string, value []byte) error
	// DeleteBlob removes bucket/key; a missing key is not an error.
	DeleteBlob(bucket, key string) error
}

// Config configures a Manager. Only Store is required.
type Config struct {
	// Names are the names to get certificates for from the ACME CA; they
	// are also the host policy: a TLS client asking for any other name
	// (that is not local) gets its handshake refused, and no order is
	// ever placed for it. The appliance passes the host names of the site
	// configuration. A name may be a DNS name, an IP address (an IP
	// certificate, RFC 8738, validated by TLS-ALPN-01 or HTTP-01 at that
	// address; one the CA cannot reach, such as a loopback address for a
	// public CA, is served by the local CA instead) or a wildcard
	// "*.example.com" (validated by dns-persist-01: persist.go). Local
	// names (localhost, *.localhost) are rejected.
	Names []string

	// Profile is the certificate profile orders ask for (Let's Encrypt:
	// "classic", "tlsserver", "shortlived"); "" lets the CA choose.
	// An order is refused before it is placed when the CA's directory
	// does not list the profile. Profiles overrides it per name.
	Profile  string
	Profiles map[string]string

	// LocalNames are extra names or IP addresses served from the local CA,
	// in addition to the built-in ones: localhost, *.localhost and
	// loopback addresses.
	LocalNames []string

	// DirectoryURL is the ACME directory. Default LetsEncryptURL.
	DirectoryURL string

	// Email is the contact address given to the CA when the account is
	// created. Optional. (Let's Encrypt no longer mails expiry warnings:
	// the manager raises its own, see Event.)
	Email string

	// RenewBefore is how long before expiry a certificate is renewed.
	// Default 30 days; it is capped at a third of the certificate's
	// lifetime so that a short-lived certificate never renews in a loop.
	RenewBefore time.Duration

	// HTTPClient is the client for the ACME API; its Transport is used.
	// Tests pass one that trusts pebble's own API certificate. Default
	// http.DefaultTransport.
	HTTPClient *http.Client

	// Resolver resolves names for the resolve check and the self-probe.
	// Tests point it at pebble-challtestsrv. Default net.DefaultResolver.
	Resolver *net.Resolver

	// HTTPPort is the port on which the engine answers HTTP-01
	// (HTTPChallenge) on this machine's public addresses; the self-probe
	// behind NAT connects to it. Default 80.
	HTTPPort int

	// SkipResolveCheck orders certificates without first checking that
	// the names resolve to this machine. For NAT without hairpinning,
	// where the self-probe cannot come back.
	SkipResolveCheck bool

	// ProbeTimeout bounds one self-probe. Default 5 s.
	ProbeTimeout time.Duration

	// TicketKeyRotation is how often a new TLS session-ticket key is made;
	// the last three keys still decrypt tickets. Default 12 h.
	TicketKeyRotation time.Duration

	// CheckInterval is how often the manager looks at every name (due for
	// renewal, backoff over). Default 1 min.
	CheckInterval time.Duration

	// HandshakeWait bounds how long GetCertificate waits for an order
	// already under way for the requested name (first start: the
	// certificate is usually there within seconds). Default 10 s; the
	// handshake's own context may end the wait sooner.
	HandshakeWait time.Duration

	// Store keeps certificates, the account and the manager's records.
	Store Store

	// Cluster, when set, makes this manager one edge of a cluster that
	// shares Store (which must then be the cluster's store): one order
	// per name for the whole cluster, challenges answered by any edge,
	// certificates and session-ticket keys pushed to every edge
	// (cluster.go). Nil: a single edge.
	Cluster Cluster

	// LeaseTTL is how long a cluster's order lease lasts unless renewed
	// (it is renewed every third of it while the order runs): how long
	// the other edges wait before they take over the order of an edge
	// that died. Default 2 min.
	LeaseTTL time.Duration

	// Logger receives the manager's logs. Default: discard.
	Logger *slog.Logger

	// Now is the clock. Default time.Now. Tests move it forward to reach
	// renewal and backoff deadlines.
	Now func() time.Time

	// OnEvent, if set, is called (from a background goroutine, never while
	// a handshake waits) for every event worth an entry in the appliance's
	// event log.
	OnEvent func(Event)
}

// Event reports something that happened to a certificate.
type Event struct {
	// Kind is "obtained", "renewed", "failed", "unreachable" (the name
	// does not resolve to this machine, or its dns-persist-01 record is
	// missing; no order was placed), "expiry-warning" (a third of the
	// certificate's lifetime or less is left and it is not renewed yet)
	// or "expiry-critical" (3 days or less are left).
	Kind    string
	Name    string
	Message string
	// NotAfter is the expiry of the certificate the event is about (zero
	// when there is none).
	NotAfter time.Time
}

func (c Config) withDefaults() Config {
	if c.DirectoryURL == "" {
		c.DirectoryURL = LetsEncryptURL
	}
	if c.RenewBefore <= 0 {
		c.RenewBefore = DefaultRenewBefore
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
	if c.HTTPPort <= 0 {
		c.HTTPPort = DefaultHTTPPort
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = DefaultProbeTimeout
	}
	if c.TicketKeyRotation <= 0 {
		c.TicketKeyRotation = DefaultTicketKeyRotation
	}
	if c.CheckInterval <= 0 {
		c.CheckInterval = DefaultCheckInterval
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.HandshakeWait <= 0 {
		c.HandshakeWait = DefaultHandshakeWait
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// validate checks c (after withDefaults) and returns the normalised ACME
// and local names.
func (c Config) validate() (acmeNames, localNames []string, err error) {
	if c.Store == nil {
		return nil, nil, fmt.Errorf("acme: Config.Store is required")
	}
	if c.HTTPPort > 65535 {
		return nil, nil, fmt.Errorf("acme: Config.HTTPPort %d is not a port", c.HTTPPort)
	}
	acmeNames, err = normalizeACMENames(c.Names)
	if err != nil {
		return nil, nil, err
	}
	localNames, err = normalizeLocalNames(c.LocalNames)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range acmeNames {
		for _, l := range localNames {
			if n == l {
				return nil, nil, fmt.Errorf("acme: %q is in both Config.Names and Config.LocalNames", n)
			}
		}
	}
	return acmeNames, localNames, nil
}
