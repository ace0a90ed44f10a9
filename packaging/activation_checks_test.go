package packaging

import (
	"bufio"
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
	"strings"
	"testing"
	"time"

	"frontdoor/appliance"
)

// The checks testRunUnderSocketActivation makes of the real program.

// checkPlaceholder: with the shipped configuration (no site yet) every
// request gets the page that says what to do, as 503 with Retry-After.
func checkPlaceholder(t *testing.T, where string, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(string(body), "frontdoor is running") || !strings.Contains(string(body), "frontdoor init") {
		t.Errorf("%s: %s %v\n%s", where, resp.Status, resp.Header, body)
	}
}

// checkHTTPS: the https socket is TLS, with a certificate for localhost
// from the daemon's local CA (whose root the admin socket hands out for
// `frontdoor trust`), and serves the same page over it.
func checkHTTPS(t *testing.T, httpsAddr, config string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	root, err := appliance.NewAdminClient(appliance.AdminSocketFor(config)).TrustRoot(ctx)
	if err != nil {
		t.Fatalf("the local CA's root from the admin socket: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(root) {
		t.Fatalf("the trust root is not PEM: %q", root)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, httpsAddr)
		},
	}}
	resp, err := client.Get("https://localhost/")
	if err != nil {
		t.Fatalf("HTTPS on the https socket, verified with the local CA: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.TLS == nil || resp.TLS.PeerCertificates[0].Issuer.Organization[0] != "frontdoor" {
		t.Errorf("https socket: not a certificate of frontdoor's local CA: %+v", resp.TLS)
	}
	checkPlaceholder(t, "https socket", resp, body)
}

// execReload is the unit's ExecReload= command line, with the binary and
// the configuration file of the test in place of the installed ones.
func execReload(t *testing.T, bin, config string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("systemd", "frontdoor.service"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "ExecReload="); ok {
			args := strings.Fields(line)
			for i, a := range args {
				switch a {
				case "/usr/bin/frontdoor":
					args[i] = bin
				case appliance.DefaultConfigPath:
					args[i] = config
				}
			}
			if args[0] != bin || !strings.Contains(line, appliance.DefaultConfigPath) {
				t.Fatalf("ExecReload=%s: want /usr/bin/frontdoor with --config %s", line, appliance.DefaultConfigPath)
			}
			return args
		}
	}
	t.Fatal("frontdoor.service has no ExecReload=")
	return nil
}

// checkExecReload runs the unit's ExecReload= as systemd would: a good
// file reloads (exit 0, RELOADING=1 then READY=1 to systemd); a refused one
// makes it exit non-zero with the file, line and key — so `systemctl
// reload` fails — and the daemon tells systemd it is ready again with the
// previous configuration.
func checkExecReload(t *testing.T, bin, config string, notify *notifyLog) {
	t.Helper()
	args := execReload(t, bin, config)
	run := func() (string, error) {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		return string(out), err
	}
	reloading, ready := notify.count("RELOADING=1"), notify.count("READY=1")
	if out, err := run(); err != nil || !strings.Contains(out, "configuration reloaded") {
		t.Fatalf("ExecReload with the shipped file: %v\n%s", err, out)
	}
	notify.waitCount(t, "RELOADING=1", reloading+1, 10*time.Second)
	notify.waitCount(t, "READY=1", ready+1, 10*time.Second)

	good, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	defer os.WriteFile(config, good, 0o644)
	if err := os.WriteFile(config, append(append([]byte(nil), good...), "workerz = 2\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	line := strings.Count(string(good), "\n") + 1
	out, err := run()
	if err == nil {
		t.Fatalf("ExecReload exited 0 for a refused file (systemctl reload would say it worked):\n%s", out)
	}
	if want := fmt.Sprintf("%s:%d: server.workerz: unknown key", config, line); !strings.Contains(out, want) {
		t.Errorf("ExecReload's output lacks %q:\n%s", want, out)
	}
	notify.waitCount(t, "RELOADING=1", reloading+2, 10*time.Second)
	notify.waitCount(t, "READY=1", ready+2, 10*time.Second)
}
