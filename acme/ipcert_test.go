package acme

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"frontdoor/internal/testkit"
)

// A loopback address as a name gets an IP certificate from a CA on this
// machine: by TLS-ALPN-01 (the CA sends the reverse-DNS name as SNI) and
// by HTTP-01, and it is served to clients that send no server name.
func TestIPCertificateFromPebble(t *testing.T) {
	for _, c := range []struct {
		host      string
		tls, http bool
	}{
		{"127.0.0.1", true, false},
		{"127.0.0.1", false, true},
		{"::1", true, true},
	} {
		t.Run(c.host+map[bool]string{true: "/tls-alpn-01", false: "/http-01"}[c.tls], func(t *testing.T) {
			if c.host == "::1" {
				ln, err := net.Listen("tcp", "[::1]:0")
				if err != nil {
					t.Skipf("no IPv6 loopback here: %v", err)
				}
				ln.Close()
			}
			f := newFrontOn(t, c.host, c.tls, c.http)
			p := startPebble(t, f.httpPort, f.tlsPort)
			store := openStore(t, tempStorePath(t))
			m, _ := testManager(t, p, f, store, []string{c.host}, func(cfg *Config) { cfg.Profile = "shortlived" })
			m.Start()
			s := waitValid(t, m, c.host)
			if s.Source != "acme" || !strings.HasPrefix(s.Issuer, "Pebble") {
				t.Fatalf("status %+v: want an ACME certificate from pebble", s)
			}
			port := f.tlsPort
			if !c.tls {
				tf := newFrontOn(t, c.host, true, false)
				tf.use(m)
				port = tf.tlsPort
			}
			leaf, err := handshakeAt(c.host, port, c.host, p.Roots(t))
			must(t, err)
			if len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.ParseIP(c.host)) || len(leaf.DNSNames) != 0 {
				t.Errorf("served SANs: IP %v DNS %v, want only the IP %s", leaf.IPAddresses, leaf.DNSNames, c.host)
			}
			if p.Orders() != 1 && c.tls {
				t.Errorf("pebble saw %d orders, want 1", p.Orders())
			}
		})
	}
}

// A loopback address with a CA that cannot reach it (a public CA) is
// served by the local CA, and no order is placed.
func TestIPTheCACannotReachIsLocal(t *testing.T) {
	m := localManager(t, tempStorePath(t), func(c *Config) {
		c.Names = []string{"127.0.0.1", "203.0.113.9"}
		c.DirectoryURL = LetsEncryptURL
	})
	st := m.Status()
	var acmeNames, local []string
	for _, s := range st {
		if s.Source == "acme" {
			acmeNames = append(acmeNames, s.Name)
		} else {
			local = append(local, s.Name)
		}
	}
	if strings.Join(acmeNames, ",") != "203.0.113.9" || !strings.Contains(strings.Join(local, ","), "127.0.0.1") {
		t.Errorf("acme names %v, local names %v: want 203.0.113.9 from the CA, 127.0.0.1 local", acmeNames, local)
	}
	if _, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "127.0.0.1"}); err != nil {
		t.Errorf("127.0.0.1 from the local CA: %v", err)
	}
	// A private address a reload adds is served by the local CA too.
	must(t, m.SetNames([]string{"203.0.113.9", "10.1.2.3"}))
	if c, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "10.1.2.3"}); err != nil || issuerName(c.Leaf) != issuerName(m.local.root) {
		t.Errorf("10.1.2.3 after a reload: %v", err)
	}
	if s := statusOf(m, "10.1.2.3"); s.Source != "local" {
		t.Errorf("10.1.2.3 listed as %q", s.Source)
	}
}

// A wildcard name waits for its dns-persist-01 record (no order while it
// is missing), `DNSPersistRecord` says what to create, and once
// challtestsrv serves it the wildcard certificate is issued and serves any
// subdomain.
func TestWildcardByDNSPersist01(t *testing.T) {
	f := newFront(t, true, false)
	p := startPebble(t, f.httpPort, f.tlsPort)
	store := openStore(t, tempStorePath(t))
	const name = "*.wild.test"
	m, _ := testManager(t, p, f, store, []string{name}, nil)
	m.Start()
	testkit.WaitFor(t, 30*time.Second, "the missing record to be reported", func() bool {
		return statusOf(m, name).State == "unreachable"
	})
	s := statusOf(m, name)
	if !strings.Contains(s.Resolve, "_validation-persist.wild.test") || p.Orders() != 0 {
		t.Fatalf("status %q with %d orders: want the missing record named and no order", s.Resolve, p.Orders())
	}
	rec, err := m.DNSPersistRecord(context.Background(), name)
	must(t, err)
	if rec.Name != "_validation-persist.wild.test" || !strings.Contains(rec.Value, "accounturi=https://127.0.0.1") || !strings.HasSuffix(rec.Value, "policy=wildcard") {
		t.Fatalf("record %+v", rec)
	}
	p.SetTXT(t, rec.Name, rec.Value)
	must(t, m.Renew(context.Background(), name))
	waitValid(t, m, name)
	for _, sub := range []string{"a.wild.test", "www.wild.test"} {
		leaf, err := handshake(f.tlsPort, sub, p.Roots(t))
		must(t, err)
		if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != name {
			t.Errorf("%s: served %v, want the wildcard", sub, leaf.DNSNames)
		}
	}
	if _, err := handshake(f.tlsPort, "a.b.wild.test", p.Roots(t)); err == nil {
		t.Error("a name two labels down got the wildcard certificate")
	}
	if p.Orders() != 1 {
		t.Errorf("pebble saw %d orders, want 1", p.Orders())
	}
}

// The DNS check is skipped for an address, but the address itself is
// checked: one that is not on an interface (NAT) must bring the
// self-probe back before an order is placed.
func TestIPAddressIsProbedBehindNAT(t *testing.T) {
	for _, c := range []struct {
		name      string
		serveHTTP bool
	}{{"probe comes back", true}, {"probe fails", false}} {
		t.Run(c.name, func(t *testing.T) {
			f := newFront(t, true, c.serveHTTP)
			p := startPebble(t, f.httpPort, f.tlsPort)
			store := openStore(t, tempStorePath(t))
			m, _ := testManager(t, p, f, store, []string{"127.0.0.1"}, func(cfg *Config) { cfg.ProbeTimeout = time.Second })
			m.localAddrs = func() ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("10.9.8.7")}, nil }
			m.Start()
			if c.serveHTTP {
				s := waitValid(t, m, "127.0.0.1")
				if !strings.Contains(s.Resolve, "reached this machine through it") || strings.Contains(s.Resolve, "resolves") {
					t.Errorf("verdict %q: want the probe through the address, no DNS", s.Resolve)
				}
				return
			}
			testkit.WaitFor(t, 30*time.Second, "the probe to fail", func() bool { return statusOf(m, "127.0.0.1").State == "unreachable" })
			if s := statusOf(m, "127.0.0.1"); !strings.Contains(s.Resolve, "did not come back here") || p.Orders() != 0 {
				t.Errorf("verdict %q, %d orders: want the failed probe and no order", s.Resolve, p.Orders())
			}
		})
	}
}
