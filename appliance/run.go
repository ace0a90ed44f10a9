package appliance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"frontdoor/acme"
	"frontdoor/proxy"
	"frontdoor/state"
	"frontdoor/state/cluster"
	"frontdoor/supervisor"
	"frontdoor/systemd"
)

// Options are the command-line settings of `frontdoor run`.
type Options struct {
	ConfigPath string
	Logger     *slog.Logger
	// Version is frontdoor's version, for the cluster's status.
	Version string
}

// Appliance is a running frontdoor: configuration, state, engine, the
// supervised application and the glue to systemd.
type Appliance struct {
	log     *slog.Logger
	cfgPath string
	// cfg is the configuration in force; the signal loop replaces it on a
	// reload (under cfgMu), other goroutines read it with currentConfig.
	cfgMu     sync.RWMutex
	cfg       *Config
	engine    *proxy.Engine
	notifier  *systemd.Notifier
	accessLog io.Closer
	state     *state.DB
	version   string
	// cluster is the store shared with the other edges ([cluster],
	// cluster.go); nil for a single edge. stopClusterFollow ends the
	// following of the application's database (postgres = "app").
	cluster           *cluster.Store
	stopClusterFollow context.CancelFunc
	// certs is the certificate manager (nil when no TLS listener), and
	// tlsConfig its live configs (ticket keys rotate in place); a reload
	// that changes [tls] settings replaces both (tlsreload.go), so readers
	// outside the signal loop use certManager.
	certsMu   sync.Mutex
	certs     *acme.Manager
	tlsConfig listenerTLS
	certsCA   []byte // the directory_ca file the manager was built with
	// started is the configuration the daemon started with: a reload
	// compares the keys it cannot apply with it (reloadkeys.go).
	started   *Config
	activated bool // the listeners came from systemd
	httpPort  int
	httpsPort int
	apps      *appSet      // the supervised applications (appset.go)
	admin     *adminServer // the admin socket (admin.go)
	logUnit   string       // the unit whose journal has the log ("" none)

	// alert_command (alerts.go): the argv in force, and the queue of
	// alerts waiting for it.
	alertArgv  atomic.Pointer[[]string]
	alertsOnce sync.Once
	alerts     chan alertJob
}

// Run loads the configuration, starts serving and handles signals until
// SIGTERM or SIGINT (or ctx ends): SIGHUP reloads the configuration, keeping
// the old one when the new one has errors.
func Run(ctx context.Context, opts Options) error {
	log := opts.Logger
	cfg, err := LoadConfig(opts.ConfigPath)
	if err != nil {
		return err
	}
	notifier, err := systemd.NewNotifier(log)
	if err != nil {
		return err
	}
	a := &Appliance{log: log, cfgPath: opts.ConfigPath, cfg: cfg, notifier: notifier, logUnit: journalUnit(), version: opts.Version}
	// Signals are caught before anything serves: a SIGHUP (or a POST
	// /reload, which sends one) that arrives while start is still under
	// way would otherwise find Go's default action and end the process.
	// serve handles what arrived meanwhile.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(signals)
	if err := a.start(); err != nil {
		return err
	}
	return a.serve(ctx, signals)
}

func (a *Appliance) start() error {
	db, err := state.Open(a.cfg.Server.State, state.Options{})
	if err != nil {
		if errors.Is(err, state.ErrDamaged) {
			return fmt.Errorf("%w (move the file away to start with an empty state; certificates will be ordered again)", err)
		}
		return err
	}
	a.state = db
	if err := a.openCluster(); err != nil {
		return err
	}
	accessLog, closer, err := openAccessLog(a.cfg.Server.AccessLog)
	if err != nil {
		return err
	}
	listeners, activated, err := openListeners(a.cfg, a.log)
	if err != nil {
		return err
	}
	a.started, a.activated = a.cfg, activated
	a.httpPort, a.httpsPort = listenerPorts(listeners)
	a.alertArgv.Store(&a.cfg.TLS.AlertCommand)
	if a.httpsPort != 0 {
		if err := a.cfg.checkCAOffers(a.log); err != nil {
			closeListeners(listeners)
			return err
		}
		if a.certs, err = a.newCertManager(a.cfg, max(a.httpPort, 80)); err != nil {
			closeListeners(listeners)
			return fmt.Errorf("%s: [tls]: %w", a.cfgPath, err)
		}
		a.tlsConfig = servedTLS(a.certs)
		a.certsCA, _ = readDirectoryCA(a.cfg) // newCertManager has just read it
	}
	engine, err := proxy.New(a.engineConfig(a.cfg, accessLog), listeners)
	if err != nil {
		closeListeners(listeners)
		return fmt.Errorf("%s: %w", a.cfgPath, err)
	}
	a.engine, a.accessLog = engine, closer
	a.limitCapabilities()
	// The apps first: each app's hold (requests wait while it boots) and
	// maintenance mode are then in force from the first connection the
	// engine accepts — under socket activation, the one that started
	// frontdoor, which waited in the listen queue.
	if err := a.startApps(); err != nil {
		return err
	}
	engine.Start()
	var addrs, http1Only []string
	for _, l := range engine.Listeners() {
		addrs = append(addrs, l.Addr)
		if l.TLS && l.NoHTTP2 {
			http1Only = append(http1Only, l.Addr)
		}
	}
	a.log.Info("frontdoor serving", "listen", strings.Join(addrs, " "), "workers", engine.Stats().Workers, "sites", len(a.cfg.Sites), "state", a.cfg.Server.State)
	if len(http1Only) > 0 {
		a.log.Info("HTTPS listeners speaking HTTP/1.1 only (server.http2)", "listen", strings.Join(http1Only, " "))
	}
	if a.certs != nil {
		// Orders start once HTTP-01 can be answered.
		a.certs.Start()
	}
	a.startCluster()
	return a.startAdmin()
}

func (a *Appliance) serve(ctx context.Context, signals <-chan os.Signal) error {
	watchCtx, stopWatchdog := context.WithCancel(ctx)
	defer stopWatchdog()
	tuneMemory(watchCtx, a.log)
	a.notifier.Ready(a.statusLine())
	go a.notifier.RunWatchdog(watchCtx, func() bool { return a.engine.Alive(3 * time.Second) })
	for {
		select {
		case <-ctx.Done():
			return a.stop()
		case <-a.engine.Done():
			return errors.New("the engine stopped unexpectedly")
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				a.reload()
				continue
			}
			a.log.Info("stopping", "signal", sig.String())
			return a.stop()
		}
	}
}

// reload re-reads the configuration file and applies it atomically: all
// of it, or (on an error) none of it. Keys only a restart can apply are
// named in the log and in POST /reload's answer.
func (a *Appliance) reload() {
	a.notifier.Reloading("reloading configuration")
	cfg, err := LoadConfig(a.cfgPath)
	var restart []string
	if err == nil {
		restart = restartNeeded(a.started, cfg, a.activated)
		err = a.apply(cfg)
	}
	defer a.reloadFinished(err, restart) // POST /reload waits for it (reloads.go)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			a.log.Error("reload refused; the previous configuration stays in force", "problem", line)
		}
		a.notifier.Ready("reload failed, previous configuration in force: " + firstLine(err.Error()))
		return
	}
	if len(restart) > 0 {
		a.log.Warn("configuration reloaded, except what only a restart applies (systemctl restart frontdoor)",
			"sites", len(cfg.Sites), "restart_needed", strings.Join(restart, ", "))
		a.notifier.Ready(a.statusLine() + "; restart needed for " + restartKeyNames(restart))
		return
	}
	a.log.Info("configuration reloaded", "sites", len(cfg.Sites))
	a.notifier.Ready(a.statusLine())
}

func (a *Appliance) apply(cfg *Config) error {
	accessLog, closer, err := openAccessLog(cfg.Server.AccessLog)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		if closer != nil {
			closer.Close()
		}
		return err
	}
	if a.certManager() != nil {
		// A profile the CA does not offer refuses the reload, with its line.
		if err := cfg.checkCAOffers(a.log); err != nil {
			return fail(err)
		}
	}
	certs, err := a.prepareCerts(cfg)
	if err != nil {
		return fail(fmt.Errorf("%s: [tls]: %w", a.cfgPath, err))
	}
	if certs != nil && certs.next == nil {
		// The same manager: site profiles may have changed with the sites.
		if err := a.certs.SetProfiles(cfg.TLS.Profile, cfg.certProfiles()); err != nil {
			return fail(fmt.Errorf("%s: [tls]: %w", a.cfgPath, err))
		}
		if err := a.certs.SetNames(certs.names); err != nil {
			return fail(fmt.Errorf("%s: [tls]: %w", a.cfgPath, err))
		}
	}
	oldCerts, oldTLS := a.certs, a.tlsConfig
	if certs != nil && certs.next != nil {
		a.setCerts(certs.next, certs.tls) // engineConfig hands them to the engine
	}
	if err := a.engine.Reload(a.engineConfig(cfg, accessLog)); err != nil {
		if certs != nil && certs.next != nil {
			a.setCerts(oldCerts, oldTLS)
			certs.abandon()
		}
		return fail(fmt.Errorf("%s: %w", a.cfgPath, err))
	}
	if certs != nil && certs.next != nil {
		// The engine serves with the new manager's config: the old one
		// stops (orders under way are cancelled; the new one places what
		// is still due), the new one starts.
		oldCerts.Close()
		certs.next.Start()
		a.certsCA = certs.ca
		a.log.Info("[tls] changed: the certificate manager was rebuilt", "directory_url", cfg.TLS.DirectoryURL, "resolver", cfg.TLS.Resolver)
	}
	// The old access log file is closed only now that no worker writes to
	// it: reopening on SIGHUP is also how log rotation works.
	if a.accessLog != nil {
		a.accessLog.Close()
	}
	old := a.cfg
	a.cfgMu.Lock()
	a.cfg, a.accessLog = cfg, closer
	a.cfgMu.Unlock()
	a.alertArgv.Store(&cfg.TLS.AlertCommand)
	a.reloadApps(old, cfg)
	return nil
}

// limitCapabilities gives away every capability frontdoor does not need
// before it starts a child: under the packaged unit (user frontdoor,
// CAP_SETUID and CAP_SETGID as ambient capabilities) it keeps those two
// only while an app runs as a user of its own, and no child ever inherits
// them (supervisor.LimitCapabilities).
func (a *Appliance) limitCapabilities() {
	users := a.cfg.appUsers()
	if err := supervisor.LimitCapabilities(len(users) > 0); err != nil {
		a.log.Warn("could not give away capabilities", "err", err)
		return
	}
	if len(users) > 0 && os.Geteuid() != 0 {
		a.log.Info("keeping CAP_SETUID and CAP_SETGID to start apps as their own users, and for nothing else", "users", strings.Join(users, " "))
	}
}

// currentConfig returns the configuration in force (for goroutines other
// than the signal loop, which replaces it).
func (a *Appliance) currentConfig() *Config {
	a.cfgMu.RLock()
	defer a.cfgMu.RUnlock()
	return a.cfg
}

// certManager returns the certificate manager serving now (nil without a
// TLS listener).
func (a *Appliance) certManager() *acme.Manager {
	a.certsMu.Lock()
	defer a.certsMu.Unlock()
	return a.certs
}

// listenerTLS is what the engine serves its TLS listeners with, from one
// certificate manager: ALPN with h2, and without it for the listeners
// server.http2 keeps to HTTP/1.1 (proxy.Listener.NoHTTP2, set when they
// are opened: listeners.go; so the setting needs a restart). Both are
// live configs of the manager: their session-ticket keys rotate.
type listenerTLS struct {
	h2, http1 *tls.Config
}

// servedTLS returns m's configurations for the engine.
func servedTLS(m *acme.Manager) listenerTLS {
	http1 := m.TLSConfig()
	acme.WithoutHTTP2(http1) // before its first use
	return listenerTLS{h2: m.TLSConfig(), http1: http1}
}

func (a *Appliance) setCerts(m *acme.Manager, cfg listenerTLS) {
	a.certsMu.Lock()
	defer a.certsMu.Unlock()
	a.certs, a.tlsConfig = m, cfg
}

func (a *Appliance) stop() error {
	a.notifier.Stopping("stopping: finishing in-flight requests")
	grace := a.cfg.Timeouts.ShutdownGrace.Duration
	if grace == 0 {
		grace = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace+5*time.Second)
	defer cancel()
	a.stopAdmin()
	err := a.engine.Shutdown(ctx)
	a.stopApps(ctx)
	if m := a.certManager(); m != nil {
		m.Close()
	}
	a.closeCluster()
	if a.accessLog != nil {
		a.accessLog.Close()
	}
	if a.state != nil {
		a.state.Close()
	}
	return err
}

func (a *Appliance) statusLine() string {
	s := a.engine.Stats()
	return fmt.Sprintf("serving: %d workers, %d connections, %d requests", s.Workers, s.Connections, s.Requests)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// engineConfig is the engine's configuration for cfg, with the appliance's
// TLS and ACME glue.
func (a *Appliance) engineConfig(cfg *Config, accessLog io.Writer) proxy.Config {
	cfg.servesHTTPS = a.httpsPort != 0
	cfg.prepareVariantRoot()
	pc := cfg.engineConfig(a.log, accessLog)
	pc.HTTPSPort = a.httpsPort
	if a.certs != nil {
		pc.TLS, pc.TLSNoHTTP2 = a.tlsConfig.h2, a.tlsConfig.http1
		pc.ACMEChallenge = a.certs.HTTPChallenge
	}
	return pc
}
