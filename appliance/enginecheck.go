package appliance

import (
	"fmt"
	"strconv"
	"strings"
)

// engineErrors checks the configuration as the engine will run it, with
// the engine's own rules (proxy.Config.Validate: the one owner of them),
// and names each problem by its key in the file, with the engine's message
// and fix. Problems in what [app] adds (its upstream group, its site) are
// left to validateApp, which names the [app] key at fault.
func (c *Config) engineErrors() ConfigErrors {
	pc := c.engineConfig(nil, nil)
	var errs ConfigErrors
	for _, e := range pc.Validate() {
		key, ok := c.fileKey(e.Field)
		if !ok {
			continue
		}
		if c.appRouteKey(key) {
			continue // validateApps names what is wrong with a route to an app
		}
		msg, fix := e.Msg, e.Fix
		if strings.HasSuffix(key, ".upstream") && e.Value != "" {
			// A route's group that is not defined, in the file's words.
			msg = fmt.Sprintf("no [[upstream]] is named %q", e.Value)
			fix = fmt.Sprintf("define it with [[upstream]] name = %q or fix the name", e.Value)
			if e.Value == appUpstream && len(c.Apps) == 0 {
				fix = `add an [app] table for the Django project, define [[upstream]] name = "app", or fix the name`
			}
		}
		errs = append(errs, c.problem(key, msg, fix))
	}
	return errs
}

// appRouteKey reports a key of a route that proxies to an app (app =
// "NAME", or upstream = "app" when the file has apps), or the route
// itself, but not the keys of its static part: the route's destination is
// validateApps' to check, in the file's words, not the engine's (which
// sees the app's group, "app:NAME").
func (c *Config) appRouteKey(key string) bool {
	var i, j int
	var rest string
	if n, _ := fmt.Sscanf(key, "site[%d].route[%d]", &i, &j); n != 2 || i >= len(c.Sites) || j >= len(c.Sites[i].Routes) {
		return false
	}
	r := c.Sites[i].Routes[j]
	if r.App == "" && (r.Upstream != appUpstream || len(c.Apps) == 0) {
		return false
	}
	rest = strings.TrimPrefix(key, fmt.Sprintf("site[%d].route[%d]", i, j))
	return rest == "" || rest == ".upstream" || rest == ".app"
}

// engineKeys maps the engine's fields that stand alone to the file's keys.
var engineKeys = map[string]string{
	"Workers":                          "server.workers",
	"MaxConnsPerWorker":                "server.max_connections_per_worker",
	"BusyPoll":                         "server.busy_poll",
	"RedactQuery":                      "server.access_log_redact",
	"Limits.MaxHeaderBytes":            "limits.max_header_bytes",
	"Limits.MaxTargetBytes":            "limits.max_target_bytes",
	"Limits.MaxHeaders":                "limits.max_headers",
	"Limits.MaxBodyBytes":              "limits.max_body_bytes",
	"Limits.MaxStreams":                "limits.max_concurrent_streams",
	"Limits.Clients.MaxConnsPerIP":     "limits.max_connections_per_ip",
	"Limits.Clients.RequestsPerSecond": "limits.requests_per_second_per_ip",
	"Limits.Clients.Burst":             "limits.burst_per_ip",
	"Timeouts.RequestHead":             "timeouts.request_head",
	"Timeouts.BodyIdle":                "timeouts.body_idle",
	"Timeouts.BodyMinRate":             "timeouts.body_min_rate",
	"Timeouts.SendIdle":                "timeouts.send_idle",
	"Timeouts.KeepAlive":               "timeouts.keepalive",
	"Timeouts.Linger":                  "timeouts.linger",
	"Timeouts.ShutdownGrace":           "timeouts.shutdown_grace",
	"Timeouts.TLSHandshake":            "tls.handshake_timeout",
	"FileCache.Entries":                "file_cache.entries",
	"FileCache.Valid":                  "file_cache.valid",
	"FileCache.InlineMax":              "file_cache.inline_max",
	"Proxy.ConnectTimeout":             "proxy.connect_timeout",
	"Proxy.ResponseTimeout":            "proxy.response_timeout",
	"Proxy.PoolIdle":                   "proxy.pool_idle",
	"Proxy.PoolSize":                   "proxy.pool_size",
	"Proxy.BufferMemory":               "proxy.buffer_memory",
	"Proxy.MaxTempFile":                "proxy.max_temp_file",
	"Proxy.TempDir":                    "proxy.temp_dir",
	"Proxy.TunnelIdle":                 "proxy.tunnel_idle",
	"Proxy.Compress.Off":               "proxy.compress",
	"Proxy.Compress.MinSize":           "proxy.compress_min_size",
	"Proxy.Compress.GzipLevel":         "proxy.compress",
	"Upstream.Name":                    "name",
	"Upstream.Balance":                 "balance",
	"Upstream.MaxFails":                "max_fails",
	"Upstream.FailTimeout":             "fail_timeout",
	"Upstream.HealthCheck":             "health_check",
	"Upstream.HealthCheck.Path":        "health_check.path",
	"Upstream.HealthCheck.Host":        "health_check.host",
	"Upstream.HealthCheck.Interval":    "health_check.interval",
	"Upstream.HealthCheck.Timeout":     "health_check.timeout",
	"Site.Hosts":                       "hosts",
	"Site.HTTPSRedirect":               "https_redirect",
	"Site.HSTS":                        "hsts",
	"Site.RedirectWWW":                 "redirect_www",
	"Site.Routes":                      "",
	"Route.Prefix":                     "path",
	"Route.Upstream":                   "upstream",
	"Route.NoCompress":                 "compress",
	"Route.Static":                     "static",
	"Route.Static.Root":                "static",
	"Route.Static.Index":               "index",
	"Route.Static.CacheControl":        "cache_control",
	"Route.Static.NoImmutable":         "immutable",
	"Route.Static.NoPrecompressed":     "precompressed",
	"Route.Static.Internal":            "internal",
	"Route.Static.Dotfiles":            "dotfiles",
}

// fileKey maps an engine field ("Upstreams[0].Servers[2].Addr") to its
// key in the file ("upstream[0].server[1].addr"). It reports false for a
// field of what [app] adds to the engine's configuration.
func (c *Config) fileKey(field string) (string, bool) {
	head, rest, _ := strings.Cut(field, ".")
	name, i, indexed := splitIndex(head)
	switch {
	case name == "Upstreams" && indexed:
		if i >= len(c.Upstreams) {
			return "", false // [app]'s group
		}
		return c.upstreamKey(i, rest), true
	case name == "Sites" && indexed:
		if i >= len(c.Sites) {
			return "", false // [app]'s site
		}
		return siteKey(i, rest), true
	case name == "Proxy" && strings.HasPrefix(rest, "TrustedProxies["):
		_, j, _ := splitIndex(rest)
		return fmt.Sprintf("proxy.trusted_proxies[%d]", j), true
	}
	if key, ok := engineKeys[field]; ok {
		return key, true
	}
	return strings.ToLower(field), true
}

// upstreamKey names a field of upstream[i]: its servers are the short
// form's (servers[k]) followed by the long form's (server[k].addr).
func (c *Config) upstreamKey(i int, rest string) string {
	uk := fmt.Sprintf("upstream[%d]", i)
	head, sub, _ := strings.Cut(rest, ".")
	if name, k, ok := splitIndex(head); ok && name == "Servers" {
		short := len(c.Upstreams[i].Servers)
		switch {
		case k < short:
			return fmt.Sprintf("%s.servers[%d]", uk, k)
		case sub == "Weight":
			return fmt.Sprintf("%s.server[%d].weight", uk, k-short)
		default:
			return fmt.Sprintf("%s.server[%d].addr", uk, k-short)
		}
	}
	if rest == "" {
		return uk
	}
	return uk + "." + engineKeys["Upstream."+rest]
}

// siteKey names a field of site[i] and its routes.
func siteKey(i int, rest string) string {
	sk := fmt.Sprintf("site[%d]", i)
	head, sub, _ := strings.Cut(rest, ".")
	name, j, indexed := splitIndex(head)
	switch {
	case rest == "" || rest == "Routes":
		return sk
	case name == "Hosts" && indexed:
		return fmt.Sprintf("%s.hosts[%d]", sk, j)
	case name == "Routes" && indexed:
		rk := fmt.Sprintf("%s.route[%d]", sk, j)
		if sub == "" {
			return rk
		}
		return rk + "." + engineKeys["Route."+sub]
	}
	return sk + "." + engineKeys["Site."+rest]
}

// splitIndex reads "Name[3]" as Name and 3.
func splitIndex(s string) (string, int, bool) {
	open := strings.IndexByte(s, '[')
	if open < 0 || !strings.HasSuffix(s, "]") {
		return s, 0, false
	}
	i, err := strconv.Atoi(s[open+1 : len(s)-1])
	if err != nil {
		return s, 0, false
	}
	return s[:open], i, true
}
