package acme

import (
	"context"
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme/autocert"
)

// ErrNotRunning is returned by calls that need a running manager (started,
// not yet closed).
var ErrNotRunning = errors.New("acme: the certificate manager is not running")

// Manager serves and maintains certificates. Create it with New, call Start
// to begin obtaining and renewing in the background, Close to stop. Its
// methods are safe for concurrent use.
type Manager struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	cache autocert.Cache
	// caReach classifies where the CA connects from, to judge whether it
	// can reach an address (see resolve.go).
	caReach reach

	local   *localCA
	tickets *ticketKeys
	// cluster is Config.Cluster (nil for a single edge; cluster.go);
	// stopWatch ends its change notifications, alpn keeps the
	// certificates made for other edges' TLS-ALPN-01 challenges.
	cluster   Cluster
	stopWatch func()
	alpn      alpnCache

	lifetime context.Context // cancelled by Close
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	kick     chan struct{}

	accountMu  sync.Mutex
	accountKey crypto.Signer
	accountURI string // the account's URL at the CA, once registered

	ariMu sync.Mutex // serialises refreshRenewalInfo

	mu         sync.Mutex
	started    bool
	closed     bool
	names      map[string]*nameState // the ACME names (the host policy)
	localNames map[string]bool       // Config.LocalNames
	profile    string                // Config.Profile
	profiles   map[string]string     // Config.Profiles
	probes     map[string][]byte     // self-probe token -> expected body
	// localAddrs lists this machine's addresses (a seam for the NAT
	// test: it lets loopback look like someone else's address).
	localAddrs func() ([]netip.Addr, error)
}

// nameState is what the manager knows about one ACME name. Fields other
// than cert are guarded by Manager.mu.
type nameState struct {
	name string
	// cert is the certificate served now (nil until one is obtained); it
	// is replaced atomically, so handshakes never see a gap.
	cert atomic.Pointer[tls.Certificate]

	rec             record
	resolve         verdict
	resolveFailures int
	attempt         *attempt // non-nil while an order is under way
	orders          int      // new orders placed by this process
	// In a cluster: heldBy is the edge holding the name's order lease
	// until heldUntil (this edge waits for its certificate), clusterErr
	// why the lease could not be asked for.
	heldBy     string
	heldUntil  time.Time
	clusterErr string
	// alerted is the expiry alert last raised for the certificate with
	// serial alertedSerial (expiry.go), so that each is raised once.
	alerted       alertLevel
	alertedSerial string
}

// New validates cfg, loads what the store holds (certificates, records,
// the local CA, session-ticket keys; creating the local CA and the first
// ticket key when missing) and returns a manager that already serves cached
// and local certificates. It does no network I/O; Start does.
func New(cfg Config) (*Manager, error) {
	cfg = cfg.withDefaults()
	acmeNames, localNames, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	dir, err := url.Parse(cfg.DirectoryURL)
	if err != nil || dir.Host == "" {
		return nil, fmt.Errorf("acme: Config.DirectoryURL %q is not a URL", cfg.DirectoryURL)
	}
	m := &Manager{
		cfg:        cfg,
		log:        cfg.Logger,
		now:        cfg.Now,
		cache:      cfg.Store.CertCache(),
		cluster:    cfg.Cluster,
		caReach:    reachOf(dir.Hostname()),
		kick:       make(chan struct{}, 1),
		names:      map[string]*nameState{},
		localNames: map[string]bool{},
		probes:     map[string][]byte{},
		localAddrs: interfaceAddrs,
	}
	m.lifetime, m.cancel = context.WithCancel(context.Background())
	acmeNames, localNames = m.splitUnreachableIPs(acmeNames, localNames)
	for _, n := range localNames {
		m.localNames[n] = true
	}
	if err := m.setProfiles(cfg.Profile, cfg.Profiles); err != nil {
		return nil, err
	}
	hostname, _ := os.Hostname()
	var created bool
	if m.local, created, err = loadLocalCA(cfg.Store, m.now, hostname); err != nil {
		return nil, fmt.Errorf("acme: %w", err)
	}
	if created {
		m.log.Info("created the local CA", "subject", m.local.root.Subject.CommonName, "not_after", m.local.root.NotAfter)
	}
	if m.tickets, err = loadTicketKeys(cfg.Store, cfg.Cluster, m.log, m.now, cfg.TicketKeyRotation); err != nil {
		return nil, fmt.Errorf("acme: %w", err)
	}
	for _, n := range acmeNames {
		ns, err := m.loadName(n)
		if err != nil {
			return nil, err
		}
		m.names[n] = ns
	}
	return m, nil
}

// loadName restores a name's record and cached certificate.
func (m *Manager) loadName(name string) (*nameState, error) {
	ns := &nameState{name: name}
	rec, cert, err := m.loadStored(name)
	if err != nil {
		return nil, fmt.Errorf("acme: %w", err)
	}
	ns.rec = rec
	if cert != nil {
		ns.cert.Store(cert)
		m.log.Info("certificate loaded from state", "name", name, "issuer", issuerName(cert.Leaf), "not_after", cert.Leaf.NotAfter)
	}
	return ns, nil
}

// loadStored reads a name's record and certificate (nil when there is
// none, or it is unusable) from the store.
func (m *Manager) loadStored(name string) (record, *tls.Certificate, error) {
	rec, err := loadRecord(m.cfg.Store, name)
	if err != nil {
		return rec, nil, fmt.Errorf("load record of %s: %w", name, err)
	}
	data, err := m.cache.Get(context.Background(), name)
	switch {
	case errors.Is(err, autocert.ErrCacheMiss):
		return rec, nil, nil
	case err != nil:
		return rec, nil, fmt.Errorf("load certificate of %s: %w", name, err)
	}
	cert, err := parseCached(name, data)
	if err != nil {
		m.log.Warn("ignoring an unusable cached certificate; a new one will be ordered", "name", name, "err", err)
		return rec, nil, nil
	}
	return rec, cert, nil
}

// Start begins background work: an immediate pass over every name (so
// certificates are ordered at start, not at the first handshake), then one
// pass every CheckInterval for renewals, retries and ticket-key rotation.
// It returns at once. Calling it twice, or after Close, does nothing.
func (m *Manager) Start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started || m.closed {
		return
	}
	m.started = true
	if m.cluster != nil {
		m.stopWatch = m.cluster.Watch(m.storeChanged)
	}
	m.wg.Add(1)
	go m.loop()
}

// Close stops background work, cancels orders under way (their requests to
// the CA fail at once) and waits for them to finish. Serving cached and
// local certificates keeps working after Close; nothing new is ordered.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	stopWatch := m.stopWatch
	m.mu.Unlock()
	if stopWatch != nil {
		stopWatch()
	}
	m.cancel()
	m.wg.Wait()
	return nil
}

// SetNames replaces the ACME names (on a configuration reload). New names
// are loaded from the store and ordered in the background if needed;
// dropped names stop being served at once.
func (m *Manager) SetNames(names []string) error {
	acmeNames, err := normalizeACMENames(names)
	if err != nil {
		return err
	}
	acmeNames, _ = m.splitUnreachableIPs(acmeNames, nil)
	for _, n := range acmeNames {
		if m.localNames[n] {
			return fmt.Errorf("acme: %q is in both Config.Names and Config.LocalNames", n)
		}
	}
	fresh := map[string]*nameState{}
	m.mu.Lock()
	for _, n := range acmeNames {
		fresh[n] = m.names[n]
	}
	m.mu.Unlock()
	for n, ns := range fresh {
		if ns == nil {
			if fresh[n], err = m.loadName(n); err != nil {
				return err
			}
		}
	}
	m.mu.Lock()
	m.names = fresh
	m.mu.Unlock()
	m.wake()
	return nil
}

// Renew orders a new certificate for name now, whatever the expiry of the
// current one and any backoff (an operator's explicit request); the resolve
// check still applies. The current certificate is served until the new one
// replaces it. Renew blocks until the order finishes or ctx ends, and
// returns the order's error. The manager must be started.
func (m *Manager) Renew(ctx context.Context, name string) error {
	n, err := normalizeName(name)
	if err != nil {
		return fmt.Errorf("acme: renew: %w", err)
	}
	m.mu.Lock()
	ns := m.names[n]
	if ns == nil {
		m.mu.Unlock()
		return fmt.Errorf("acme: renew %q: not one of the configured names", n)
	}
	a := ns.attempt
	if a == nil {
		if a = m.startLocked(ns, true); a == nil {
			m.mu.Unlock()
			return ErrNotRunning
		}
	}
	m.mu.Unlock()
	select {
	case <-a.done:
		return a.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *Manager) loop() {
	defer m.wg.Done()
	tick := time.NewTicker(m.cfg.CheckInterval)
	defer tick.Stop()
	for {
		m.maintain()
		select {
		case <-m.lifetime.Done():
			return
		case <-tick.C:
		case <-m.kick:
		}
	}
}

// wake makes the loop run a pass now.
func (m *Manager) wake() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// maintain is one pass: start an order for every name that is due, rotate
// the session-ticket keys when due.
func (m *Manager) maintain() {
	m.refreshRenewalInfo()
	now := m.now()
	m.mu.Lock()
	for _, ns := range m.names {
		if due, _ := m.dueLocked(ns, now, false); due {
			m.startLocked(ns, false)
		}
	}
	m.mu.Unlock()
	m.checkExpiry(now)
	rotated, err := m.tickets.rotateIfDue()
	if err != nil {
		m.log.Error("rotating session-ticket keys", "err", err)
	} else if rotated {
		m.log.Debug("rotated session-ticket keys")
	}
}

// dueLocked reports whether an order for ns may start now, or why not.
// fromHandshake marks a client asking for the name: that hints that its DNS
// now points here, so a failed resolve check is retried sooner.
func (m *Manager) dueLocked(ns *nameState, now time.Time, fromHandshake bool) (bool, string) {
	if ns.attempt != nil {
		return false, "an order is under way"
	}
	if now.Before(ns.heldUntil) {
		return false, fmt.Sprintf("edge %s of the cluster is ordering it (its lease runs until %s)", ns.heldBy, ns.heldUntil.Format(time.RFC3339))
	}
	return m.stillDueLocked(ns, now, fromHandshake)
}

// stillDueLocked is dueLocked without the orders under way: what the
// certificate and the record say (an edge holding the lease asks it again
// after reading both from the cluster).
func (m *Manager) stillDueLocked(ns *nameState, now time.Time, fromHandshake bool) (bool, string) {
	if c := ns.cert.Load(); c != nil && now.Before(planRenewal(c.Leaf, ns.rec.ARI, m.cfg.RenewBefore).At) {
		return false, "valid"
	}
	if now.Before(ns.rec.NextAttempt) {
		return false, fmt.Sprintf("backing off after %d failed attempt(s) until %s; last error: %s",
			ns.rec.Failures, ns.rec.NextAttempt.Format(time.RFC3339), ns.rec.LastError)
	}
	if !ns.resolve.ok && !ns.resolve.at.IsZero() && now.Before(ns.resolve.next) {
		if !fromHandshake || now.Sub(ns.resolve.at) < time.Minute {
			return false, ns.resolve.reason
		}
	}
	return true, ""
}

// running reports whether the manager is started and not closed.
func (m *Manager) running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.started && !m.closed
}

// lookupLocked finds the ACME name that covers host: the name itself, or
// a wildcard one label up.
func (m *Manager) lookupLocked(host string) *nameState {
	if ns := m.names[host]; ns != nil {
		return ns
	}
	if _, parent, ok := strings.Cut(host, "."); ok && strings.Contains(parent, ".") {
		return m.names["*."+parent]
	}
	return nil
}

// splitUnreachableIPs moves IP addresses the CA cannot reach (loopback or
// private addresses for a public CA) from the ACME names to the local
// ones: an ACME CA validates an IP certificate by connecting to it.
func (m *Manager) splitUnreachableIPs(acmeNames, localNames []string) (acmeOut, localOut []string) {
	localOut = localNames
	for _, n := range acmeNames {
		if ip, err := netip.ParseAddr(n); err == nil && !m.caReach.canReach(ip) {
			if !slices.Contains(localOut, n) {
				localOut = append(localOut, n)
			}
			m.log.Info("the CA cannot reach this address: it is served by the local CA", "name", n, "ca", m.cfg.DirectoryURL)
			continue
		}
		acmeOut = append(acmeOut, n)
	}
	return acmeOut, localOut
}

// SetProfiles replaces the certificate profiles (on a configuration
// reload): profile for every name, profiles for some. They apply from the
// next order on.
func (m *Manager) SetProfiles(profile string, profiles map[string]string) error {
	return m.setProfiles(profile, profiles)
}

func (m *Manager) setProfiles(profile string, profiles map[string]string) error {
	norm := map[string]string{}
	for name, p := range profiles {
		n, err := normalizeName(name)
		if err != nil {
			return fmt.Errorf("acme: Config.Profiles: %w", err)
		}
		if isWildcard(strings.TrimSpace(name)) {
			n = "*." + strings.TrimPrefix(n, "*.")
		}
		norm[n] = p
	}
	m.mu.Lock()
	m.profile, m.profiles = profile, norm
	m.mu.Unlock()
	return nil
}

// profileFor is the profile orders for name ask for ("" for the CA's
// default).
func (m *Manager) profileFor(name string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.profiles[name]; ok {
		return p
	}
	return m.profile
}

// startLocked starts an order for ns in the background and returns it, or
// nil when the manager is not running. forced is an operator's renewal:
// it orders whatever the certificate and the backoff say.
func (m *Manager) startLocked(ns *nameState, forced bool) *attempt {
	if !m.started || m.closed {
		return nil
	}
	a := &attempt{ns: ns, done: make(chan struct{}), forced: forced}
	ns.attempt = a
	m.wg.Add(1)
	go m.run(a)
	return a
}

// interfaceAddrs lists the addresses of this machine's interfaces.
func interfaceAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out, nil
}

// event hands e to Config.OnEvent, if any.
// The caller must not hold m.mu.
func (m *Manager) event(kind, name, message string) {
	if m.cfg.OnEvent == nil {
		return
	}
	e := Event{Kind: kind, Name: name, Message: message}
	m.mu.Lock()
	ns := m.names[name]
	m.mu.Unlock()
	if ns != nil {
		if c := ns.cert.Load(); c != nil {
			e.NotAfter = c.Leaf.NotAfter
		}
	}
	m.cfg.OnEvent(e)
}
