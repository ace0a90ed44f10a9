package proxy

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"frontdoor/internal/testkit"
)

var h2specResult = regexp.MustCompile(`(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed`)

// TestH2SpecEngine runs every h2spec v2.2.1 case (145) against the real
// engine, over TLS (ALPN h2) and h2c, on a static route and on a proxied
// one (an HTTP/1.1 application behind a keep-alive pool), and wants them
// all passed.
func TestH2SpecEngine(t *testing.T) {
	h2spec := testkit.FindTool("h2spec")
	if h2spec == "" {
		t.Skip("h2spec not installed: go install github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible (scripts/ensure-deps test does)")
	}
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "index.html"), "<!doctype html><title>h2spec</title>\n")
	be := startBackend(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("proxied\n"))
	}))
	cfg := Config{
		Upstreams: []Upstream{{Name: "app", Servers: []UpstreamServer{{Addr: be.addr}}}},
		Sites: []Site{{Routes: []Route{
			{Prefix: "/static/", Static: &Static{Root: root}},
			{Prefix: "/", Upstream: "app"},
		}}},
	}
	he := startH2Engine(t, cfg, "127.0.0.1", "localhost")
	for _, path := range []string{"/static/", "/app"} {
		for _, useTLS := range []bool{true, false} {
			name := path + " h2c"
			addr := he.addr
			if useTLS {
				name, addr = path+" TLS", he.httpsAddr
			}
			t.Run(name, func(t *testing.T) {
				_, port, _ := net.SplitHostPort(addr)
				args := []string{"-h", "127.0.0.1", "-p", port, "-P", path, "-o", "5"}
				if useTLS {
					args = append(args, "-t", "-k")
				}
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				defer cancel()
				out, _ := exec.CommandContext(ctx, h2spec, args...).CombinedOutput()
				m := h2specResult.FindSubmatch(out)
				if m == nil {
					t.Fatalf("h2spec said:\n%s", out)
				}
				total, _ := strconv.Atoi(string(m[1]))
				passed, _ := strconv.Atoi(string(m[2]))
				t.Logf("h2spec %s: %s", name, m[0])
				if total != 145 || passed != total {
					if i := bytes.Index(out, []byte("Failures:")); i >= 0 {
						out = out[i:]
					}
					t.Fatalf("h2spec %s: %s\n%s", name, m[0], out)
				}
			})
		}
	}
}
