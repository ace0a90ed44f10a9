package appliance

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHTTP2ThroughTheDaemon: `frontdoor run` offers h2 on its HTTPS
// listener by default and serves a request over it; `h2c = true` makes its
// plain listener take HTTP/2 with prior knowledge; `http2 = false` makes
// the HTTPS listener speak HTTP/1.1 only, after a restart, which a reload
// that changes it says it needs.
func TestHTTP2ThroughTheDaemon(t *testing.T) {
	dir := t.TempDir()
	www := filepath.Join(dir, "www")
	os.MkdirAll(www, 0o755)
	os.WriteFile(filepath.Join(www, "index.html"), []byte("hello\n"), 0o644)
	httpAddr, httpsAddr := freePort(t), freePort(t)
	cfg := filepath.Join(dir, "frontdoor.toml")
	write := func(extra string) {
		text := serverTable(httpAddr, dir) + fmt.Sprintf("https = [%q]\n%s\n[tls]\nacme = false\n\n[[site]]\nhttps_redirect = false\n  [[site.route]]\n  path = \"/\"\n  static = %q\n",
			httpsAddr, extra, www)
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	alpn := func() string { return negotiated(httpsAddr) }
	h2Client := func(tlsOn bool) *http.Client {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
		if !tlsOn {
			p := new(http.Protocols)
			p.SetUnencryptedHTTP2(true)
			tr.Protocols = p
		}
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	get := func(c *http.Client, url string) (string, string) {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", url, nil)
		req.Host = "localhost"
		resp, err := c.Do(req)
		if err != nil {
			return "", err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Proto, string(b)
	}

	write("h2c = true\n")
	d := startDaemon(t, dir, httpAddr)
	await(t, 10*time.Second, "the daemon to serve", func() bool {
		r, err := rawGet(httpAddr, "/", "localhost")
		return err == nil && r.status == 200
	})
	if got := alpn(); got != "h2" {
		t.Errorf("ALPN on the HTTPS listener: %q, want h2", got)
	}
	if proto, body := get(h2Client(true), "https://"+httpsAddr+"/"); proto != "HTTP/2.0" || body != "hello\n" {
		t.Errorf("over h2: %s %q", proto, body)
	}
	if proto, body := get(h2Client(false), "http://"+httpAddr+"/"); proto != "HTTP/2.0" || body != "hello\n" {
		t.Errorf("over h2c: %s %q", proto, body)
	}
	if r, err := rawGet(httpAddr, "/", "localhost"); err != nil || r.body != "hello\n" {
		t.Errorf("HTTP/1.1 beside h2c: %v %q", err, r.body)
	}

	write("http2 = false\n")
	out, err := cli(t, "reload", "--config", cfg)
	if err != nil || !strings.Contains(out, "server.http2 (true → false)") || !strings.Contains(out, "server.h2c (true → false)") {
		t.Errorf("a reload that turns HTTP/2 off must say it needs a restart: %v\n%s", err, out)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v", err)
	}
	startDaemon(t, dir, httpAddr)
	await(t, 10*time.Second, "the daemon to serve again", func() bool {
		r, err := rawGet(httpAddr, "/", "localhost")
		return err == nil && r.status == 200
	})
	if got := alpn(); got != "http/1.1" {
		t.Errorf("ALPN with http2 = false: %q, want http/1.1", got)
	}
	if proto, _ := get(h2Client(false), "http://"+httpAddr+"/"); proto == "HTTP/2.0" {
		t.Errorf("h2c answered with h2c off")
	}
}
