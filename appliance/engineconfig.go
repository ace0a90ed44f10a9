package appliance

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"frontdoor/proxy"
)

// engineConfig translates the file's configuration into the engine's.
// accessLog is the opened access-log writer (nil for off). A key that is
// not in the file stays zero here, and takes the engine's default
// (proxy.Config.WithDefaults), which docs/config.md states.
func (c *Config) engineConfig(log *slog.Logger, accessLog io.Writer) proxy.Config {
	pc := proxy.Config{
		Workers:           c.Server.Workers,
		MaxConnsPerWorker: c.Server.MaxConnectionsPerWorker,
		BusyPoll:          c.Server.busyPoll(),
		Limits: proxy.Limits{
			MaxHeaderBytes: c.Limits.MaxHeaderBytes,
			MaxTargetBytes: c.Limits.MaxTargetBytes,
			MaxHeaders:     c.Limits.MaxHeaders,
			MaxBodyBytes:   c.Limits.MaxBodyBytes,
			MaxStreams:     c.Limits.MaxConcurrentStreams,
			Clients: proxy.ClientLimits{
				MaxConnsPerIP:     c.Limits.MaxConnectionsPerIP,
				RequestsPerSecond: c.Limits.RequestsPerSecondIP,
				Burst:             c.Limits.BurstPerIP,
			},
		},
		Timeouts: proxy.Timeouts{
			RequestHead:   c.Timeouts.RequestHead.Duration,
			BodyIdle:      c.Timeouts.BodyIdle.Duration,
			BodyMinRate:   c.Timeouts.BodyMinRate,
			SendIdle:      c.Timeouts.SendIdle.Duration,
			KeepAlive:     c.Timeouts.KeepAlive.Duration,
			Linger:        c.Timeouts.Linger.Duration,
			ShutdownGrace: c.Timeouts.ShutdownGrace.Duration,
		},
		FileCache: proxy.FileCacheConfig{
			Entries:   c.FileCache.Entries,
			Valid:     c.FileCache.Valid.Duration,
			InlineMax: c.FileCache.InlineMax,
		},
		Proxy: proxy.ProxyConfig{
			ConnectTimeout:  c.Proxy.ConnectTimeout.Duration,
			ResponseTimeout: c.Proxy.ResponseTimeout.Duration,
			PoolIdle:        c.Proxy.PoolIdle.Duration,
			PoolSize:        c.Proxy.PoolSize,
			BufferMemory:    c.Proxy.BufferMemory,
			MaxTempFile:     c.Proxy.MaxTempFile,
			TempDir:         c.Proxy.TempDir,
			TunnelIdle:      c.Proxy.TunnelIdle.Duration,
			TrustedProxies:  c.Proxy.TrustedProxies,
			Compress:        proxy.Compression{Off: c.Proxy.Compress != nil && !*c.Proxy.Compress, MinSize: c.Proxy.CompressMinSize},
		},
		AccessLog:   accessLog,
		RedactQuery: c.Server.AccessLogRedact,
		Logger:      log,
	}
	pc.Timeouts.TLSHandshake = c.TLS.HandshakeTimeout.Duration
	for _, u := range c.Upstreams {
		pu := proxy.Upstream{Name: u.Name, Balance: u.Balance, MaxFails: u.MaxFails, FailTimeout: u.FailTimeout.Duration}
		for _, a := range u.Servers {
			pu.Servers = append(pu.Servers, proxy.UpstreamServer{Addr: a, Weight: 1})
		}
		for _, s := range u.Server {
			pu.Servers = append(pu.Servers, proxy.UpstreamServer{Addr: s.Addr, Weight: s.Weight})
		}
		if h := u.HealthCheck; h != nil {
			pu.HealthCheck = &proxy.HealthCheck{Path: h.Path, Host: h.Host, Interval: h.Interval.Duration, Timeout: h.Timeout.Duration}
		}
		pc.Upstreams = append(pc.Upstreams, pu)
	}
	for _, s := range c.Sites {
		site := proxy.Site{Hosts: s.Hosts, HSTS: s.HSTS, RedirectWWW: s.RedirectWWW}
		site.HTTPSRedirect = c.servesHTTPS
		if s.HTTPSRedirect != nil {
			site.HTTPSRedirect = *s.HTTPSRedirect && c.servesHTTPS
		}
		for _, r := range s.Routes {
			// As written: a route with both, or neither, is the engine's to
			// refuse (proxy.Config.Validate).
			compressOff := r.Compress != nil && !*r.Compress
			route := proxy.Route{Prefix: r.Path, Upstream: c.engineUpstream(r), NoCompress: compressOff}
			if r.Static != "" {
				st := &proxy.Static{Root: r.Static, Index: r.Index, CacheControl: r.CacheControl, Internal: r.Internal, Dotfiles: r.Dotfiles}
				if r.Immutable != nil && !*r.Immutable {
					st.NoImmutable = true
				}
				if (r.Precompressed != nil && !*r.Precompressed) || compressOff {
					st.NoPrecompressed = true
				}
				st.VariantRoot = c.variantRoot(r.Static)
				route.Static = st
			}
			site.Routes = append(site.Routes, route)
		}
		pc.Sites = append(pc.Sites, site)
	}
	c.addAppEngineConfig(&pc)
	return pc
}

// openAccessLog opens the configured access log: nil for "off", standard
// output for "-", else the file in append mode (created 0640).
func openAccessLog(spec string) (io.Writer, io.Closer, error) {
	switch spec {
	case "off":
		return nil, nil, nil
	case "-", "":
		return os.Stdout, nil, nil
	}
	f, err := os.OpenFile(spec, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("open access log %s: %w", spec, err)
	}
	return f, f, nil
}

// busyPoll is the engine's BusyPoll: unset takes the engine's default,
// "0s" turns busy polling off.
func (s *ServerConfig) busyPoll() time.Duration {
	switch {
	case s.BusyPoll == nil:
		return 0
	case s.BusyPoll.Duration == 0:
		return -1
	default:
		return s.BusyPoll.Duration
	}
}
