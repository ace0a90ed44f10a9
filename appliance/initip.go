package appliance

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
)

// A fresh VPS often has no domain name yet: `frontdoor init` then offers
// the machine's public address, which gets a publicly trusted IP-address
// certificate (Let's Encrypt issues them under its short-lived profile,
// which frontdoor asks for by itself for an address).

// writeIPCertHint tells how to serve the site at https://ADDRESS/ when
// the machine has a public address (addrs, from its interfaces).
func writeIPCertHint(out io.Writer, addrs []netip.Addr) {
	var public []string
	for _, a := range addrs {
		if a.Is4() && a.IsGlobalUnicast() && !a.IsPrivate() {
			public = append(public, a.String())
		}
	}
	if len(public) == 0 {
		return
	}
	fmt.Fprintf(out, "  no domain yet? This machine's public address gets a certificate of its own (6-day, renewed by itself):\n")
	fmt.Fprintf(out, "    frontdoor init DIR --domain %s --force    (the site is then https://%s/)\n", public[0], public[0])
	if len(public) > 1 {
		fmt.Fprintf(out, "    other public addresses: %s\n", strings.Join(public[1:], ", "))
	}
}

// interfaceAddrs lists the addresses of this machine's interfaces.
func interfaceAddrs() []netip.Addr {
	ifAddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range ifAddrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out
}
