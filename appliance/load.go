package appliance

import (
	"bytes"
	"errors"
	"fmt"
	"net"
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
// The engine's rules (limits, upstreams, sites, routes) are the engine's
// own (proxy.Config.Validate, engineErrors); what is checked here belongs
// to the file and the appliance: listeners, TLS, paths of the appliance,
// [app], keys that do not apply.
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
		if strings.Contains(h, "*") || strings.ContainsAny(h, " /:") {
			add(fmt.Sprintf("tls.names[%d]", i), fmt.Sprintf("%q cannot get an ACME certificate here (wildcards need DNS-01)", h), "list concrete host names")
		}
	}
	for _, p := range []struct{ key, path string }{{"server.state", c.Server.State}, {"server.runtime_dir", c.Server.RuntimeDir}} {
		if !filepath.IsAbs(p.path) {
			add(p.key, fmt.Sprintf("%q is not an absolute path", p.path), "write an absolute path such as /var/lib/frontdoor/state.db")
		}
	}
	if c.Server.AccessLog != "-" && c.Server.AccessLog != "off" && !filepath.IsAbs(c.Server.AccessLog) {
		add("server.access_log", fmt.Sprintf("%q is not an absolute path", c.Server.AccessLog), `write an absolute path, "-" for standard output or "off"`)
	}
	errs = append(errs, c.validateApp()...)
	for i, s := range c.Sites {
		for j, r := range s.Routes {
			if r.Upstream != "" && r.Dotfiles {
				add(fmt.Sprintf("site[%d].route[%d].dotfiles", i, j), "dotfiles applies to a static route, and this route proxies", "remove it, or put it on the route that serves the files")
			}
		}
	}
	return append(errs, c.engineErrors()...)
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
