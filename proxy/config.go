package proxy

import (
	"crypto/tls"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"time"
)

// Config is the whole configuration of the engine. The appliance builds it
// from the TOML file; zero fields take the defaults below (see
// docs/config.md, which documents each with the same default).
type Config struct {
	// Workers is the number of event-loop workers (default: CPU cores).
	Workers int
	// MaxConnsPerWorker caps connections per worker; a worker at the cap
	// stops accepting so the others take the load (default 10000).
	MaxConnsPerWorker int
	// BusyPoll is the longest a worker with nothing to do polls for events
	// before it sleeps (default 100µs; negative disables). The window
	// adapts to the traffic and is zero unless events arrive that close
	// together (proxy/loop/spin.go).
	BusyPoll  time.Duration
	Limits    Limits
	Timeouts  Timeouts
	FileCache FileCacheConfig
	// Upstreams are the application server groups routes proxy to.
	Upstreams []Upstream
	Proxy     ProxyConfig
	// Sites are the virtual hosts. A site without host names catches
	// requests for any other host; without such a site, an unknown host
	// gets 421 Misdirected Request.
	Sites []Site
	// TLS is the configuration for connections accepted on TLS listeners
	// (Listener.TLS). The engine serves with this very pointer, so a
	// manager may rotate its session-ticket keys in place. A connection
	// that negotiates "h2" in ALPN speaks HTTP/2, so listing "h2" in
	// NextProtos turns HTTP/2 on (acme's configurations do; see
	// acme.WithoutHTTP2). Nil: TLS listeners close every connection.
	TLS *tls.Config
	// TLSNoHTTP2 is the configuration for TLS listeners with NoHTTP2: as
	// TLS, without "h2" in NextProtos — a second config of the same
	// certificate manager (acme.WithoutHTTP2), so that its session
	// tickets rotate too. Nil: such listeners use TLS when it does not
	// offer "h2"; when it does, New and Reload refuse the configuration.
	TLSNoHTTP2 *tls.Config
	// ACMEChallenge answers GET /.well-known/acme-challenge/TOKEN on plain
	// listeners (HTTP-01): the body and true, or false for 404. Nil: 404.
	ACMEChallenge func(host, path string) ([]byte, bool)
	// HTTPSPort is the port in redirects to HTTPS (default 443, omitted
	// from the URL).
	HTTPSPort int
	// RedactQuery lists query parameters whose values the access log
	// replaces with "REDACTED" (default DefaultRedactQuery; an empty,
	// non-nil list redacts nothing).
	RedactQuery []string
	// AccessLog receives JSON lines, written in batches by each worker; nil
	// disables the access log.
	AccessLog io.Writer
	// Logger receives the engine's own messages (default: slog.Default()).
	Logger *slog.Logger
}

// Limits bound what a client may send.
type Limits struct {
	MaxHeaderBytes int   // request line + header fields (default 16 KiB; 431 above)
	MaxTargetBytes int   // request target (default 8 KiB; 414 above)
	MaxHeaders     int   // header fields (default 100; 431 above)
	MaxBodyBytes   int64 // request body (default 100 MiB; 413 above)
	// MaxStreams bounds the HTTP/2 streams a client may have open at once
	// on one connection (default 100; more are refused with
	// REFUSED_STREAM, which clients retry). An HTTP/2 request head obeys
	// MaxHeaderBytes and MaxHeaders like an HTTP/1.1 one.
	MaxStreams int
	Clients    ClientLimits
}

// Timeouts bound how long a client may take.
type Timeouts struct {
	RequestHead   time.Duration // absolute deadline for a whole request head (default 10 s; 408)
	BodyIdle      time.Duration // idle time between body reads (default 30 s)
	BodyMinRate   int64         // minimum body upload rate in bytes/s after the first BodyIdle (default 1024; 0 disables)
	SendIdle      time.Duration // idle time between response writes (default 30 s)
	KeepAlive     time.Duration // idle keep-alive connection (default 75 s)
	Linger        time.Duration // draining input after an error before closing (default 5 s)
	ShutdownGrace time.Duration // in-flight responses on SIGTERM (default 30 s)
	TLSHandshake  time.Duration // a whole TLS handshake (default 10 s)
}

// FileCacheConfig tunes each worker's open-file cache.
type FileCacheConfig struct {
	Entries   int           // cached files per worker (default 1024)
	Valid     time.Duration // how long an entry is trusted before a stat (default 2 s)
	InlineMax int64         // files up to this size are kept in memory (default 16 KiB; -1 disables)
}

// Site is a virtual host.
type Site struct {
	// Hosts are exact names ("example.com") or wildcards ("*.example.com").
	// Empty: the site catches every host no other site names.
	Hosts  []string
	Routes []Route
	// HTTPSRedirect sends plain-HTTP requests to HTTPS (301 for GET and
	// HEAD, 308 otherwise), except ACME HTTP-01 challenges.
	HTTPSRedirect bool
	// HSTS is the Strict-Transport-Security value sent over TLS ("" none),
	// e.g. "max-age=31536000; includeSubDomains".
	HSTS string
	// RedirectWWW is "to_apex" (www.example.com → example.com), "to_www"
	// (the reverse) or "" (none): a permanent redirect to the other name.
	RedirectWWW string
}

// Route maps a URL path prefix to a handler. The longest matching prefix
// wins. Exactly one of Static and Upstream is set.
type Route struct {
	Prefix string
	Static *Static
	// Upstream names the group (Config.Upstreams) requests are proxied to.
	Upstream string
	// NoCompress turns on-the-fly compression off for this route's
	// proxied responses (Config.Compress).
	NoCompress bool
}

// Static serves files from a directory.
type Static struct {
	// Root is the directory; nothing outside it is ever served (no "..",
	// no symlink leading out, no NUL, no encoded slash).
	Root string
	// Index is served for a directory (default "index.html"; "-" for none).
	Index string
	// CacheControl is sent with every file (default none), except that
	// hashed names get "public, max-age=31536000, immutable" unless
	// NoImmutable is set. With Django's manifest (staticfiles.json at the
	// root, from ManifestStaticFilesStorage) the hashed names are exactly
	// the ones it lists, and every other file gets "public, max-age=60"
	// (revalidated with its ETag) unless CacheControl says otherwise;
	// without one, names that look hashed (app.0123456789ab.css) are.
	CacheControl string
	NoImmutable  bool
	// NoPrecompressed disables choosing name.br / name.zst / name.gz
	// siblings.
	NoPrecompressed bool
	// VariantRoot holds precompressed siblings kept outside Root (same
	// relative names plus .br, .zst or .gz), for a root frontdoor may not
	// write (a package's files). They are used for a file without
	// siblings of its own, and only while their modification time equals
	// the file's, so a changed file is never answered with an old
	// variant. Default none.
	VariantRoot string
	// Internal routes answer only X-Accel-Redirect / X-Sendfile from the
	// application; a direct request gets 404.
	Internal bool
	// Dotfiles serves names with a path segment starting with "."
	// (".env", ".git/config"). Off, they get 404 like missing files,
	// except "/.well-known/" at the root of the URL space.
	Dotfiles bool
}

// DefaultBusyPoll is Config.BusyPoll's default: longer than a loopback
// round trip through the application and back (20–60 µs measured),
// short enough that a worker never polls at a few thousand events a
// second.
const DefaultBusyPoll = 100 * time.Microsecond

// DefaultMaxStreams is Limits.MaxStreams's default, and maxStreams the
// most Validate accepts: each open stream may hold a request and a
// response buffer (Proxy.BufferMemory), so the streams of one connection
// bound its memory.
const (
	DefaultMaxStreams = 100
	maxStreams        = 1000
)

// DefaultMaxHeaderBytes is Limits.MaxHeaderBytes's default; minHeaderBytes
// is the least Validate accepts (a request line and a few fields).
const (
	DefaultMaxHeaderBytes = 16 << 10
	minHeaderBytes        = 1024
)

// WithDefaults returns c with every zero field set to its default: the
// defaults of the engine, which the appliance and docs/config.md follow
// (the appliance leaves a key that is not in the file at zero). Nothing c
// shares (slices, pointers) is written.
func (c Config) WithDefaults() Config {
	if c.Workers <= 0 {
		c.Workers = runtime.NumCPU()
	}
	if c.MaxConnsPerWorker <= 0 {
		c.MaxConnsPerWorker = 10000
	}
	if c.BusyPoll == 0 {
		c.BusyPoll = DefaultBusyPoll
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Timeouts.RequestHead, 10*time.Second)
	def(&c.Timeouts.BodyIdle, 30*time.Second)
	def(&c.Timeouts.SendIdle, 30*time.Second)
	def(&c.Timeouts.KeepAlive, 75*time.Second)
	def(&c.Timeouts.Linger, 5*time.Second)
	def(&c.Timeouts.ShutdownGrace, 30*time.Second)
	def(&c.Timeouts.TLSHandshake, 10*time.Second)
	def(&c.FileCache.Valid, 2*time.Second)
	if c.Timeouts.BodyMinRate == 0 {
		c.Timeouts.BodyMinRate = 1024
	}
	if c.Limits.MaxHeaderBytes <= 0 {
		c.Limits.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.Limits.MaxTargetBytes <= 0 {
		c.Limits.MaxTargetBytes = 8 << 10
	}
	if c.Limits.MaxHeaders <= 0 {
		c.Limits.MaxHeaders = 100
	}
	if c.Limits.MaxBodyBytes <= 0 {
		c.Limits.MaxBodyBytes = 100 << 20
	}
	if c.Limits.MaxStreams <= 0 {
		c.Limits.MaxStreams = DefaultMaxStreams
	}
	if c.FileCache.Entries <= 0 {
		c.FileCache.Entries = 1024
	}
	if c.FileCache.InlineMax == 0 {
		c.FileCache.InlineMax = 16 << 10
	}
	p := &c.Proxy
	def(&p.ConnectTimeout, 5*time.Second)
	def(&p.ResponseTimeout, 60*time.Second)
	def(&p.PoolIdle, 4*time.Second)
	def(&p.TunnelIdle, 10*time.Minute)
	if p.PoolSize <= 0 {
		p.PoolSize = 64
	}
	if p.BufferMemory <= 0 {
		p.BufferMemory = 64 << 10
	}
	if p.MaxTempFile <= 0 {
		p.MaxTempFile = 1 << 30
	}
	if p.Compress.MinSize == 0 {
		p.Compress.MinSize = 1024
	}
	if p.Compress.GzipLevel == 0 {
		p.Compress.GzipLevel = 5
	}
	if len(c.Upstreams) > 0 {
		ups := make([]Upstream, len(c.Upstreams))
		for i, u := range c.Upstreams {
			ups[i] = u.withDefaults()
		}
		c.Upstreams = ups
	}
	if c.RedactQuery == nil {
		c.RedactQuery = DefaultRedactQuery
	} else {
		lower := make([]string, len(c.RedactQuery))
		for i, n := range c.RedactQuery {
			lower[i] = strings.ToLower(n)
		}
		c.RedactQuery = lower
	}
	if c.Limits.Clients.RequestsPerSecond > 0 && c.Limits.Clients.Burst <= 0 {
		c.Limits.Clients.Burst = max(1, int(2*c.Limits.Clients.RequestsPerSecond))
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// withDefaults returns u with its zero fields set to their defaults.
func (u Upstream) withDefaults() Upstream {
	if u.MaxFails <= 0 {
		u.MaxFails = 1
	}
	if u.FailTimeout <= 0 {
		u.FailTimeout = 10 * time.Second
	}
	if u.HealthCheck != nil {
		h := *u.HealthCheck
		if h.Path == "" {
			h.Path = "/"
		}
		if h.Host == "" {
			h.Host = "localhost"
		}
		if h.Interval <= 0 {
			h.Interval = 5 * time.Second
		}
		if h.Timeout <= 0 {
			h.Timeout = 2 * time.Second
		}
		u.HealthCheck = &h
	}
	return u
}

// DefaultRedactQuery are query parameters that commonly carry secrets.
var DefaultRedactQuery = []string{"token", "access_token", "refresh_token", "id_token", "key", "api_key", "apikey",
	"password", "passwd", "secret", "client_secret", "signature", "sig", "code", "auth", "session", "sessionid"}

// Upstream is a group of application servers that routes proxy to.
type Upstream struct {
	// Name is how routes refer to the group.
	Name string
	// Servers are "unix:/path/to.sock" or "host:port" addresses with
	// optional weights. A dynamic group (the supervised application) may
	// start empty: its servers are set with Engine.SetUpstreamServers, and
	// while it has none, requests get 503 with Retry-After.
	Servers []UpstreamServer
	// Balance is "round_robin" (default, weighted) or "least_conn".
	Balance string
	// MaxFails transport failures within FailTimeout take a server out
	// for FailTimeout (defaults 1 and 10 s, as nginx).
	MaxFails    int
	FailTimeout time.Duration
	// HealthCheck, when set, polls every server with an HTTP GET.
	HealthCheck *HealthCheck
}

// UpstreamServer is one server of a group.
type UpstreamServer struct {
	Addr   string
	Weight int // default 1
}

// HealthCheck configures active health checks: a server answering with a
// status below 500 within Timeout is healthy.
type HealthCheck struct {
	Path     string        // default "/"
	Host     string        // Host header (default "localhost")
	Interval time.Duration // default 5 s
	Timeout  time.Duration // default 2 s
}

// ProxyConfig holds the engine-wide settings of the reverse proxy.
type ProxyConfig struct {
	ConnectTimeout  time.Duration // default 5 s (504 after)
	ResponseTimeout time.Duration // waiting for a response head, and between body reads (default 60 s; 504)
	PoolIdle        time.Duration // idle pooled connection lifetime (default 4 s: below gunicorn's keep-alive)
	PoolSize        int           // idle connections kept per server per worker (default 64)
	// BufferMemory is how much of a request or response body is held in
	// memory before the rest goes to a temporary file (default 64 KiB).
	BufferMemory int64
	// MaxTempFile bounds the temporary file of one response; beyond it the
	// application is read only as fast as the client drains (default 1 GiB).
	MaxTempFile int64
	TempDir     string        // default os.TempDir()
	TunnelIdle  time.Duration // idle WebSocket tunnel (default 10 min)
	// Compress compresses proxied responses on the fly (off by default).
	Compress Compression
	// TrustedProxies are CIDR prefixes (or "cloudflare", "private") whose
	// X-Forwarded-* headers are believed; from anyone else they are
	// replaced.
	TrustedProxies []string
}

// Compression configures on-the-fly compression of proxied responses
// (static files use precompressed siblings instead: compressed once, at
// release). The coding follows Accept-Encoding: zstd, then brotli, then
// gzip — zstd and brotli at fast levels compress text about as well as
// gzip's best, at a fraction of its time.
type Compression struct {
	// Off turns it off (default on).
	Off bool
	// MinSize: responses announced smaller than this are sent as they are
	// (default 1024 bytes).
	MinSize int64
	// GzipLevel is 1 (fastest) to 9 (smallest) (default 5).
	GzipLevel int
}
