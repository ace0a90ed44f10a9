package proxy

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"frontdoor/proxy/upstream"
)

// The rules of a Config, in one place: New and Reload refuse a Config
// that breaks one, and the appliance reports each problem at its line of
// the configuration file (it maps Field to its key).

// A ConfigError is one problem in a Config: the field it is about, as Go
// spells it from Config ("Limits.MaxHeaderBytes",
// "Upstreams[1].Servers[0].Addr", "Sites[0].Routes[2].Static.Root"), what
// is wrong, and what to do about it.
type ConfigError struct {
	Field string
	Msg   string
	Fix   string
	// Value is the value at fault when the message names one (an
	// upstream name a route refers to), for a caller that words the
	// message its own way.
	Value string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%s: %s (fix: %s)", e.Field, e.Msg, e.Fix)
}

// ConfigErrors is every problem Validate found.
type ConfigErrors []*ConfigError

func (es ConfigErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// CheckUpstreamAddr reports what is wrong with an upstream server address
// ("unix:/absolute/path.sock" or "host:port"), without resolving it.
func CheckUpstreamAddr(addr string) error { return upstream.CheckAddr(addr) }

// Validate checks c (defaults need not be applied) and returns every
// problem, or nil. It reads the file system: static roots must be
// directories.
func (c *Config) Validate() ConfigErrors {
	var errs ConfigErrors
	add := func(field, msg, fix string) { errs = append(errs, &ConfigError{Field: field, Msg: msg, Fix: fix}) }
	if c.Workers < 0 {
		add("Workers", "must not be negative", "use 0 for one worker per CPU core")
	}
	if l := c.Limits.MaxHeaderBytes; l < 0 || (l > 0 && l < minHeaderBytes) {
		add("Limits.MaxHeaderBytes", fmt.Sprintf("must be at least %d", minHeaderBytes), fmt.Sprintf("use %d (the default) unless you know better", DefaultMaxHeaderBytes))
	}
	if c.Limits.MaxBodyBytes < 0 {
		add("Limits.MaxBodyBytes", "must not be negative", "use 0 for the default of 100 MiB")
	}
	if n := c.Limits.MaxStreams; n < 0 || n > maxStreams {
		add("Limits.MaxStreams", fmt.Sprintf("%d is outside 1..%d", n, maxStreams), fmt.Sprintf("use %d (the default) unless you know better", DefaultMaxStreams))
	}
	if l := c.Proxy.Compress.GzipLevel; l < 0 || l > 9 {
		add("Proxy.Compress.GzipLevel", fmt.Sprintf("%d is not a gzip level", l), "use 1 (fastest) to 9 (smallest), or 0 for the default")
	}
	for i, p := range c.Proxy.TrustedProxies {
		if _, err := parseTrusted([]string{p}); err != nil {
			add(fmt.Sprintf("Proxy.TrustedProxies[%d]", i), fmt.Sprintf("%q is not a prefix, an address or a preset", p),
				`write a CIDR prefix such as "10.0.0.0/8", an address, "cloudflare" or "private"`)
		}
	}
	if d := c.Proxy.TempDir; d != "" && !filepath.IsAbs(d) {
		add("Proxy.TempDir", fmt.Sprintf("%q is not an absolute path", d), "write an absolute directory path")
	}
	groups := map[string]bool{}
	for i, u := range c.Upstreams {
		uf := fmt.Sprintf("Upstreams[%d]", i)
		switch {
		case u.Name == "":
			add(uf+".Name", "upstream has no name", `give it a name, e.g. "app"`)
		case groups[u.Name]:
			add(uf+".Name", fmt.Sprintf("upstream %q is defined twice", u.Name), "give each upstream its own name")
		}
		groups[u.Name] = true
		if _, err := upstream.ParseBalance(u.Balance); err != nil {
			add(uf+".Balance", fmt.Sprintf("%q is not a balancing method", u.Balance), `use "round_robin" or "least_conn"`)
		}
		for j, s := range u.Servers {
			if err := upstream.CheckAddr(s.Addr); err != nil {
				add(fmt.Sprintf("%s.Servers[%d].Addr", uf, j), err.Error(), `write "unix:/path/to.sock" or "host:port"`)
			}
			if s.Weight < 0 {
				add(fmt.Sprintf("%s.Servers[%d].Weight", uf, j), "must not be negative", "use a positive weight (default 1)")
			}
		}
	}
	catchAll := -1
	seenHosts := map[string]int{}
	for i, s := range c.Sites {
		sf := fmt.Sprintf("Sites[%d]", i)
		if isCatchAll(s.Hosts) {
			if catchAll >= 0 {
				add(sf+".Hosts", fmt.Sprintf("site[%d] already catches every host (no hosts, or \"*\")", catchAll), "give this site its host names, or merge the two sites")
			}
			catchAll = i
		}
		for j, h := range s.Hosts {
			hf := fmt.Sprintf("%s.Hosts[%d]", sf, j)
			if h == "*" {
				continue
			}
			name := normalizeHost(h)
			if prev, dup := seenHosts[name]; dup {
				add(hf, fmt.Sprintf("host %q is already served by site[%d]", h, prev), "name each host in one site only")
			}
			seenHosts[name] = i
			if strings.ContainsAny(h, " /:") && !isBracketedIPv6(h) {
				add(hf, fmt.Sprintf("%q is not a host name", h), `write a bare name such as "example.com", "*.example.com", an IPv4 address or an IPv6 address in brackets ("[2001:db8::1]")`)
			}
		}
		switch s.RedirectWWW {
		case "", "to_apex", "to_www":
		default:
			add(sf+".RedirectWWW", fmt.Sprintf("%q is not a redirect", s.RedirectWWW), `use "to_apex", "to_www" or nothing`)
		}
		if len(s.Routes) == 0 {
			add(sf+".Routes", "site has no routes", `add one, e.g. a route for "/" with a static directory`)
		}
		seenPrefixes := map[string]int{}
		for j, r := range s.Routes {
			rf := fmt.Sprintf("%s.Routes[%d]", sf, j)
			errs = append(errs, r.validate(rf, groups)...)
			if prev, dup := seenPrefixes[r.Prefix]; dup {
				add(rf+".Prefix", fmt.Sprintf("path %q is already routed by site[%d].route[%d]", r.Prefix, i, prev), "keep one route per path: the second would never be used")
			} else {
				seenPrefixes[r.Prefix] = j
			}
		}
	}
	return errs
}

// validate checks one route; groups are the upstream names defined.
func (r *Route) validate(rf string, groups map[string]bool) ConfigErrors {
	var errs ConfigErrors
	add := func(field, msg, fix string) { errs = append(errs, &ConfigError{Field: field, Msg: msg, Fix: fix}) }
	if !strings.HasPrefix(r.Prefix, "/") {
		add(rf+".Prefix", fmt.Sprintf("%q must start with /", r.Prefix), `write a URL path prefix such as "/static/"`)
	}
	switch {
	case r.Upstream != "" && r.Static != nil:
		add(rf, "route has both a static directory and an upstream", "keep one: a route either serves files or proxies")
	case r.Upstream != "":
		if !groups[r.Upstream] {
			errs = append(errs, &ConfigError{Field: rf + ".Upstream", Value: r.Upstream,
				Msg: fmt.Sprintf("no upstream is named %q", r.Upstream), Fix: fmt.Sprintf("define an upstream named %q, or fix the name", r.Upstream)})
		}
	case r.Static == nil:
		add(rf, "route has nothing to serve", "give it a static directory or an upstream")
	default:
		root := r.Static.Root
		if !filepath.IsAbs(root) {
			add(rf+".Static.Root", fmt.Sprintf("%q is not an absolute path", root), "write the directory's absolute path")
		} else if st, err := os.Stat(root); err != nil {
			add(rf+".Static.Root", fmt.Sprintf("directory %s: %v", root, errors.Unwrap(err)), "create the directory or correct the path (for Django, run collectstatic)")
		} else if !st.IsDir() {
			add(rf+".Static.Root", fmt.Sprintf("%s is not a directory", root), "point it at a directory")
		}
	}
	return errs
}

// isCatchAll reports a site that answers every host no other site names:
// no host names, or "*".
func isCatchAll(hosts []string) bool {
	if len(hosts) == 0 {
		return true
	}
	for _, h := range hosts {
		if h == "*" {
			return true
		}
	}
	return false
}

// normalizeHost is a configured host name as requests are matched
// against it: lower case, without a final dot.
func normalizeHost(h string) string {
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// isBracketedIPv6 reports whether h is an IPv6 address in brackets, the
// form a Host header carries it in.
func isBracketedIPv6(h string) bool {
	inner, ok := strings.CutPrefix(h, "[")
	if !ok {
		return false
	}
	inner, ok = strings.CutSuffix(inner, "]")
	ip, err := netip.ParseAddr(inner)
	return ok && err == nil && ip.Is6()
}
