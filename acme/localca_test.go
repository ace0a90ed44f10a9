package acme

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// localManager is a manager without ACME names on a real state file.
func localManager(t *testing.T, path string, tweak func(*Config)) *Manager {
	t.Helper()
	logs := &lockedBuffer{}
	// A directory on a closed loopback port: a unit test never reaches
	// out, even on a path that would ask the CA.
	cfg := Config{Store: openStore(t, path), Logger: slogTo(logs), DirectoryURL: "https://127.0.0.1:1/directory"}
	if tweak != nil {
		tweak(&cfg)
	}
	m, err := New(cfg)
	must(t, err)
	t.Cleanup(func() {
		m.Close()
		assertNoKeysIn(t, logs.String(), m)
	})
	return m
}

// serveTLSOn runs a TLS echo-less server on addr with the manager's config
// and returns its address.
func serveTLSOn(t *testing.T, m *Manager, network, addr string) (string, bool) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		return "", false
	}
	tl := tls.NewListener(ln, m.TLSConfig())
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if c.(*tls.Conn).Handshake() == nil {
					io.WriteString(c, "ok")
				}
			}()
		}
	}()
	t.Cleanup(func() { tl.Close() })
	return ln.Addr().String(), true
}

func TestLocalCAServesLocalNames(t *testing.T) {
	m := localManager(t, tempStorePath(t), func(c *Config) { c.LocalNames = []string{"devbox", "192.0.2.55"} })
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(m.RootPEM()) {
		t.Fatal("RootPEM is not a PEM certificate")
	}
	v4, _ := serveTLSOn(t, m, "tcp", "127.0.0.1:0")
	v6, haveV6 := serveTLSOn(t, m, "tcp6", "[::1]:0")

	for _, c := range []struct {
		name, addr, serverName string
		wantErr                bool
	}{
		{"localhost", v4, "localhost", false},
		{"a subdomain of localhost", v4, "foo.localhost", false},
		{"mixed case and a trailing dot", v4, "Bar.LocalHost.", false},
		{"127.0.0.1 (no SNI)", v4, "127.0.0.1", false},
		{"::1 (no SNI)", v6, "::1", false},
		{"a configured local name", v4, "devbox", false},
		{"a name nobody configured", v4, "example.com", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.addr == v6 && !haveV6 {
				t.Skip("no IPv6 loopback here")
			}
			conn, err := tls.Dial("tcp", c.addr, &tls.Config{RootCAs: roots, ServerName: c.serverName})
			if c.wantErr {
				if err == nil {
					conn.Close()
					t.Fatal("handshake succeeded")
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer conn.Close()
			b, _ := io.ReadAll(conn)
			if string(b) != "ok" {
				t.Errorf("read %q", b)
			}
			leaf := conn.ConnectionState().PeerCertificates[0]
			if leaf.NotAfter.Sub(leaf.NotBefore) > 8*24*time.Hour {
				t.Errorf("leaf lives %v, want a short-lived one", leaf.NotAfter.Sub(leaf.NotBefore))
			}
		})
	}
	// Without SNI, a non-local address gets nothing.
	if _, err := m.GetCertificate(&tls.ClientHelloInfo{Conn: fakeConn{local: &net.TCPAddr{IP: net.ParseIP("198.51.100.1"), Port: 443}}}); err == nil {
		t.Error("a certificate for a public address without SNI")
	}
	if _, err := m.GetCertificate(&tls.ClientHelloInfo{Conn: fakeConn{local: &net.TCPAddr{IP: net.ParseIP("192.0.2.55"), Port: 443}}}); err != nil {
		t.Errorf("configured local address without SNI: %v", err)
	}
	var names []string
	for _, s := range m.Status() {
		if s.Source == "local" && s.State == "valid" {
			names = append(names, s.Name)
		}
	}
	if got := strings.Join(names, ","); !strings.Contains(got, "foo.localhost") || !strings.Contains(got, "127.0.0.1") {
		t.Errorf("status lists issued local names %s", got)
	}
}

func TestLocalCASurvivesRestart(t *testing.T) {
	path := tempStorePath(t)
	db := openStore(t, path)
	m1, err := New(Config{Store: db})
	must(t, err)
	root1 := m1.RootPEM()
	m1.Close()
	must(t, db.Close())

	m2 := localManager(t, path, nil)
	if !bytes.Equal(root1, m2.RootPEM()) {
		t.Fatal("the local CA changed across a restart")
	}
	root, err := x509.ParseCertificate(pemBody(t, root1))
	must(t, err)
	if !root.IsCA || !strings.HasPrefix(root.Subject.CommonName, "frontdoor local CA") || root.NotAfter.Before(time.Now().Add(9*365*24*time.Hour)) {
		t.Errorf("root %q CA=%v until %v", root.Subject.CommonName, root.IsCA, root.NotAfter)
	}
	if bytes.Contains(m2.RootPEM(), []byte("PRIVATE")) {
		t.Error("RootPEM carries the private key")
	}
}

func TestLocalLeavesRenewAndStayBounded(t *testing.T) {
	clock := &fakeClock{}
	m := localManager(t, tempStorePath(t), func(c *Config) { c.Now = clock.Now })
	first, err := m.local.certFor("localhost")
	must(t, err)
	again, _ := m.local.certFor("localhost")
	if again != first {
		t.Error("a fresh leaf was re-issued instead of reused")
	}
	clock.Advance(5 * 24 * time.Hour) // past two thirds of 7 days
	renewed, _ := m.local.certFor("localhost")
	if renewed == first {
		t.Error("a leaf two thirds through its life was not renewed")
	}
	for i := range maxLocalLeaves + 50 {
		if _, err := m.local.certFor(fmt.Sprintf("n%d.localhost", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(m.local.issued()); n > maxLocalLeaves {
		t.Errorf("%d leaves cached, bound is %d", n, maxLocalLeaves)
	}
}

type fakeConn struct {
	net.Conn
	local net.Addr
}

func (c fakeConn) LocalAddr() net.Addr { return c.local }
