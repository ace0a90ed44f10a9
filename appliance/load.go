package appliance

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// LoadConfig reads, decodes and validates a configuration file. Every
// problem found is reported (as ConfigErrors), each naming the file, the
// line and the key, with a fix.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration %s: %w", path, err)
	}
	return ParseConfig(path, data)
}

// ParseConfig decodes and validates configuration text; path is used in
// messages and to resolve relative paths.
func ParseConfig(path string, data []byte) (*Config, error) {
	c := &Config{path: path, lines: keyLines(data)}
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, c.decodeErrors(err, data)
	}
	c.applyDefaults()
	if errs := c.validate(); len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

// decodeErrors turns go-toml's errors into located ConfigErrors.
func (c *Config) decodeErrors(err error, data []byte) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var errs ConfigErrors
		for _, e := range strict.Errors {
			row, _ := e.Position()
			key := strings.Join(e.Key(), ".")
			errs = append(errs, &ConfigError{File: c.path, Line: row, Key: key,
				Msg: "unknown key", Fix: "remove it or check its spelling against docs/config.md"})
		}
		return errs
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		msg := de.Error()
		msg = strings.TrimPrefix(msg, "toml: ")
		return ConfigErrors{{File: c.path, Line: row, Key: strings.Join(de.Key(), "."),
			Msg: msg, Fix: "see docs/config.md for the key's type and an example"}}
	}
	if ce := c.durationTypeError(data); ce != nil {
		return ConfigErrors{ce}
	}
	return ConfigErrors{{File: c.path, Msg: err.Error()}}
}

func (c *Config) applyDefaults() {
	s := &c.Server
	if s.HTTP == nil && s.HTTPS == nil {
		s.HTTPS = []string{":443"}
	}
	if s.HTTP == nil {
		s.HTTP = []string{":80"}
	}
	if s.AccessLog == "" {
		s.AccessLog = "-"
	}
	if s.State == "" {
		s.State = "/var/lib/frontdoor/state.db"
	}
	if s.RuntimeDir == "" {
		s.RuntimeDir = "/run/frontdoor"
	}
}

// validate checks what decoding cannot: values, addresses, directories.
func (c *Config) validate() ConfigErrors {
	var errs ConfigErrors
	add := func(key, msg, fix string) { errs = append(errs, c.problem(key, msg, fix)) }
	for i, a := range c.Server.HTTP {
		if err := checkListenAddr(a); err != nil {
			add(fmt.Sprintf("server.http[%d]", i), err.Error(), `write "host:port" with an IP address host, e.g. ":80" or "127.0.0.1:8080"`)
		}
	}
	for i, a := range c.Server.HTTPS {
		if err := checkListenAddr(a); err != nil {
			add(fmt.Sprintf("server.https[%d]", i), err.Error(), `write "host:port" with an IP address host, e.g. ":443" or "127.0.0.1:8443"`)
		}
	}
	if c.TLS.DirectoryCA != "" {
		if _, err := trustedRoots(c.TLS.DirectoryCA); err != nil {
			add("tls.directory_ca", err.Error(), "point it at a readable PEM file of CA certificates")
		}
	}
	if c.TLS.Resolver != "" {
		if _, _, err := net.SplitHostPort(c.TLS.Resolver); err != nil {
			add("tls.resolver", fmt.Sprintf("%q is not host:port", c.TLS.Resolver), `write the DNS server as "127.0.0.1:53"`)
		}
	}
	for i, h := range c.TLS.Names {
		if !isIPLiteral(h) && (strings.Contains(strings.TrimPrefix(h, "*."), "*") || strings.ContainsAny(h, " /:")) {
			add(fmt.Sprintf("tls.names[%d]", i), fmt.Sprintf("%q cannot get a certificate", h), `list host names, IP addresses or wildcards written "*.example.com"`)
		}
	}
	if len(c.TLS.AlertCommand) > 0 && !filepath.IsAbs(c.TLS.AlertCommand[0]) {
		add("tls.alert_command", fmt.Sprintf("%q is not an absolute path", c.TLS.AlertCommand[0]), `write the program's absolute path first, e.g. ["/usr/local/bin/notify-admin", "--urgent"]`)
	}
	if c.Server.Workers < 0 {
		add("server.workers", "must not be negative", "use 0 for one worker per CPU core")
	}
	for _, p := range []struct{ key, path string }{{"server.state", c.Server.State}, {"server.runtime_dir", c.Server.RuntimeDir}} {
		if !filepath.IsAbs(p.path) {
			add(p.key, fmt.Sprintf("%q is not an absolute path", p.path), "write an absolute path such as /var/lib/frontdoor/state.db")
		}
	}
	if c.Server.AccessLog != "-" && c.Server.AccessLog != "off" && !filepath.IsAbs(c.Server.AccessLog) {
		add("server.access_log", fmt.Sprintf("%q is not an absolute path", c.Server.AccessLog), `write an absolute path, "-" for standard output or "off"`)
	}
	if c.Limits.MaxHeaderBytes < 0 || (c.Limits.MaxHeaderBytes > 0 && c.Limits.MaxHeaderBytes < 1024) {
		add("limits.max_header_bytes", "must be at least 1024", "use 16384 (the default) unless you know better")
	}
	if c.Limits.MaxBodyBytes < 0 {
		add("limits.max_body_bytes", "must not be negative", "use 0 for the default of 100 MiB")
	}
	errs = append(errs, c.validateUpstreams()...)
	errs = append(errs, c.validateApp()...)
	for i, p := range c.Proxy.TrustedProxies {
		if err := checkTrusted(p); err != nil {
			add(fmt.Sprintf("proxy.trusted_proxies[%d]", i), err.Error(), `write a CIDR prefix such as "10.0.0.0/8", an address, "cloudflare" or "private"`)
		}
	}
	if c.Proxy.TempDir != "" && !filepath.IsAbs(c.Proxy.TempDir) {
		add("proxy.temp_dir", fmt.Sprintf("%q is not an absolute path", c.Proxy.TempDir), "write an absolute directory path")
	}
	catchAll := -1
	seenHosts := map[string]int{}
	for i, s := range c.Sites {
		sk := fmt.Sprintf("site[%d]", i)
		if len(s.Hosts) == 0 {
			if catchAll >= 0 {
				add(sk+".hosts", fmt.Sprintf("site[%d] already catches every host", catchAll), "give this site its host names")
			}
			catchAll = i
		}
		for j, h := range s.Hosts {
			hk := fmt.Sprintf("%s.hosts[%d]", sk, j)
			lh := strings.ToLower(h)
			if prev, dup := seenHosts[lh]; dup {
				add(hk, fmt.Sprintf("host %q is already served by site[%d]", h, prev), "name each host in one site only")
			}
			seenHosts[lh] = i
			if strings.ContainsAny(h, " /:") && !isBracketedIPv6(h) {
				add(hk, fmt.Sprintf("%q is not a host name", h), `write a bare name such as "example.com", "*.example.com", an IPv4 address or an IPv6 address in brackets ("[2001:db8::1]")`)
			}
		}
		switch s.RedirectWWW {
		case "", "to_apex", "to_www":
		default:
			add(sk+".redirect_www", fmt.Sprintf("%q is not a redirect", s.RedirectWWW), `use "to_apex", "to_www" or remove the key`)
		}
		if len(s.Routes) == 0 {
			add(sk, "site has no [[site.route]]", `add one, e.g. [[site.route]] path = "/" static = "/srv/www"`)
		}
		for j, r := range s.Routes {
			errs = append(errs, c.validateRoute(fmt.Sprintf("%s.route[%d]", sk, j), r)...)
		}
	}
	return errs
}

func (c *Config) validateRoute(rk string, r RouteConfig) ConfigErrors {
	var errs ConfigErrors
	add := func(key, msg, fix string) { errs = append(errs, c.problem(key, msg, fix)) }
	if !strings.HasPrefix(r.Path, "/") {
		add(rk+".path", fmt.Sprintf("%q must start with /", r.Path), `write a URL path prefix such as "/static/"`)
	}
	if r.Upstream != "" {
		if r.Static != "" {
			add(rk, "route has both static and upstream", "keep one: a route either serves files or proxies")
		}
		if !c.hasUpstream(r.Upstream) {
			add(rk+".upstream", fmt.Sprintf("no [[upstream]] is named %q", r.Upstream), "define it with [[upstream]] name = \""+r.Upstream+"\" or fix the name")
		}
		return errs
	}
	if r.Static == "" {
		add(rk, "route has nothing to serve", `set static = "/path/to/dir" or upstream = "app"`)
		return errs
	}
	if !filepath.IsAbs(r.Static) {
		add(rk+".static", fmt.Sprintf("%q is not an absolute path", r.Static), "write the directory's absolute path")
	} else if st, err := os.Stat(r.Static); err != nil {
		add(rk+".static", fmt.Sprintf("directory %s: %v", r.Static, errors.Unwrap(err)), "create the directory or correct the path (for Django, run collectstatic)")
	} else if !st.IsDir() {
		add(rk+".static", fmt.Sprintf("%s is not a directory", r.Static), "point static at a directory")
	}
	return errs
}

func checkListenAddr(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not host:port", a)
	}
	if host != "" && host != "*" && net.ParseIP(host) == nil {
		return fmt.Errorf("%q: host %q is not an IP address", a, host)
	}
	if _, err := net.LookupPort("tcp", port); err != nil || port == "" {
		return fmt.Errorf("%q: bad port %q", a, port)
	}
	return nil
}

func (c *Config) hasUpstream(name string) bool {
	if name == appUpstream && c.App != nil {
		return true // the [app]'s group (appconfig.go)
	}
	for _, u := range c.Upstreams {
		if u.Name == name {
			return true
		}
	}
	return false
}

func (c *Config) validateUpstreams() ConfigErrors {
	var errs ConfigErrors
	add := func(key, msg, fix string) { errs = append(errs, c.problem(key, msg, fix)) }
	seen := map[string]bool{}
	for i, u := range c.Upstreams {
		uk := fmt.Sprintf("upstream[%d]", i)
		if u.Name == "" {
			add(uk+".name", "upstream has no name", `add name = "app"`)
		} else if seen[u.Name] {
			add(uk+".name", fmt.Sprintf("upstream %q is defined twice", u.Name), "give each [[upstream]] its own name")
		}
		seen[u.Name] = true
		for j, a := range u.Servers {
			if err := checkUpstreamAddr(a); err != nil {
				add(fmt.Sprintf("%s.servers[%d]", uk, j), err.Error(), `write "unix:/path/to.sock" or "host:port"`)
			}
		}
		for j, s := range u.Server {
			if err := checkUpstreamAddr(s.Addr); err != nil {
				add(fmt.Sprintf("%s.server[%d].addr", uk, j), err.Error(), `write "unix:/path/to.sock" or "host:port"`)
			}
			if s.Weight < 0 {
				add(fmt.Sprintf("%s.server[%d].weight", uk, j), "must not be negative", "use a positive weight (default 1)")
			}
		}
		switch strings.ToLower(u.Balance) {
		case "", "round_robin", "least_conn":
		default:
			add(uk+".balance", fmt.Sprintf("%q is not a balancing method", u.Balance), `use "round_robin" or "least_conn"`)
		}
	}
	return errs
}

func checkUpstreamAddr(a string) error {
	if path, ok := strings.CutPrefix(a, "unix:"); ok {
		if !filepath.IsAbs(path) {
			return fmt.Errorf("%q: the socket path must be absolute", a)
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(a); err != nil {
		return fmt.Errorf("%q is neither unix:/path nor host:port", a)
	}
	return nil
}

func checkTrusted(p string) error {
	switch strings.ToLower(p) {
	case "cloudflare", "private":
		return nil
	}
	if _, err := netip.ParsePrefix(p); err == nil {
		return nil
	}
	if _, err := netip.ParseAddr(p); err == nil {
		return nil
	}
	return fmt.Errorf("%q is not a prefix, an address or a preset", p)
}

// isIPLiteral reports whether h is an IP address (an IPv6 one with or
// without brackets).
func isIPLiteral(h string) bool {
	_, err := netip.ParseAddr(strings.Trim(h, "[]"))
	return err == nil
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
