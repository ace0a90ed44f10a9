package appliance

import (
	"crypto/tls"
	"net"
	"testing"

	"frontdoor/internal/pebbletest"
)

// A site whose host is an IP address is served at https://ADDRESS/ with an
// IP certificate from the CA (pebble on loopback stands for Let's Encrypt;
// the address is loopback only), through the real binary.
func TestIPSiteGetsAnIPCertificate(t *testing.T) {
	dir := t.TempDir()
	httpAddr, httpsAddr := freePort(t), freePort(t)
	p := pebbletest.Start(t, portOf(t, httpAddr), portOf(t, httpsAddr))
	cfg := acmeConfig(t, dir, httpAddr, httpsAddr, p, "127.0.0.1")
	proc := startFrontdoor(t, "run", "--config", cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("frontdoor's log:\n%s", proc.stderr.String())
		}
	})
	roots := p.Roots(t)
	var served *tls.ConnectionState
	waitFor(t, func() bool {
		c, err := tls.Dial("tcp", httpsAddr, &tls.Config{ServerName: "127.0.0.1", RootCAs: roots})
		if err != nil {
			return false
		}
		defer c.Close()
		st := c.ConnectionState()
		served = &st
		return true
	})
	leaf := served.PeerCertificates[0]
	if len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) || len(leaf.DNSNames) != 0 {
		t.Errorf("served SANs IP %v DNS %v, want the IP alone", leaf.IPAddresses, leaf.DNSNames)
	}
	// No profile configured: an address is ordered as shortlived.
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life.Hours() > 7*24 {
		t.Errorf("lifetime %v, want the short-lived profile's", life)
	}
	resp, body, err := httpsGet(httpsAddr, "127.0.0.1", roots)
	if err != nil || resp.StatusCode != 200 || body != "secure hello" {
		t.Fatalf("GET https://127.0.0.1/: %v %v %q", err, resp, body)
	}
}
