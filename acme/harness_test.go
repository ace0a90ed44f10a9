package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"frontdoor/internal/testkit"
	"frontdoor/state"
)

// The state package must satisfy Store without an adapter.
var _ Store = (*state.DB)(nil)

// front stands in for the engine: a TLS listener whose certificates come
// from the manager (answering TLS-ALPN-01) and a plain HTTP server that
// answers HTTP-01 through HTTPChallenge. Either can be left closed: its
// port is then one nobody listens on. The manager can be swapped (a
// restart) while the ports stay, since pebble's config names them.
type front struct {
	tlsPort, httpPort int
	m                 atomic.Pointer[Manager]
	cfg               atomic.Pointer[tls.Config]
	// refuse names a host whose challenges the front refuses, so that
	// pebble's validations of it fail.
	refuse atomic.Pointer[string]
}

func newFront(t *testing.T, serveTLS, serveHTTP bool) *front {
	t.Helper()
	return newFrontOn(t, "127.0.0.1", serveTLS, serveHTTP)
}

// newFrontOn is newFront listening on host (a loopback address).
func newFrontOn(t *testing.T, host string, serveTLS, serveHTTP bool) *front {
	t.Helper()
	f := &front{}
	if serveTLS {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		must(t, err)
		f.tlsPort = ln.Addr().(*net.TCPAddr).Port
		tlsLn := tls.NewListener(ln, &tls.Config{
			GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
				if f.refused(hello.ServerName) {
					return nil, errors.New("test front refuses this name")
				}
				cfg := f.cfg.Load()
				if cfg == nil {
					return nil, errors.New("no manager yet")
				}
				return cfg, nil
			},
		})
		srv := &http.Server{ErrorLog: quietLog, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "hello over TLS")
		})}
		go srv.Serve(tlsLn)
		t.Cleanup(func() { srv.Close() })
	} else {
		f.tlsPort = testkit.FreePort(t)
	}
	if serveHTTP {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		must(t, err)
		f.httpPort = ln.Addr().(*net.TCPAddr).Port
		srv := &http.Server{ErrorLog: quietLog, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			m := f.m.Load()
			if m == nil || f.refused(hostOnly(r.Host)) {
				http.NotFound(w, r)
				return
			}
			body, ok := m.HTTPChallenge(r.Host, r.URL.Path)
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			w.Write(body)
		})}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	} else {
		f.httpPort = testkit.FreePort(t)
	}
	return f
}

func (f *front) refused(name string) bool {
	r := f.refuse.Load()
	return r != nil && *r == name
}

// use makes m the manager behind the front.
func (f *front) use(m *Manager) {
	f.cfg.Store(m.TLSConfig())
	f.m.Store(m)
}

// quietLog drops net/http's server logs: the refused handshakes are the
// point of several tests.
var quietLog = log.New(io.Discard, "", 0)

// fakeClock is a settable Config.Now.
type fakeClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// openStore opens a state file at path and closes it when the test ends
// (closing twice is harmless for the test's purposes).
func openStore(t *testing.T, path string) *state.DB {
	t.Helper()
	db, err := state.Open(path, state.Options{})
	must(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func tempStorePath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "lib", "frontdoor", "state.db")
}

// testManager builds a manager against pebble behind front f. Its logs go
// to a buffer that the cleanup checks for private-key material.
func testManager(t *testing.T, p *pebble, f *front, store Store, names []string, tweak func(*Config)) (*Manager, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	cfg := Config{
		Names:         names,
		DirectoryURL:  p.DirectoryURL,
		HTTPClient:    p.HTTPClient,
		Resolver:      p.Resolver,
		HTTPPort:      f.httpPort,
		Store:         store,
		Logger:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		CheckInterval: 100 * time.Millisecond,
		// pebble picks a random profile for an order without one: name
		// one, so that lifetimes (and a moved clock) are predictable.
		Profile: "classic",
	}
	if tweak != nil {
		tweak(&cfg)
	}
	m, err := New(cfg)
	must(t, err)
	f.use(m)
	t.Cleanup(func() {
		m.Close()
		assertNoKeysIn(t, logs.String(), m)
		if t.Failed() {
			t.Logf("manager logs:\n%s", logs.String())
		}
	})
	return m, logs
}

// assertNoKeysIn fails if text holds a PEM private key or the raw bytes
// (base64 or hex) of any private key the manager holds.
func assertNoKeysIn(t *testing.T, text string, m *Manager) {
	t.Helper()
	if strings.Contains(text, "PRIVATE KEY") {
		t.Error("logs contain a PEM private key")
	}
	var keys [][]byte
	if der, err := x509.MarshalECPrivateKey(m.local.key); err == nil {
		keys = append(keys, der)
	}
	if m.accountKey != nil {
		if der, err := x509.MarshalPKCS8PrivateKey(m.accountKey); err == nil {
			keys = append(keys, der)
		}
	}
	m.mu.Lock()
	for _, ns := range m.names {
		if c := ns.cert.Load(); c != nil {
			if der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey); err == nil {
				keys = append(keys, der)
			}
		}
	}
	m.mu.Unlock()
	for _, k := range keys {
		for _, enc := range []string{base64.StdEncoding.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k), hex.EncodeToString(k)} {
			if strings.Contains(text, enc[:40]) {
				t.Error("logs contain private key bytes")
			}
		}
	}
}

// waitIdle waits until no order is under way.
func waitIdle(t *testing.T, m *Manager) {
	t.Helper()
	testkit.WaitFor(t, 60*time.Second, "orders to finish", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, ns := range m.names {
			if ns.attempt != nil {
				return false
			}
		}
		return true
	})
}

func statusOf(m *Manager, name string) CertStatus {
	for _, s := range m.Status() {
		if s.Name == name {
			return s
		}
	}
	return CertStatus{}
}

// handshake connects to the front's TLS port as a client asking for name
// and verifying against roots, and returns the served leaf.
func handshake(port int, name string, roots *x509.CertPool) (*x509.Certificate, error) {
	return handshakeAt("127.0.0.1", port, name, roots)
}

// handshakeAt is handshake to host:port. A name that is an IP address is
// verified against the IP SANs and not sent as SNI (what a client of
// https://IP/ does).
func handshakeAt(host string, port int, name string, roots *x509.CertPool) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort(host, strconv.Itoa(port)), &tls.Config{
		ServerName: name,
		RootCAs:    roots,
		NextProtos: []string{"http/1.1"},
	})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// httpsGet fetches https://name:port/ through 127.0.0.1, verifying the
// chain against roots.
func httpsGet(t *testing.T, port int, name string, roots *x509.CertPool) string {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", port))
		},
	}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(fmt.Sprintf("https://%s:%d/", name, port))
	must(t, err)
	defer resp.Body.Close()
	var b strings.Builder
	_, err = fmt.Fprint(&b, resp.Status)
	must(t, err)
	return b.String()
}

// challengeHello is what a CA sends to validate TLS-ALPN-01.
func challengeHello(name string) *tls.ClientHelloInfo {
	return &tls.ClientHelloInfo{ServerName: name, SupportedProtos: []string{acme.ALPNProto}}
}

func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func pemBody(t *testing.T, data []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("not PEM: %q", data)
	}
	return b.Bytes
}

func pemEncode(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
