package appliance

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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
// messages and to resolve relative paths. Every problem is reported at
// once, in the order of the file's lines: a syntax error alone (nothing
// after it can be trusted), else every unknown key, every value of the
// wrong type and every invalid setting.
func ParseConfig(path string, data []byte) (*Config, error) {
	c := &Config{path: path, lines: keyLines(data)}
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		return nil, c.decodeErrors(err)
	}
	typeErrs := c.typeErrors(doc)
	errs := append(ConfigErrors(nil), typeErrs...)
	// What is left has the right types: decode it into Config.
	clean, err := toml.Marshal(doc)
	if err == nil {
		dec := toml.NewDecoder(bytes.NewReader(clean))
		dec.DisallowUnknownFields()
		err = dec.Decode(c)
	}
	if err != nil {
		// A case typeErrors does not know: the decoder's own words.
		errs = append(errs, c.decodeErrors(err)...)
	}
	c.applyDefaults()
	for _, e := range c.validate() {
		if !typeErrs.cover(e.Key) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		errs.sortByLine()
		return nil, errs
	}
	return c, nil
}

// decodeErrors turns go-toml's errors into located ConfigErrors.
func (c *Config) decodeErrors(err error) ConfigErrors {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var errs ConfigErrors
		for _, e := range strict.Errors {
			key := strings.Join(e.Key(), ".")
			errs = append(errs, &ConfigError{File: c.path, Line: c.lineOf(key), Key: key,
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
	return ConfigErrors{{File: c.path, Msg: err.Error(), Fix: "see docs/config.md for the key's type and an example"}}
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
	errs = append(errs, c.validateListeners()...)
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
	errs = append(errs, c.validateCluster()...)
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
		if len(s.Hosts) == 0 || slices.Contains(s.Hosts, "*") {
			if catchAll >= 0 {
				add(sk+".hosts", fmt.Sprintf("site[%d] already catches every host (no hosts, or \"*\")", catchAll), "give this site its host names, or merge the two sites")
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
		seenPaths := map[string]int{}
		for j, r := range s.Routes {
			rk := fmt.Sprintf("%s.route[%d]", sk, j)
			errs = append(errs, c.validateRoute(rk, r)...)
			if prev, dup := seenPaths[r.Path]; dup {
				add(rk+".path", fmt.Sprintf("path %q is already routed by %s.route[%d]", r.Path, sk, prev), "keep one route per path: the second would never be used")
			} else {
				seenPaths[r.Path] = j
			}
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
		if r.Dotfiles {
			add(rk+".dotfiles", "dotfiles applies to a static route, and this route proxies", "remove it, or put it on the route that serves the files")
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

// validateListeners checks the listen addresses, and that none is given
// twice (in server.http and server.https together: one socket cannot be
// both).
func (c *Config) validateListeners() ConfigErrors {
	var errs ConfigErrors
	seen := map[string]string{}
	for _, kind := range []struct {
		key, example string
		addrs        []string
	}{{"server.http", `":80" or "127.0.0.1:8080"`, c.Server.HTTP}, {"server.https", `":443" or "127.0.0.1:8443"`, c.Server.HTTPS}} {
		for i, a := range kind.addrs {
			key := fmt.Sprintf("%s[%d]", kind.key, i)
			norm, err := checkListenAddr(a)
			if err != nil {
				errs = append(errs, c.problem(key, err.Error(), `write "host:port" with an IP address host and a port number, e.g. `+kind.example))
				continue
			}
			if prev, dup := seen[norm]; dup {
				errs = append(errs, c.problem(key, fmt.Sprintf("%q is already listened on by %s", a, prev), "list each address once, in server.http or in server.https"))
				continue
			}
			seen[norm] = key
		}
	}
	return errs
}

// checkListenAddr checks a listen address and returns it in a normal form
// ("" and "*" hosts alike, addresses as netip writes them).
func checkListenAddr(a string) (string, error) {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port", a)
	}
	if host == "*" {
		host = ""
	}
	if host != "" {
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return "", fmt.Errorf("%q: host %q is not an IP address", a, host)
		}
		host = ip.String()
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", fmt.Errorf("%q: bad port %q (a number from 0 to 65535)", a, port)
	}
	return net.JoinHostPort(host, strconv.FormatUint(n, 10)), nil
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
		if len(u.Servers) == 0 && len(u.Server) == 0 {
			add(uk, fmt.Sprintf("upstream %q has no servers", u.Name), `list its application servers: servers = ["unix:/run/frontdoor/app.sock"] or servers = ["127.0.0.1:8000"]`)
		}
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
