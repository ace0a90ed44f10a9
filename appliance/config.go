package appliance

import (
	"fmt"
	"strings"
	"time"
)

// DefaultConfigPath is where the package installs the configuration.
const DefaultConfigPath = "/etc/frontdoor/frontdoor.toml"

// Config is frontdoor.toml. Every key is documented, with its default, in
// docs/config.md; keep the two in step.
type Config struct {
	Server    ServerConfig     `toml:"server"`
	Limits    LimitsConfig     `toml:"limits"`
	Timeouts  TimeoutsConfig   `toml:"timeouts"`
	FileCache FileCacheConfig  `toml:"file_cache"`
	Proxy     ProxyConfig      `toml:"proxy"`
	TLS       TLSSettings      `toml:"tls"`
	Upstreams []UpstreamConfig `toml:"upstream"`
	Sites     []SiteConfig     `toml:"site"`
	// Apps are the supervised Django projects (appconfig.go): one [app]
	// table (an app named "app") or several [[app]] tables, each with its
	// name. None without either.
	Apps []AppConfig `toml:"app"`
	// Cluster shares certificates and ACME state with other edges
	// (clusterconfig.go); nil without [cluster].
	Cluster *ClusterConfig `toml:"cluster"`

	// path is the file the configuration came from, for messages.
	path string
	// linesNorm is lines by normKey, built when first needed.
	linesNorm map[string]int
	// servesHTTPS is set at start when a TLS listener exists.
	servesHTTPS bool
	// lines maps key paths ("site[0].route[1].static") to line numbers.
	lines map[string]int
	// singleApp: the file has one [app] table, not [[app]] tables; its
	// keys are named "app.dir" rather than "app[0].dir" (appKey).
	singleApp bool
}

// ServerConfig is the [server] table.
type ServerConfig struct {
	// HTTP lists plain-HTTP listen addresses (default [":80"]). Ignored for
	// a socket passed by systemd under the name "http".
	HTTP []string `toml:"http"`
	// HTTPS lists TLS listen addresses. Default [":443"] when neither http
	// nor https is set; when only http is set, none. Ignored for a socket
	// passed by systemd under the name "https".
	HTTPS []string `toml:"https"`
	// HTTP2 says which HTTPS listeners offer HTTP/2 (ALPN h2): true
	// (the default) every one, false none, or a list of server.https's
	// addresses (http2config.go); the others speak HTTP/1.1.
	HTTP2 HTTP2Listeners `toml:"http2"`
	// H2C accepts HTTP/2 with prior knowledge on the plain-HTTP listeners
	// (default false): for frontdoor behind a TLS-terminating balancer
	// that speaks h2c.
	H2C bool `toml:"h2c"`
	// Workers is the number of event-loop workers (default: CPU cores).
	Workers int `toml:"workers"`
	// MaxConnectionsPerWorker caps each worker (default 10000).
	MaxConnectionsPerWorker int `toml:"max_connections_per_worker"`
	// BusyPoll is the longest a worker polls for events before it sleeps
	// (default 100µs; "0s" disables). The window adapts to the traffic
	// and stays closed on a contended CPU (proxy/loop/spin.go).
	BusyPoll *Duration `toml:"busy_poll"`
	// AccessLog is a file path, "-" for standard output (the journal under
	// systemd), or "off" (default "-").
	AccessLog string `toml:"access_log"`
	// AccessLogRedact lists query parameters logged as REDACTED (default:
	// token, access_token, key, api_key, password, secret, signature,
	// code, session and kin; [] redacts nothing).
	AccessLogRedact []string `toml:"access_log_redact"`
	// State is the bbolt state file (default /var/lib/frontdoor/state.db).
	State string `toml:"state"`
	// RuntimeDir holds the admin socket and the application's sockets
	// (default /run/frontdoor).
	RuntimeDir string `toml:"runtime_dir"`
}

// LimitsConfig is the [limits] table.
type LimitsConfig struct {
	MaxHeaderBytes int   `toml:"max_header_bytes"` // default 16384
	MaxTargetBytes int   `toml:"max_target_bytes"` // default 8192
	MaxHeaders     int   `toml:"max_headers"`      // default 100
	MaxBodyBytes   int64 `toml:"max_body_bytes"`   // default 104857600 (100 MiB)
	// MaxConcurrentStreams bounds the HTTP/2 streams a client may have
	// open on one connection (default 100).
	MaxConcurrentStreams int `toml:"max_concurrent_streams"`
	// Per client address, off by default (0): connections over the cap are
	// answered 503; requests over the rate get 429 with Retry-After.
	MaxConnectionsPerIP int     `toml:"max_connections_per_ip"`
	RequestsPerSecondIP float64 `toml:"requests_per_second_per_ip"`
	BurstPerIP          int     `toml:"burst_per_ip"` // default 2× the rate
}

// TimeoutsConfig is the [timeouts] table. Durations are strings such as
// "10s", "1m30s".
type TimeoutsConfig struct {
	RequestHead   Duration `toml:"request_head"`   // default 10s
	BodyIdle      Duration `toml:"body_idle"`      // default 30s
	BodyMinRate   int64    `toml:"body_min_rate"`  // bytes per second, default 1024
	SendIdle      Duration `toml:"send_idle"`      // default 30s
	KeepAlive     Duration `toml:"keepalive"`      // default 75s
	Linger        Duration `toml:"linger"`         // default 5s
	ShutdownGrace Duration `toml:"shutdown_grace"` // default 30s
}

// FileCacheConfig is the [file_cache] table.
type FileCacheConfig struct {
	Entries   int      `toml:"entries"`    // per worker, default 1024
	Valid     Duration `toml:"valid"`      // default 2s
	InlineMax int64    `toml:"inline_max"` // bytes kept in memory per small file, default 16384
}

// ProxyConfig is the [proxy] table: settings of the reverse proxy shared by
// every upstream.
type ProxyConfig struct {
	ConnectTimeout  Duration `toml:"connect_timeout"`  // default 5s
	ResponseTimeout Duration `toml:"response_timeout"` // default 60s
	PoolIdle        Duration `toml:"pool_idle"`        // default 4s
	PoolSize        int      `toml:"pool_size"`        // per server per worker, default 64
	BufferMemory    int64    `toml:"buffer_memory"`    // bytes per body in memory, default 65536
	MaxTempFile     int64    `toml:"max_temp_file"`    // bytes per response on disk, default 1 GiB
	TempDir         string   `toml:"temp_dir"`         // default the system's temporary directory
	TunnelIdle      Duration `toml:"tunnel_idle"`      // default 10m
	TrustedProxies  []string `toml:"trusted_proxies"`  // CIDRs, "cloudflare", "private"
	// Compress compresses proxied text responses (zstd, brotli or gzip by
	// Accept-Encoding) unless already encoded, no-transform, streamed,
	// ranged or small. Default true.
	Compress        *bool `toml:"compress"`
	CompressMinSize int64 `toml:"compress_min_size"` // default 1024
}

// UpstreamConfig is one [[upstream]]: a group of application servers.
type UpstreamConfig struct {
	Name string `toml:"name"`
	// Servers is the short form: addresses with weight 1.
	Servers []string `toml:"servers"`
	// Server is the long form, with weights.
	Server      []UpstreamServerConfig `toml:"server"`
	Balance     string                 `toml:"balance"`      // round_robin (default) or least_conn
	MaxFails    int                    `toml:"max_fails"`    // default 1
	FailTimeout Duration               `toml:"fail_timeout"` // default 10s
	HealthCheck *HealthCheckConfig     `toml:"health_check"`
}

// UpstreamServerConfig is one [[upstream.server]].
type UpstreamServerConfig struct {
	Addr   string `toml:"addr"`
	Weight int    `toml:"weight"`
}

// HealthCheckConfig is [upstream.health_check].
type HealthCheckConfig struct {
	Path     string   `toml:"path"`     // default "/"
	Host     string   `toml:"host"`     // default "localhost"
	Interval Duration `toml:"interval"` // default 5s
	Timeout  Duration `toml:"timeout"`  // default 2s
}

// SiteConfig is one [[site]].
type SiteConfig struct {
	// Hosts are the names the site answers to; none (or "*") catches
	// every other host.
	Hosts  []string      `toml:"hosts"`
	Routes []RouteConfig `toml:"route"`
	// HTTPSRedirect sends plain-HTTP requests to HTTPS (default true when
	// frontdoor serves HTTPS), except ACME challenges.
	HTTPSRedirect *bool `toml:"https_redirect"`
	// HSTS is the Strict-Transport-Security value sent over HTTPS (default
	// none), e.g. "max-age=31536000; includeSubDomains".
	HSTS string `toml:"hsts"`
	// RedirectWWW is "to_apex", "to_www" or "" (default).
	RedirectWWW string `toml:"redirect_www"`
	// Profile is the certificate profile of this site's names (default
	// [tls] profile).
	Profile string `toml:"profile"`
}

// RouteConfig is one [[site.route]]: a path prefix and what serves it.
type RouteConfig struct {
	Path string `toml:"path"`
	// Static is a directory to serve files from.
	Static string `toml:"static"`
	// Index is the file served for a directory (default "index.html";
	// "" with index = "-" for none).
	Index string `toml:"index"`
	// CacheControl is sent with static files (default none).
	CacheControl string `toml:"cache_control"`
	// Immutable gives Django-hashed names a one-year immutable
	// Cache-Control (default true).
	Immutable *bool `toml:"immutable"`
	// Precompressed serves name.br / name.zst / name.gz siblings (default
	// true).
	Precompressed *bool `toml:"precompressed"`
	// Compress = false turns compression off for the route: no on-the-fly
	// compression of its proxied responses, no precompressed siblings for
	// its files (default true).
	Compress *bool `toml:"compress"`
	// Internal static routes only answer the application's
	// X-Accel-Redirect / X-Sendfile (protected downloads).
	Internal bool `toml:"internal"`
	// Dotfiles serves names with a path segment starting with "." (.env,
	// .git/…); by default they get 404, except /.well-known/ (default
	// false).
	Dotfiles bool `toml:"dotfiles"`
	// Upstream names the [[upstream]] the route proxies to; "app" is the
	// application when there is one [app] (or an app named "app").
	Upstream string `toml:"upstream"`
	// App names the [[app]] the route proxies to.
	App string `toml:"app"`
}

// Duration is a time.Duration written as a string in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses "10s", "1m", "500ms".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (write it like \"10s\", \"1m30s\" or \"500ms\")", b)
	}
	if v < 0 {
		return fmt.Errorf("%q: a duration must not be negative", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back as a string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Summary describes the configuration in one line (for `frontdoor check`).
func (c *Config) Summary() string {
	routes := 0
	for _, s := range c.Sites {
		routes += len(s.Routes)
	}
	listening := fmt.Sprintf("listening on http %v", c.Server.HTTP)
	if len(c.Server.HTTPS) > 0 {
		listening += fmt.Sprintf(", https %v", c.Server.HTTPS)
	}
	if len(c.Sites) == 0 && len(c.Apps) == 1 {
		return fmt.Sprintf("the Django site of %s ([app], no [[site]]: every host), %s", c.Apps[0].Dir, listening)
	}
	if len(c.Sites) == 0 {
		return "no site configured yet: every request gets a page saying to run `frontdoor init`; " + listening
	}
	apps := ""
	if len(c.Apps) > 0 {
		names := make([]string, len(c.Apps))
		for i := range c.Apps {
			names[i] = c.Apps[i].Name
		}
		apps = fmt.Sprintf(", %s (%s)", plural(len(c.Apps), "app"), strings.Join(names, ", "))
	}
	return fmt.Sprintf("%d sites, %d routes%s, %s", len(c.Sites), routes, apps, listening)
}
