package appliance

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// What a reload cannot apply. Everything else in the file takes effect on
// a reload: sites and routes, upstreams, limits, timeouts, the file cache,
// the proxy's settings, the access log, [tls] (tlsreload.go) and [app]
// (app.go). These keys need a restart, and a reload that changes them
// says so in its answer and its log:
//
//   - server.http, server.https: the listening sockets are opened once (and
//     under systemd they are the socket units', which the file does not
//     choose; see activated below).
//   - server.http2, server.h2c: what the listeners speak is set when they
//     are opened (h2 in the ALPN of the TLS configuration each HTTPS
//     listener is served with, h2c on the plain listeners).
//   - server.workers: each worker owns its connections, its epoll and its
//     pools; their number is fixed for the engine's life.
//   - server.state: the state database is open, with its lock.
//   - server.runtime_dir: the admin socket and the application's sockets
//     live there.
//   - proxy.temp_dir: the engine's workers read it without a lock.
//   - [cluster]: the cluster store wraps the open state file and holds
//     the connection; the certificate manager is built on it.
type restartKey struct {
	key   string
	value func(*Config) any
}

var restartKeys = []restartKey{
	{"server.http", func(c *Config) any { return c.Server.HTTP }},
	{"server.https", func(c *Config) any { return c.Server.HTTPS }},
	{"server.http2", func(c *Config) any { return c.Server.HTTP2.restartValue() }},
	{"server.h2c", func(c *Config) any { return c.Server.H2C }},
	{"server.workers", func(c *Config) any { return c.Server.Workers }},
	{"server.state", func(c *Config) any { return c.Server.State }},
	{"server.runtime_dir", func(c *Config) any { return c.Server.RuntimeDir }},
	{"proxy.temp_dir", func(c *Config) any { return c.Proxy.TempDir }},
	{"cluster", func(c *Config) any { return c.Cluster.restartValue() }},
}

// restartNeeded lists, as "key (running → in the file)", the keys whose
// value in cfg differs from the one the daemon started with (running).
// activated: the listeners came from systemd, so the file's addresses are
// not in use at all and changing them needs no restart of frontdoor.
func restartNeeded(running, cfg *Config, activated bool) []string {
	var out []string
	for _, k := range restartKeys {
		if activated && slices.Contains([]string{"server.http", "server.https"}, k.key) {
			continue
		}
		was, now := k.value(running), k.value(cfg)
		if !reflect.DeepEqual(was, now) {
			out = append(out, fmt.Sprintf("%s (%s → %s)", k.key, showValue(was), showValue(now)))
		}
	}
	return out
}

func showValue(v any) string {
	switch x := v.(type) {
	case string:
		if x == "" {
			return "default"
		}
		return fmt.Sprintf("%q", x)
	case int:
		if x == 0 {
			return "default"
		}
	case []string:
		if x == nil {
			return "default"
		}
		return fmt.Sprintf("%q", x)
	}
	return fmt.Sprint(v)
}

// restartKeyNames is the keys of restartNeeded's list, without their values.
func restartKeyNames(restart []string) string {
	names := make([]string, len(restart))
	for i, r := range restart {
		names[i], _, _ = strings.Cut(r, " ")
	}
	return strings.Join(names, ", ")
}
