package appliance

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
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
	// One [app] table is the app named "app", named "app.dir" in
	// messages; [[app]] tables are "app[1].dir".
	_, c.singleApp = doc["app"].(map[string]any)
	typeErrs := c.typeErrors(doc)
	c.singleAppKeys(typeErrs)
	errs := append(ConfigErrors(nil), typeErrs...)
	// What is left has the right types: decode it into Config.
	clean, err := toml.Marshal(doc)
	if err == nil {
		dec := toml.NewDecoder(bytes.NewReader(clean))
		dec.DisallowUnknownFields()
		dec.EnableUnmarshalerInterface() // server.http2 (HTTP2Listeners)
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
		c.singleAppKeys(errs)
		errs.sortByLine()
		return nil, errs
	}
	return c, nil
}

// singleAppKeys names the keys of a single [app] table as the file
// writes them: "app.dir", not the decoder's "app[0].dir".
func (c *Config) singleAppKeys(errs ConfigErrors) {
	if !c.singleApp {
		return
	}
	for _, e := range errs {
		if rest, ok := strings.CutPrefix(e.Key, "app[0]"); ok {
			e.Key = "app" + rest
		}
	}
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
	c.applyAppDefaults()
}

// validate checks what decoding cannot: values, addresses, directories.
// The engine's rules (limits, upstreams, sites, routes) are the engine's
// own (proxy.Config.Validate, engineErrors); what is checked here belongs
// to the file and the appliance: listeners, TLS, paths of the appliance,
// [app], keys that do not apply.
func (c *Config) validate() ConfigErrors {
	var errs ConfigErrors
	add := func(key, msg, fix string) { errs = append(errs, c.problem(key, msg, fix)) }
	errs = append(errs, c.validateListeners()...)
	errs = append(errs, c.validateHTTP2()...)
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
	for _, p := range []struct{ key, path string }{{"server.state", c.Server.State}, {"server.runtime_dir", c.Server.RuntimeDir}} {
		if !filepath.IsAbs(p.path) {
			add(p.key, fmt.Sprintf("%q is not an absolute path", p.path), "write an absolute path such as /var/lib/frontdoor/state.db")
		}
	}
	if c.Server.AccessLog != "-" && c.Server.AccessLog != "off" && !filepath.IsAbs(c.Server.AccessLog) {
		add("server.access_log", fmt.Sprintf("%q is not an absolute path", c.Server.AccessLog), `write an absolute path, "-" for standard output or "off"`)
	}
	errs = append(errs, c.validateApps()...)
	errs = append(errs, c.validateCluster()...)
	for i, u := range c.Upstreams {
		// The engine takes a group without servers (the [app]'s is filled
		// at run time); in the file it is a mistake.
		if len(u.Servers) == 0 && len(u.Server) == 0 {
			add(fmt.Sprintf("upstream[%d]", i), fmt.Sprintf("upstream %q has no servers", u.Name), `list its application servers: servers = ["unix:/run/frontdoor/app.sock"] or servers = ["127.0.0.1:8000"]`)
		}
	}
	for i, s := range c.Sites {
		for j, r := range s.Routes {
			if r.Upstream != "" && r.Dotfiles {
				add(fmt.Sprintf("site[%d].route[%d].dotfiles", i, j), "dotfiles applies to a static route, and this route proxies", "remove it, or put it on the route that serves the files")
			}
		}
	}
	return append(errs, c.engineErrors()...)
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

// isIPLiteral reports whether h is an IP address (an IPv6 one with or
// without brackets).
func isIPLiteral(h string) bool {
	_, err := netip.ParseAddr(strings.Trim(h, "[]"))
	return err == nil
}
