package proxy

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
)

// cloudflareRanges are Cloudflare's published edge addresses
// (https://www.cloudflare.com/ips/). With the "cloudflare" preset, requests
// from these addresses are believed about the client's address.
var cloudflareRanges = []string{
	"173.245.48.0/20", "103.21.244.0/22", "103.22.200.0/22", "103.31.4.0/22",
	"141.101.64.0/18", "108.162.192.0/18", "190.93.240.0/20", "188.114.96.0/20",
	"197.234.240.0/22", "198.41.128.0/17", "162.158.0.0/15", "104.16.0.0/13",
	"104.24.0.0/14", "172.64.0.0/13", "131.0.72.0/22",
	"2400:cb00::/32", "2606:4700::/32", "2803:f800::/32", "2405:b500::/32",
	"2405:8100::/32", "2a06:98c0::/29", "2c0f:f248::/32",
}

// privateRanges covers loopback and private networks (a load balancer on
// the same host or LAN).
var privateRanges = []string{
	"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "::1/128", "fc00::/7",
}

// trustedSet is a list of prefixes whose forwarding headers are believed.
type trustedSet struct {
	prefixes []netip.Prefix
	// cloudflare: CF-Connecting-IP is read from these peers.
	cloudflare bool
}

func parseTrusted(specs []string) (*trustedSet, error) {
	t := &trustedSet{}
	for _, spec := range specs {
		var list []string
		switch strings.ToLower(spec) {
		case "cloudflare":
			list = cloudflareRanges
			t.cloudflare = true
		case "private":
			list = privateRanges
		default:
			list = []string{spec}
		}
		for _, s := range list {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil {
					return nil, fmt.Errorf("trusted proxy %q: want a CIDR prefix, an address, \"cloudflare\" or \"private\"", spec)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			t.prefixes = append(t.prefixes, p.Masked())
		}
	}
	return t, nil
}

func (t *trustedSet) contains(a netip.Addr) bool {
	if t == nil {
		return false
	}
	a = a.Unmap()
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIn returns the right-most address of an X-Forwarded-For chain that
// is not a trusted proxy: the client as the last trusted hop saw it. It
// stops believing the chain at the first entry that is not an address.
func (t *trustedSet) clientIn(xff []byte) (netip.Addr, bool) {
	for len(xff) > 0 {
		i := bytes.LastIndexByte(xff, ',')
		item := bytes.TrimSpace(xff[i+1:])
		if i < 0 {
			xff = nil
		} else {
			xff = xff[:i]
		}
		a, err := netip.ParseAddr(string(item))
		if err != nil {
			return netip.Addr{}, false
		}
		if !t.contains(a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}
