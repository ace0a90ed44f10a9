package proxy

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCA issues certificates for the TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "frontdoor test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

func (ca *testCA) issue(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: names, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// serverTLS serves a certificate per name and refuses other names, as the
// certificate manager does.
func serverTLS(certs map[string]*tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1", "acme-tls/1"},
		GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if c, ok := certs[strings.ToLower(h.ServerName)]; ok {
				return c, nil
			}
			return nil, fmt.Errorf("no certificate for %q", h.ServerName)
		},
	}
}

// startTLSEngine runs an engine with a plain and a TLS listener.
func startTLSEngine(t testing.TB, cfg Config, ca *testCA, names ...string) (te *testEngine, httpsAddr string) {
	t.Helper()
	certs := map[string]*tls.Certificate{}
	for _, n := range names {
		c := ca.issue(t, n)
		certs[n] = &c
	}
	cfg.TLS = serverTLS(certs)
	plain, err := Listen("127.0.0.1:0", "http")
	if err != nil {
		t.Fatal(err)
	}
	secure, err := Listen("127.0.0.1:0", "https")
	if err != nil {
		t.Fatal(err)
	}
	secure.TLS = true
	_, port, _ := net.SplitHostPort(secure.Addr)
	fmt.Sscan(port, &cfg.HTTPSPort)
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	te = &testEngine{addr: plain.Addr}
	cfg.Logger, te.errLog = errorLogger()
	e, err := New(cfg, []Listener{plain, secure})
	if err != nil {
		t.Fatal(err)
	}
	te.e = e
	te.watchPanics(t)
	e.Start()
	t.Cleanup(func() { e.Shutdown(t.Context()) })
	return te, secure.Addr
}

func httpsClient(ca *testCA, serverName string, addr string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.pool, ServerName: serverName, NextProtos: []string{"http/1.1"}},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func TestTLSServesStaticAndProxy(t *testing.T) {
	ca := newTestCA(t)
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	big := make([]byte, 3<<20)
	rand.Read(big)
	writeFile(t, filepath.Join(root, "big.bin"), string(big))
	be := startBackend(t, true, http.HandlerFunc(echoHandler))
	cfg := Config{
		Upstreams: []Upstream{{Name: "app", Servers: []UpstreamServer{{Addr: be.addr}}}},
		Sites: []Site{{Hosts: []string{"example.test"}, HTTPSRedirect: true, HSTS: "max-age=63072000",
			Routes: []Route{{Prefix: "/static/", Static: &Static{Root: root}}, {Prefix: "/", Upstream: "app"}}}},
	}
	te, httpsAddr := startTLSEngine(t, cfg, ca, "example.test")
	client := httpsClient(ca, "example.test", httpsAddr)
	for i := 0; i < 20; i++ { // keep-alive over one TLS connection
		resp, body := mustHTTP(t, client, newRequest(t, "GET", "https://example.test/static/a.txt", nil, nil))
		if resp.StatusCode != 200 || body != "alpha" || resp.Header.Get("Strict-Transport-Security") != "max-age=63072000" {
			t.Fatalf("static over TLS: %d %q %v", resp.StatusCode, body, resp.Header)
		}
	}
	resp, body := mustHTTP(t, client, newRequest(t, "GET", "https://example.test/static/big.bin", nil, nil))
	if resp.StatusCode != 200 || sha256.Sum256([]byte(body)) != sha256.Sum256(big) {
		t.Fatalf("big file over TLS: %d, %d bytes", resp.StatusCode, len(body))
	}
	upload := make([]byte, 2<<20)
	rand.Read(upload)
	resp, body = mustHTTP(t, client, newRequest(t, "POST", "https://example.test/echo", upload, nil))
	e := decodeEcho(t, body)
	sum := sha256.Sum256(upload)
	if e.Length != len(upload) || e.SHA256 != fmt.Sprintf("%x", sum[:]) || e.Headers["X-Forwarded-Proto"] != "https" {
		t.Fatalf("proxied upload over TLS: %+v", e)
	}
	if resp.TLS == nil || resp.TLS.NegotiatedProtocol != "http/1.1" {
		t.Fatalf("ALPN: %+v", resp.TLS)
	}

	// Plain HTTP redirects to HTTPS: 301 for GET, 308 for POST.
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, _ = mustHTTP(t, plain, newRequest(t, "GET", "http://"+te.addr+"/x?y=1", nil, map[string]string{"Host": "example.test"}))
	_, port, _ := net.SplitHostPort(httpsAddr)
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://example.test:"+port+"/x?y=1" {
		t.Fatalf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = mustHTTP(t, plain, newRequest(t, "POST", "http://"+te.addr+"/x", []byte("hi"), map[string]string{"Host": "example.test"}))
	if resp.StatusCode != 308 {
		t.Fatalf("POST redirect: %d", resp.StatusCode)
	}
}

func TestTLSRefusesUnknownNamesAndMisdirected(t *testing.T) {
	ca := newTestCA(t)
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	cfg := Config{Sites: []Site{
		{Hosts: []string{"a.test"}, Routes: []Route{{Prefix: "/", Static: &Static{Root: root}}}},
		{Hosts: []string{"b.test"}, Routes: []Route{{Prefix: "/", Static: &Static{Root: root}}}},
	}}
	_, httpsAddr := startTLSEngine(t, cfg, ca, "a.test", "b.test")
	// An unknown name: the handshake is refused; never another site's certificate.
	c, err := tls.Dial("tcp", httpsAddr, &tls.Config{ServerName: "evil.test", InsecureSkipVerify: true})
	if err == nil {
		c.Close()
		t.Fatal("handshake for an unknown name succeeded")
	}
	// SNI a.test, Host b.test: 421.
	client := httpsClient(ca, "a.test", httpsAddr)
	resp, _ := mustHTTP(t, client, newRequest(t, "GET", "https://a.test/a.txt", nil, map[string]string{"Host": "b.test"}))
	if resp.StatusCode != 421 {
		t.Fatalf("misdirected request: %d", resp.StatusCode)
	}
}

func TestTLSAcmeChallengeAndWWW(t *testing.T) {
	ca := newTestCA(t)
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	cfg := Config{
		ACMEChallenge: func(host, path string) ([]byte, bool) {
			if host == "example.test" && path == "/.well-known/acme-challenge/tok" {
				return []byte("tok.key"), true
			}
			return nil, false
		},
		Sites: []Site{{Hosts: []string{"example.test", "www.example.test"}, HTTPSRedirect: true, RedirectWWW: "to_apex",
			Routes: []Route{{Prefix: "/", Static: &Static{Root: root}}}}},
	}
	te, httpsAddr := startTLSEngine(t, cfg, ca, "example.test", "www.example.test")
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, body := mustHTTP(t, plain, newRequest(t, "GET", "http://"+te.addr+"/.well-known/acme-challenge/tok", nil, map[string]string{"Host": "example.test"}))
	if resp.StatusCode != 200 || body != "tok.key" {
		t.Fatalf("challenge: %d %q", resp.StatusCode, body)
	}
	resp, _ = mustHTTP(t, plain, newRequest(t, "GET", "http://"+te.addr+"/.well-known/acme-challenge/other", nil, map[string]string{"Host": "example.test"}))
	if resp.StatusCode != 404 {
		t.Fatalf("unknown token: %d", resp.StatusCode)
	}
	client := httpsClient(ca, "www.example.test", httpsAddr)
	client.CheckRedirect = plain.CheckRedirect
	resp, _ = mustHTTP(t, client, newRequest(t, "GET", "https://www.example.test/a.txt?q", nil, nil))
	if resp.StatusCode != 301 || !strings.HasPrefix(resp.Header.Get("Location"), "https://example.test") || !strings.HasSuffix(resp.Header.Get("Location"), "/a.txt?q") {
		t.Fatalf("www redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestTLSHandshakeTimeoutCutsSlowClients(t *testing.T) {
	ca := newTestCA(t)
	cfg := Config{Sites: []Site{{Routes: []Route{{Prefix: "/", Static: &Static{Root: t.TempDir()}}}}}}
	cfg.Timeouts.TLSHandshake = time.Second
	_, httpsAddr := startTLSEngine(t, cfg, ca, "a.test")
	c, err := net.Dial("tcp", httpsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Half a ClientHello record header, then nothing.
	c.Write([]byte{0x16, 0x03, 0x01, 0x02})
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(c)
	if d := time.Since(start); err != nil || d < 900*time.Millisecond || d > 3*time.Second {
		t.Fatalf("slow handshake cut after %v (err %v), want about 1 s", d, err)
	}
}

func TestTLSWebSocketTunnel(t *testing.T) {
	ca := newTestCA(t)
	be := startBackend(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, _ := w.(http.Hijacker).Hijack()
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		io.Copy(conn, brw) // echo
	}))
	cfg := proxySite(be.addr)
	te, httpsAddr := startTLSEngine(t, cfg, ca, "a.test")
	_ = te
	c, err := tls.Dial("tcp", httpsAddr, &tls.Config{ServerName: "a.test", RootCAs: ca.pool})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /ws HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v", err)
	}
	msg := strings.Repeat("ping", 5000)
	go c.Write([]byte(msg))
	got := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
		t.Fatalf("echo over a TLS tunnel: %v", err)
	}
}

// TestHoldsManyIdleTLSConnections opens 9,000 TLS connections, each idle
// after one request, and checks they are all held and answer again.
func TestHoldsManyIdleTLSConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("9,000 TLS handshakes; skipped with -short")
	}
	const n = 9000
	raiseFileLimit(t, 2*n+500)
	ca := newTestCA(t)
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	cfg := Config{Sites: []Site{{Routes: []Route{{Prefix: "/", Static: &Static{Root: root}}}}}}
	te, httpsAddr := startTLSEngine(t, cfg, ca, "a.test")
	conns := make([]*tls.Conn, n)
	readers := make([]*bufio.Reader, n)
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	clientCfg := &tls.Config{ServerName: "a.test", RootCAs: ca.pool, ClientSessionCache: tls.NewLRUClientSessionCache(64)}
	roundTrip := func(i int) error {
		c := conns[i]
		c.SetDeadline(time.Now().Add(60 * time.Second))
		if _, err := c.Write([]byte("GET /a.txt HTTP/1.1\r\nHost: a.test\r\n\r\n")); err != nil {
			return err
		}
		resp, err := http.ReadResponse(readers[i], nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	run := func(open bool) {
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := g; i < n; i += 16 {
					if open {
						c, err := tls.Dial("tcp", httpsAddr, clientCfg)
						if err != nil {
							errs <- err
							return
						}
						conns[i], readers[i] = c, bufio.NewReader(c)
					}
					if err := roundTrip(i); err != nil {
						errs <- err
						return
					}
				}
			}(g)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	run(true)
	if got := te.e.Stats().Connections; got < n {
		t.Fatalf("engine holds %d connections, want %d", got, n)
	}
	run(false)
}

// TestOnlyWebSocketIsTunnelled: an "Upgrade: h2c" sent through would let a
// client speak HTTP/2 straight to the application, past the edge's parser
// and limits (h2c smuggling). It goes on as a plain HTTP/1.1 request with
// no Upgrade header, and the connection stays in HTTP/1.1.
func TestOnlyWebSocketIsTunnelled(t *testing.T) {
	be := startBackend(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" || r.Header.Get("Http2-Settings") != "" {
			w.WriteHeader(http.StatusSwitchingProtocols) // what an h2c-capable app would do
			return
		}
		io.WriteString(w, "plain")
	}))
	te := startEngine(t, proxySite(be.addr))
	rc := dial(t, te.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n")
	resp, body := rc.response("GET")
	if resp.StatusCode != 200 || body != "plain" {
		t.Fatalf("h2c upgrade: %d %q, want 200 plain", resp.StatusCode, body)
	}
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "plain" {
		t.Fatalf("after the refused upgrade: %d %q", resp.StatusCode, body)
	}
}
