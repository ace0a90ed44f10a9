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
	if rest, ok := strings.CutPrefix(s, "*."); ok {
		return normalizeWildcard(rest)
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

// normalizeWildcard normalises "*.domain" (or "domain" after the "*."):
// the domain as normalizeName does, and it must have a dot of its own
// (no "*.com").
func normalizeWildcard(s string) (string, error) {
	s = strings.TrimPrefix(strings.TrimSuffix(strings.TrimSpace(s), "."), "*.")
	if s == "" || strings.Contains(s, "*") {
		return "", fmt.Errorf("invalid wildcard name %q: write *.example.com", "*."+s)
	}
	a, err := idna.Lookup.ToASCII(s)
	if err != nil {
		return "", fmt.Errorf("invalid name %q: %w", "*."+s, err)
	}
	if !strings.Contains(a, ".") {
		return "", fmt.Errorf("invalid wildcard name %q: a CA only issues *.domain for a domain with a dot", "*."+s)
	}
	return "*." + strings.ToLower(a), nil
}

// reverseNameIP turns the reverse-DNS name a CA sends as the TLS server
// name when it validates an IP address by TLS-ALPN-01 (RFC 8738 section
// 6: "1.0.0.127.in-addr.arpa", or the nibbles under "ip6.arpa") back
// into the address. ok is false for any other name.
func reverseNameIP(name string) (netip.Addr, bool) {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if v4, ok := strings.CutSuffix(name, ".in-addr.arpa"); ok {
		parts := strings.Split(v4, ".")
		if len(parts) != 4 {
			return netip.Addr{}, false
		}
		slices.Reverse(parts)
		ip, err := netip.ParseAddr(strings.Join(parts, "."))
		return ip, err == nil && ip.Is4()
	}
	if v6, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		nibbles := strings.Split(v6, ".")
		if len(nibbles) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, n := range nibbles {
			if len(n) != 1 {
				return netip.Addr{}, false
			}
			v := strings.IndexByte("0123456789abcdef", n[0])
			if v < 0 {
				return netip.Addr{}, false
			}
			pos := 31 - i // the first nibble is the last of the address
			b[pos/2] |= byte(v) << (4 * (1 - pos%2))
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
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
		if strings.Contains(strings.TrimPrefix(strings.TrimSpace(raw), "*."), "*") {
			return nil, fmt.Errorf("acme: Config.Names[%d] %q: only a leading \"*.\" label makes a wildcard name", i, raw)
		}
		n, err := normalizeName(raw)
		if err != nil {
			return nil, fmt.Errorf("acme: Config.Names[%d]: %w", i, err)
		}
		switch {
		case net.ParseIP(n) != nil:
			// An IP address certificate (RFC 8738); New serves one the
			// CA cannot reach from the local CA.
		case isBuiltinLocal(strings.TrimPrefix(n, "*.")):
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
