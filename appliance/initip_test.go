package appliance

import (
	"net/netip"
	"strings"
	"testing"
)

// Without a domain, init offers the machine's public IPv4 address (an IP
// certificate) and never a private, loopback or link-local one.
func TestInitOffersThePublicAddress(t *testing.T) {
	var b strings.Builder
	writeIPCertHint(&b, []netip.Addr{
		netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("169.254.1.1"),
		netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("198.51.100.9"), netip.MustParseAddr("2001:db8::1"),
	})
	out := b.String()
	for _, want := range []string{"--domain 203.0.113.7", "https://203.0.113.7/", "other public addresses: 198.51.100.9"} {
		if !strings.Contains(out, want) {
			t.Errorf("hint lacks %q:\n%s", want, out)
		}
	}
	for _, never := range []string{"127.0.0.1", "10.1.2.3", "169.254"} {
		if strings.Contains(out, never) {
			t.Errorf("hint offers %s:\n%s", never, out)
		}
	}
	b.Reset()
	writeIPCertHint(&b, []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.168.1.5")})
	if b.Len() != 0 {
		t.Errorf("a machine without a public address got a hint:\n%s", b.String())
	}
}
