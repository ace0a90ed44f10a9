package appliance

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"frontdoor/internal/pebbletest"
)

// portOf returns the port of a "host:port" address.
func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// acmeConfig writes a configuration that orders certificates for names
// from pebble, serving a static site on both listeners.
func acmeConfig(t *testing.T, dir, httpAddr, httpsAddr string, p *pebbletest.Server, names ...string) string {
	t.Helper()
	caFile := filepath.Join(dir, "pebble-api.pem")
	os.WriteFile(caFile, p.APICertPEM, 0o644)
	root := filepath.Join(dir, "www")
	os.MkdirAll(root, 0o755)
	os.WriteFile(filepath.Join(root, "index.html"), []byte("secure hello"), 0o644)
	hosts := ""
	for _, n := range names {
		hosts += strconv.Quote(n) + ", "
	}
	text := fmt.Sprintf(`[server]
http = [%q]
https = [%q]
state = %q
runtime_dir = %q
access_log = "off"

[tls]
directory_url = %q
directory_ca = %q
resolver = %q
email = "ops@example.test"

[[site]]
hosts = [%s]
  [[site.route]]
  path = "/"
  static = %q
`, httpAddr, httpsAddr, filepath.Join(dir, "state", "state.db"), filepath.Join(dir, "run"), p.DirectoryURL, caFile, p.DNSAddr, hosts, root)
	path := filepath.Join(dir, "frontdoor.toml")
	os.WriteFile(path, []byte(text), 0o644)
	return path
}

// httpsGet fetches https://name/ from addr, verifying the chain with roots.
func httpsGet(addr, name string, roots *x509.CertPool) (*http.Response, string, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: name},
		DialTLSContext:  nil,
		Dial:            func(network, _ string) (net.Conn, error) { return net.Dial(network, addr) },
	}}
	resp, err := c.Get("https://" + name + "/")
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), nil
}

// TestCertificatesFromPebble runs frontdoor against pebble: one
// certificate by TLS-ALPN-01 (pebble's HTTP-01 port closed), then, in a
// second CA, one by HTTP-01 (its TLS-ALPN-01 port closed); HTTPS serves
// them with a chain pebble's root verifies; a restart places no order; a
// name outside the policy gets no certificate and no order.
func TestCertificatesFromPebble(t *testing.T) {
	for _, tc := range []struct {
		name      string
		challenge string
	}{{"alpn.test", "tls-alpn-01"}, {"http.test", "http-01"}} {
		t.Run(tc.challenge, func(t *testing.T) {
			dir := t.TempDir()
			httpAddr, httpsAddr := freePort(t), freePort(t)
			closed := portOf(t, freePort(t)) // nobody listens there
			pebbleHTTP, pebbleTLS := closed, portOf(t, httpsAddr)
			if tc.challenge == "http-01" {
				pebbleHTTP, pebbleTLS = portOf(t, httpAddr), closed
			}
			p := pebbletest.Start(t, pebbleHTTP, pebbleTLS)
			cfg := acmeConfig(t, dir, httpAddr, httpsAddr, p, tc.name)
			proc := startFrontdoor(t, "run", "--config", cfg)
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("frontdoor's log:\n%s", proc.stderr.String())
				}
			})
			roots := p.Roots(t)
			var body string
			waitFor(t, func() bool {
				resp, b, err := httpsGet(httpsAddr, tc.name, roots)
				body = b
				return err == nil && resp.StatusCode == 200
			})
			if body != "secure hello" {
				t.Fatalf("served %q", body)
			}
			orders := p.Orders()
			if orders == 0 {
				t.Fatal("pebble saw no order")
			}
			// A name outside the policy: no certificate, no order.
			if _, _, err := httpsGet(httpsAddr, "outside.test", nil); err == nil {
				t.Fatal("outside.test got a certificate")
			}
			// Plain HTTP redirects to HTTPS.
			resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).
				Do(mustRequest(t, "http://"+httpAddr+"/", tc.name))
			if err != nil || resp.StatusCode != 301 {
				t.Fatalf("http redirect: %v %v", err, resp)
			}
			if tc.challenge == "tls-alpn-01" {
				forcedRenewal(t, cfg, httpsAddr, tc.name, roots, p)
				localCA(t, cfg, httpsAddr)
				orders = p.Orders()
			}
			// Restart on the same state: served at once, no new order.
			proc.cmd.Process.Signal(syscall.SIGTERM)
			proc.cmd.Wait()
			startFrontdoor(t, "run", "--config", cfg)
			waitFor(t, func() bool {
				resp, _, err := httpsGet(httpsAddr, tc.name, roots)
				return err == nil && resp.StatusCode == 200
			})
			time.Sleep(500 * time.Millisecond) // give an (unwanted) order time to show
			if got := p.Orders(); got != orders {
				t.Fatalf("pebble saw %d orders after the restart, %d before", got, orders)
			}
		})
	}
}

func mustRequest(t *testing.T, url, host string) *http.Request {
	t.Helper()
	r, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Host = host
	return r
}

// forcedRenewal renews a certificate through the CLI while a client keeps
// making new HTTPS connections: the serial changes and no request fails.
func forcedRenewal(t *testing.T, cfg, addr, name string, roots *x509.CertPool, p *pebbletest.Server) {
	t.Helper()
	serial := func() string {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, RootCAs: roots})
		if err != nil {
			return "error: " + err.Error()
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	stop := make(chan struct{})
	done := make(chan [2]int)
	go func() {
		ok, failed := 0, 0
		for {
			select {
			case <-stop:
				done <- [2]int{ok, failed}
				return
			default:
			}
			resp, _, err := httpsGet(addr, name, roots)
			if err != nil || resp.StatusCode != 200 {
				failed++
			} else {
				ok++
			}
		}
	}()
	out, err := exec.Command(binPath, "certs", "--config", cfg, "--renew", name).CombinedOutput()
	close(stop)
	counts := <-done
	if err != nil {
		t.Fatalf("frontdoor certs --renew: %v\n%s", err, out)
	}
	after := serial()
	if after == before || strings.HasPrefix(after, "error") {
		t.Fatalf("serial before %s, after %s: not replaced", before, after)
	}
	if counts[1] != 0 || counts[0] == 0 {
		t.Fatalf("during the renewal: %d requests served, %d failed", counts[0], counts[1])
	}
	t.Logf("renewed %s (serial %s → %s) under %d requests, none failed", name, before, after, counts[0])
	list, err := exec.Command(binPath, "certs", "--config", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(list), name) || !strings.Contains(string(list), "valid") {
		t.Fatalf("frontdoor certs: %v\n%s", err, list)
	}
}

// localCA: https://localhost is served with a certificate from the local
// CA, whose root the daemon hands out for `frontdoor trust`.
func localCA(t *testing.T, cfg, addr string) {
	t.Helper()
	root, err := NewAdminClient(AdminSocketFor(cfg)).TrustRoot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(root) {
		t.Fatalf("trust root is not PEM: %q", root)
	}
	// The daemon's site only names the ACME host; localhost still gets a
	// certificate (the catch-all is the site list's business: 421 here).
	for _, name := range []string{"localhost", "app.localhost"} {
		conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, RootCAs: pool})
		if err != nil {
			t.Fatalf("%s with the local root trusted: %v", name, err)
		}
		conn.Close()
	}
}
