package acme

import (
	"crypto/tls"
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTLSConfigPolicy(t *testing.T) {
	m := localManager(t, tempStorePath(t), nil)
	cfg := m.TLSConfig()
	if cfg.MinVersion != tls.VersionTLS12 || cfg.MaxVersion != 0 {
		t.Errorf("versions %x..%x, want TLS 1.2 up to the newest", cfg.MinVersion, cfg.MaxVersion)
	}
	if !slices.Equal(cfg.NextProtos, []string{"h2", "http/1.1", "acme-tls/1"}) {
		t.Errorf("ALPN %v, want h2 first, then http/1.1 and acme-tls/1", cfg.NextProtos)
	}
	off := m.TLSConfig()
	WithoutHTTP2(off)
	if !slices.Equal(off.NextProtos, []string{"http/1.1", "acme-tls/1"}) || !slices.Equal(cfg.NextProtos, []string{"h2", "http/1.1", "acme-tls/1"}) {
		t.Errorf("WithoutHTTP2: ALPN %v (and the other config's %v)", off.NextProtos, cfg.NextProtos)
	}
	for _, id := range cfg.CipherSuites {
		for _, insecure := range tls.InsecureCipherSuites() {
			if id == insecure.ID {
				t.Errorf("insecure suite %s", insecure.Name)
			}
		}
		if name := tls.CipherSuiteName(id); strings.Contains(name, "CBC") {
			t.Errorf("CBC suite %s", name)
		}
	}
	if !slices.Contains(cfg.CurvePreferences, tls.X25519MLKEM768) {
		t.Error("no post-quantum hybrid key exchange")
	}

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(m.RootPEM())
	addr, _ := serveTLSOn(t, m, "tcp", "127.0.0.1:0")
	for _, c := range []struct {
		name   string
		client *tls.Config
		ok     bool
	}{
		{"TLS 1.3", &tls.Config{MinVersion: tls.VersionTLS13}, true},
		{"TLS 1.2 ECDHE-ECDSA-AES128-GCM", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}, true},
		{"TLS 1.2 ChaCha20", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}}, true},
		{"TLS 1.2 CBC only", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}, false},
		{"TLS 1.1", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, false},
	} {
		c.client.RootCAs, c.client.ServerName = roots, "localhost"
		conn, err := tls.Dial("tcp", addr, c.client)
		if conn != nil {
			conn.Close()
		}
		if (err == nil) != c.ok {
			t.Errorf("%s: handshake error %v, want success %v", c.name, err, c.ok)
		}
	}
}

// resumes dials with the client's session cache and reports whether the
// server resumed the session (ticket accepted).
func resumes(t *testing.T, addr string, client *tls.Config) bool {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, client)
	must(t, err)
	defer conn.Close()
	buf := make([]byte, 2)
	conn.Read(buf) // TLS 1.3 tickets arrive after the handshake
	return conn.ConnectionState().DidResume
}

func TestSessionTicketsRotateAndPersist(t *testing.T) {
	path := tempStorePath(t)
	clock := &fakeClock{}
	m := localManager(t, path, func(c *Config) { c.Now = clock.Now; c.TicketKeyRotation = time.Hour })
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(m.RootPEM())
	addr, _ := serveTLSOn(t, m, "tcp", "127.0.0.1:0")
	client := &tls.Config{RootCAs: roots, ServerName: "localhost", ClientSessionCache: tls.NewLRUClientSessionCache(4)}

	if resumes(t, addr, client) {
		t.Fatal("first connection resumed")
	}
	if !resumes(t, addr, client) {
		t.Fatal("second connection did not resume with the ticket")
	}
	// One rotation: the ticket's key is kept for decryption.
	clock.Advance(time.Hour + time.Second)
	m.maintain()
	freshClient := &tls.Config{RootCAs: roots, ServerName: "localhost", ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	resumes(t, addr, freshClient) // a ticket under the newest key
	if !resumes(t, addr, client) {
		t.Error("a ticket from the previous key was refused after one rotation")
	}

	// A restart (new manager, same file) keeps the keys: the ticket still works.
	m.Close()
	addr2 := restartTicketServer(t, m, path, clock)
	if !resumes(t, addr2, freshClient) {
		t.Error("a ticket was refused after a restart")
	}
}

// restartTicketServer closes m's store and serves from a new manager on
// the same file.
func restartTicketServer(t *testing.T, old *Manager, path string, clock *fakeClock) string {
	t.Helper()
	if db, ok := old.cfg.Store.(interface{ Close() error }); ok {
		must(t, db.Close())
	}
	m2 := localManager(t, path, func(c *Config) { c.Now = clock.Now; c.TicketKeyRotation = time.Hour })
	addr, _ := serveTLSOn(t, m2, "tcp", "127.0.0.1:0")
	return addr
}

func TestTicketKeysExpireAfterThreeRotations(t *testing.T) {
	clock := &fakeClock{}
	m := localManager(t, tempStorePath(t), func(c *Config) { c.Now = clock.Now; c.TicketKeyRotation = time.Hour })
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(m.RootPEM())
	addr, _ := serveTLSOn(t, m, "tcp", "127.0.0.1:0")
	client := &tls.Config{RootCAs: roots, ServerName: "localhost", ClientSessionCache: tls.NewLRUClientSessionCache(4),
		MaxVersion: tls.VersionTLS12} // TLS 1.2 reuses the same ticket on every resumption
	resumes(t, addr, client)
	for range keptTicketKeys {
		clock.Advance(time.Hour + time.Second)
		m.maintain()
	}
	if resumes(t, addr, client) {
		t.Error("a ticket outlived all kept keys")
	}
	m.tickets.mu.Lock()
	n := len(m.tickets.keys)
	m.tickets.mu.Unlock()
	if n != keptTicketKeys {
		t.Errorf("%d keys kept, want %d", n, keptTicketKeys)
	}
}
