package proxy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// h2Engine is an engine with a TLS listener that offers h2 and a plain
// listener that takes h2c with prior knowledge.
type h2Engine struct {
	*testEngine
	httpsAddr string
	ca        *testCA
}

// startH2Engine runs cfg with TLS (names get certificates) offering h2,
// and an h2c plain listener.
func startH2Engine(t testing.TB, cfg Config, names ...string) *h2Engine {
	t.Helper()
	ca := newTestCA(t)
	certs := map[string]*tls.Certificate{}
	for _, n := range names {
		c := ca.issue(t, n)
		certs[n] = &c
	}
	cfg.TLS = serverTLS(certs)
	cfg.TLS.NextProtos = []string{"h2", "http/1.1"}
	byName := cfg.TLS.GetCertificate
	cfg.TLS.GetCertificate = func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if h.ServerName == "" { // a client that sends no SNI (h2spec, by address)
			return certs[names[0]], nil
		}
		return byName(h)
	}
	plain, err := Listen("127.0.0.1:0", "http")
	if err != nil {
		t.Fatal(err)
	}
	plain.H2C = true
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
	var errLog *lockedWriter
	if cfg.Logger == nil {
		cfg.Logger, errLog = errorLogger()
	}
	e, err := New(cfg, []Listener{plain, secure})
	if err != nil {
		t.Fatal(err)
	}
	e.Start()
	te := &testEngine{e: e, addr: plain.Addr, errLog: errLog}
	te.watchPanics(t) // after the shutdown below: cleanups run last first
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &h2Engine{testEngine: te, httpsAddr: secure.Addr, ca: ca}
}

// client is an HTTP/2 client over TLS for serverName, every connection to
// the engine's TLS listener.
func (he *h2Engine) client(serverName string) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: he.ca.pool, ServerName: serverName, NextProtos: []string{"h2"}},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, he.httpsAddr)
		},
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// h2cClient speaks HTTP/2 with prior knowledge to the plain listener.
func (he *h2Engine) h2cClient() *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: p}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// TestHTTP2StaticAndProxy: over h2 (TLS, ALPN) and h2c, static files
// (small, a 10 MiB download through the flow-control windows), proxied
// requests (with a 10 MiB upload buffered before the application sees
// it), many streams at once on one connection, and HSTS; every answer
// says HTTP/2.0.
func TestHTTP2StaticAndProxy(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	big := make([]byte, 10<<20)
	rand.Read(big)
	writeFile(t, filepath.Join(root, "big.bin"), string(big))
	be := startBackend(t, true, http.HandlerFunc(echoHandler))
	cfg := Config{
		Upstreams: []Upstream{{Name: "app", Servers: []UpstreamServer{{Addr: be.addr}}}},
		Sites: []Site{{Hosts: []string{"example.test"}, HSTS: "max-age=63072000",
			Routes: []Route{{Prefix: "/static/", Static: &Static{Root: root}}, {Prefix: "/", Upstream: "app"}}}},
	}
	he := startH2Engine(t, cfg, "example.test")
	for _, tc := range []struct {
		name   string
		client *http.Client
		base   string
	}{
		{"h2", he.client("example.test"), "https://example.test"},
		{"h2c", he.h2cClient(), "http://" + he.addr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := map[string]string{"Host": "example.test"}
			resp, body := mustHTTP(t, tc.client, newRequest(t, "GET", tc.base+"/static/a.txt", nil, host))
			if resp.ProtoMajor != 2 || resp.StatusCode != 200 || body != "alpha" {
				t.Fatalf("static: %s %d %q", resp.Proto, resp.StatusCode, body)
			}
			if tc.name == "h2" && resp.Header.Get("Strict-Transport-Security") != "max-age=63072000" {
				t.Errorf("HSTS: %v", resp.Header)
			}
			resp, body = mustHTTP(t, tc.client, newRequest(t, "GET", tc.base+"/static/big.bin", nil, host))
			if resp.StatusCode != 200 || sha256.Sum256([]byte(body)) != sha256.Sum256(big) {
				t.Fatalf("10 MiB download: %d, %d bytes", resp.StatusCode, len(body))
			}
			resp, body = mustHTTP(t, tc.client, newRequest(t, "POST", tc.base+"/echo?x=1", big, host))
			e := decodeEcho(t, body)
			sum := sha256.Sum256(big)
			if resp.StatusCode != 200 || e.Length != len(big) || e.SHA256 != fmt.Sprintf("%x", sum[:]) || e.URI != "/echo?x=1" ||
				e.Host != "example.test" || e.CL != int64(len(big)) {
				t.Fatalf("10 MiB upload: %d %+v", resp.StatusCode, e)
			}
			// Many streams at once on the connection.
			var wg sync.WaitGroup
			errs := make(chan error, 60)
			for i := 0; i < 60; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					path := "/static/a.txt"
					if i%2 == 1 {
						path = fmt.Sprintf("/q%d", i)
					}
					req, _ := http.NewRequest("GET", tc.base+path, nil)
					req.Host = "example.test"
					resp, err := tc.client.Do(req)
					if err != nil {
						errs <- err
						return
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || resp.ProtoMajor != 2 || (i%2 == 0 && string(b) != "alpha") ||
						(i%2 == 1 && !strings.Contains(string(b), fmt.Sprintf(`"uri":"/q%d"`, i))) {
						errs <- fmt.Errorf("%s: %s %d %q", path, resp.Proto, resp.StatusCode, b)
					}
				}(i)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}
