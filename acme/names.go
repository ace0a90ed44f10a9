package acme

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/net/idna"
)

// normalizeName lower-cases a DNS name, drops a trailing dot and converts
// Unicode labels to Punycode, the form certificates and SNI use.
func normalizeName(s string) (string, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	if s == "" {
		return "", fmt.Errorf("empty name")
	}
	if ip, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return ip.Unmap().String(), nil
	}
	a, err := idna.Lookup.ToASCII(s)
	if err != nil {
		return "", fmt.Errorf("invalid name %q: %w", s, err)
	}
	return strings.ToLower(a), nil
}

// isBuiltinLocal reports whether name always comes from the local CA:
// localhost, *.localhost and loopback addresses (RFC 6761 reserves
// .localhost for this machine).
func isBuiltinLocal(name string) bool {
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(name)
	return err == nil && ip.IsLoopback()
}

func normalizeACMENames(names []string) ([]string, error) {
	var out []string
	for i, raw := range names {
		if strings.Contains(raw, "*") {
			return nil, fmt.Errorf("acme: Config.Names[%d] %q: wildcard names need the DNS-01 challenge, which frontdoor does not do; list the concrete names", i, raw)
		}
		n, err := normalizeName(raw)
		if err != nil {
			return nil, fmt.Errorf("acme: Config.Names[%d]: %w", i, err)
		}
		switch {
		case net.ParseIP(n) != nil:
			return nil, fmt.Errorf("acme: Config.Names[%d] %q: IP addresses get no certificate from the ACME CA; use a DNS name (loopback addresses are served by the local CA)", i, raw)
		case isBuiltinLocal(n):
			return nil, fmt.Errorf("acme: Config.Names[%d] %q is a local name: it is served by the local CA, leave it out", i, raw)
		case !strings.Contains(n, "."):
			return nil, fmt.Errorf("acme: Config.Names[%d] %q: a public CA only issues for names with a dot; put single-label names in LocalNames", i, raw)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

func normalizeLocalNames(names []string) ([]string, error) {
	var out []string
	for i, raw := range names {
		if strings.Contains(raw, "*") {
			return nil, fmt.Errorf("acme: Config.LocalNames[%d] %q: list concrete names (*.localhost is built in)", i, raw)
		}
		n, err := normalizeName(raw)
		if err != nil {
			return nil, fmt.Errorf("acme: Config.LocalNames[%d]: %w", i, err)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// hostOnly strips a port from a Host header value and normalises the rest.
func hostOnly(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	n, err := normalizeName(host)
	if err != nil {
		return ""
	}
	return n
}
