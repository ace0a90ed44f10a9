package appliance

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"frontdoor/acme"
	"frontdoor/proxy"
	"frontdoor/state"
)

// FileServerOptions are the settings of `frontdoor file-server`.
type FileServerOptions struct {
	Listen    string
	TLS       QuickTLS
	Root      string
	Workers   int
	AccessLog string        // "-", a path, or "off" (default off: benchmarks)
	InlineMax int64         // proxy.FileCacheConfig.InlineMax
	BusyPoll  time.Duration // proxy.Config.BusyPoll
	Dotfiles  bool          // proxy.Static.Dotfiles: serve .env, .git/…
	HTTP2     QuickHTTP2
	Logger    *slog.Logger
}

// QuickHTTP2 is what a quick mode's listener speaks besides HTTP/1.1.
type QuickHTTP2 struct {
	// Off: with TLS, HTTP/2 is not offered in ALPN (on by default).
	Off bool
	// H2C: without TLS, HTTP/2 with prior knowledge is accepted.
	H2C bool
}

// FileServer serves a directory until SIGTERM or SIGINT, like Caddy's
// file-server command: no configuration file needed.
func FileServer(ctx context.Context, o FileServerOptions) error {
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return err
	}
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		return fmt.Errorf("--root %s: not a directory", o.Root)
	}
	cfg := proxy.Config{
		Workers:   o.Workers,
		BusyPoll:  o.BusyPoll,
		FileCache: proxy.FileCacheConfig{InlineMax: o.InlineMax},
		Sites:     []proxy.Site{{Routes: []proxy.Route{{Prefix: "/", Static: &proxy.Static{Root: root, Dotfiles: o.Dotfiles}}}}},
	}
	return runQuick(ctx, quickRun{listen: o.Listen, tls: o.TLS, http2: o.HTTP2, accessLog: o.AccessLog, logger: o.Logger,
		what: "file server", attrs: []any{"root", root}}, cfg)
}

// quickRun is what the two quick modes share: where to listen, TLS,
// logging, and how to describe themselves in the start-up log line.
type quickRun struct {
	listen    string
	tls       QuickTLS
	http2     QuickHTTP2
	accessLog string // "-", a path, or "" / "off"
	logger    *slog.Logger
	what      string
	attrs     []any
}

// runQuick opens the access log and the listener, runs an engine with cfg
// until a stop signal or ctx ends, and releases what it opened.
func runQuick(ctx context.Context, q quickRun, cfg proxy.Config) error {
	if q.accessLog == "" {
		q.accessLog = "off" // quick modes serve benchmarks: logging is opt-in
	}
	accessLog, closer, err := openAccessLog(q.accessLog)
	if err != nil {
		return err
	}
	if closer != nil {
		defer closer.Close()
	}
	l, tlsCfg, closeTLS, err := quickListener(q.listen, q.tls, q.http2, q.logger)
	if err != nil {
		return err
	}
	defer closeTLS()
	cfg.Logger, cfg.AccessLog, cfg.TLS = q.logger, accessLog, tlsCfg
	engine, err := proxy.New(cfg, []proxy.Listener{l})
	if err != nil {
		return err
	}
	engine.Start()
	tuneMemory(ctx, q.logger)
	q.logger.Info(q.what, append([]any{"listen", l.Addr, "workers", engine.Stats().Workers}, q.attrs...)...)
	return waitAndStop(ctx, engine)
}

// waitAndStop blocks until a stop signal or ctx ends, then shuts the engine
// down gracefully.
func waitAndStop(ctx context.Context, engine *proxy.Engine) error {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(signals)
	select {
	case <-ctx.Done():
	case <-signals:
	case <-engine.Done():
		return fmt.Errorf("the engine stopped unexpectedly")
	}
	return engine.Shutdown(context.Background())
}

// ReverseProxyOptions are the settings of `frontdoor reverse-proxy`.
type ReverseProxyOptions struct {
	Listen    string
	TLS       QuickTLS
	To        []string          // upstream addresses: unix:/path or host:port
	Static    map[string]string // URL prefix → directory
	Workers   int
	AccessLog string
	BusyPoll  time.Duration // proxy.Config.BusyPoll
	Dotfiles  bool          // proxy.Static.Dotfiles for every --static
	HTTP2     QuickHTTP2
	Logger    *slog.Logger
}

// ReverseProxy proxies to an application (and serves static prefixes)
// until SIGTERM or SIGINT, without a configuration file.
func ReverseProxy(ctx context.Context, o ReverseProxyOptions) error {
	if len(o.To) == 0 {
		return fmt.Errorf("--to: name at least one upstream (unix:/path/to.sock or host:port)")
	}
	for _, a := range o.To {
		if err := proxy.CheckUpstreamAddr(a); err != nil {
			return fmt.Errorf("--to: %w", err)
		}
	}
	up := proxy.Upstream{Name: "app"}
	for _, a := range o.To {
		up.Servers = append(up.Servers, proxy.UpstreamServer{Addr: a, Weight: 1})
	}
	site := proxy.Site{Routes: []proxy.Route{{Prefix: "/", Upstream: "app"}}}
	for prefix, dir := range o.Static {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return err
		}
		if st, err := os.Stat(abs); err != nil || !st.IsDir() {
			return fmt.Errorf("--static %s=%s: not a directory", prefix, dir)
		}
		site.Routes = append(site.Routes, proxy.Route{Prefix: prefix, Static: &proxy.Static{Root: abs, Dotfiles: o.Dotfiles}})
	}
	cfg := proxy.Config{
		Workers:   o.Workers,
		BusyPoll:  o.BusyPoll,
		Upstreams: []proxy.Upstream{up},
		Sites:     []proxy.Site{site},
	}
	return runQuick(ctx, quickRun{listen: o.Listen, tls: o.TLS, http2: o.HTTP2, accessLog: o.AccessLog, logger: o.Logger,
		what: "reverse proxy", attrs: []any{"to", o.To}}, cfg)
}

// QuickTLS is the TLS of a quick mode: a certificate and key from files,
// or ("local") the local CA, kept in a state file of its own.
type QuickTLS struct {
	CertFile, KeyFile string
	Local             bool
	StatePath         string // for Local; default ~/.local/state/frontdoor/quick.db
}

func (q QuickTLS) enabled() bool { return q.Local || q.CertFile != "" || q.KeyFile != "" }

// quickTLSConfig builds the TLS configuration of a quick mode. The closer
// releases what it holds (the local CA's state file).
func quickTLSConfig(q QuickTLS, log *slog.Logger) (*tls.Config, func(), error) {
	if !q.Local {
		if q.CertFile == "" || q.KeyFile == "" {
			return nil, nil, fmt.Errorf("--tls-cert and --tls-key go together")
		}
		cert, err := tls.LoadX509KeyPair(q.CertFile, q.KeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--tls-cert %s / --tls-key %s: %w (give a readable PEM certificate chain and its private key, or --tls local for a certificate from the local CA)", q.CertFile, q.KeyFile, err)
		}
		cfg := acme.PolicyConfig()
		cfg.Certificates = []tls.Certificate{cert}
		return cfg, func() {}, nil
	}
	path := q.StatePath
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, nil, fmt.Errorf("--tls local: no home directory for the local CA's state (set --state): %w", err)
		}
		path = filepath.Join(home, ".local", "state", "frontdoor", "quick.db")
	}
	db, err := state.Open(path, state.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("--tls local: %w", err)
	}
	m, err := acme.New(acme.Config{Store: db, Logger: log})
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("--tls local: %w", err)
	}
	log.Info("local CA: trust its root to avoid browser warnings", "state", path, "root", "frontdoor trust --state "+path)
	return m.TLSConfig(), func() { m.Close(); db.Close() }, nil
}

// quickListener opens the quick mode's listener, TLS when asked.
func quickListener(addr string, q QuickTLS, h2 QuickHTTP2, log *slog.Logger) (proxy.Listener, *tls.Config, func(), error) {
	l, err := proxy.Listen(addr, "http")
	if err != nil {
		return proxy.Listener{}, nil, nil, fmt.Errorf("--listen: %w", err)
	}
	if !q.enabled() {
		l.H2C = h2.H2C
		return l, nil, func() {}, nil
	}
	cfg, closer, err := quickTLSConfig(q, log)
	if err != nil {
		closeListeners([]proxy.Listener{l})
		return proxy.Listener{}, nil, nil, err
	}
	if h2.Off {
		acme.WithoutHTTP2(cfg) // before its first use
	}
	l.TLS, l.Name = true, "https"
	return l, cfg, closer, nil
}
