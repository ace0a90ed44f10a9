package proxy

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"frontdoor/internal/testkit"
)

// clientSite serves files under /static/ and proxies the rest to the echo
// application.
func clientSite(t *testing.T) (Config, []byte) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	big := make([]byte, 10<<20)
	rand.Read(big)
	writeFile(t, filepath.Join(root, "big.bin"), string(big))
	be := startBackend(t, true, http.HandlerFunc(echoHandler))
	return Config{
		Upstreams: []Upstream{{Name: "app", Servers: []UpstreamServer{{Addr: be.addr}}}},
		Sites: []Site{{Hosts: []string{"example.test"}, Routes: []Route{
			{Prefix: "/static/", Static: &Static{Root: root}}, {Prefix: "/", Upstream: "app"}}}},
	}, big
}

// TestHTTP2Curl: curl --http2 over TLS and --http2-prior-knowledge over
// h2c fetch a file, download 10 MiB and upload 10 MiB through the proxy.
func TestHTTP2Curl(t *testing.T) {
	curl := testkit.FindTool("curl")
	if curl == "" {
		t.Skip("curl not installed (scripts/ensure-deps test installs it)")
	}
	if v, _ := exec.Command(curl, "--version").Output(); !bytes.Contains(v, []byte("HTTP2")) {
		t.Skip("this curl has no HTTP/2")
	}
	cfg, big := clientSite(t)
	he := startH2Engine(t, cfg, "example.test")
	upload := filepath.Join(t.TempDir(), "up.bin")
	if err := os.WriteFile(upload, big, 0o600); err != nil {
		t.Fatal(err)
	}
	_, tlsPort, _ := net.SplitHostPort(he.httpsAddr)
	_, plainPort, _ := net.SplitHostPort(he.addr)
	for _, mode := range []struct {
		name string
		base string
		args []string
	}{
		{"TLS", "https://example.test:" + tlsPort, []string{"--http2", "-k", "--resolve", "example.test:" + tlsPort + ":127.0.0.1"}},
		{"h2c", "http://example.test:" + plainPort, []string{"--http2-prior-knowledge", "--resolve", "example.test:" + plainPort + ":127.0.0.1"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			run := func(args ...string) []byte {
				t.Helper()
				args = append(append([]string{"-sS", "--max-time", "60"}, mode.args...), args...)
				out, err := exec.Command(curl, args...).Output()
				if err != nil {
					t.Fatalf("curl %v: %v", args, err)
				}
				return out
			}
			if got := run("-w", "%{http_version} %{http_code}", "-o", "/dev/null", mode.base+"/static/a.txt"); string(got) != "2 200" {
				t.Fatalf("curl: %q, want 2 200", got)
			}
			if got := run(mode.base + "/static/a.txt"); string(got) != "alpha" {
				t.Fatalf("body %q", got)
			}
			if got := run(mode.base + "/static/big.bin"); sha256.Sum256(got) != sha256.Sum256(big) {
				t.Fatalf("10 MiB download: %d bytes", len(got))
			}
			e := decodeEcho(t, string(run("--data-binary", "@"+upload, mode.base+"/echo")))
			if sum := sha256.Sum256(big); e.Length != len(big) || e.SHA256 != fmt.Sprintf("%x", sum[:]) {
				t.Fatalf("10 MiB upload: %+v", e)
			}
		})
	}
}

var h2loadResult = regexp.MustCompile(`requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored`)

// TestHTTP2H2load: h2load (nghttp2's load generator) over TLS and h2c,
// several connections with ten streams each, on a file and through the
// proxy: every request succeeds.
func TestHTTP2H2load(t *testing.T) {
	h2load := testkit.FindTool("h2load")
	if h2load == "" {
		t.Skip("h2load not installed (nghttp2-client; scripts/ensure-deps test installs it)")
	}
	cfg, _ := clientSite(t)
	he := startH2Engine(t, cfg, "example.test")
	for _, target := range []string{"https://" + he.httpsAddr, "http://" + he.addr} {
		for _, path := range []string{"/static/a.txt", "/proxied"} {
			out, err := exec.Command(h2load, "-n", "3000", "-c", "6", "-m", "10", "-t", "1",
				"-H", ":authority: example.test", target+path).CombinedOutput()
			m := h2loadResult.FindSubmatch(out)
			if err != nil || m == nil {
				t.Fatalf("h2load %s%s: %v\n%s", target, path, err, out)
			}
			if string(m[4]) != "3000" {
				t.Errorf("h2load %s%s: %s", target, path, m[0])
			}
			if strings.Contains(target, "https") && !bytes.Contains(out, []byte("Application protocol: h2")) {
				t.Errorf("h2load over TLS did not negotiate h2:\n%s", out)
			}
		}
	}
}
