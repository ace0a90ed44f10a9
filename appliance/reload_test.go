package appliance

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"frontdoor/internal/pebbletest"
)

// TestReloadNamesWhatNeedsARestart: a reload applies what it can (a new
// route serves at once) and names, in `frontdoor reload`'s answer and in
// the log, the keys only a restart applies — compared with what the daemon
// started with, so a second reload still says so, and a file back to the
// running value no longer does.
func TestReloadNamesWhatNeedsARestart(t *testing.T) {
	dir := t.TempDir()
	www, extra := filepath.Join(dir, "www"), filepath.Join(dir, "extra")
	os.MkdirAll(www, 0o755)
	os.MkdirAll(extra, 0o755)
	os.WriteFile(filepath.Join(www, "index.html"), []byte("main"), 0o644)
	os.WriteFile(filepath.Join(extra, "x.txt"), []byte("extra"), 0o644)
	addr := freePort(t)
	cfg := filepath.Join(dir, "frontdoor.toml")
	write := func(workers int, tempDir string, withExtra bool) {
		text := serverTable(addr, dir) + fmt.Sprintf("\n[proxy]\ntemp_dir = %q\n", tempDir)
		text = strings.Replace(text, "workers = 2", "workers = "+strconv.Itoa(workers), 1)
		text += fmt.Sprintf("\n[[site]]\n  [[site.route]]\n  path = \"/\"\n  static = %q\n", www)
		if withExtra {
			text += fmt.Sprintf("  [[site.route]]\n  path = \"/extra/\"\n  static = %q\n", extra)
		}
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(2, dir, false)
	d := startDaemon(t, dir, addr)
	await(t, 10*time.Second, "the daemon to serve", func() bool {
		r, err := rawGet(addr, "/", "localhost")
		return err == nil && r.status == 200
	})

	write(1, www, true)
	out, err := cli(t, "reload", "--config", cfg)
	if err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	for _, want := range []string{"configuration reloaded", "not applied until a restart",
		"server.workers (2 → 1)", fmt.Sprintf("proxy.temp_dir (%q → %q)", dir, www)} {
		if !strings.Contains(out, want) {
			t.Errorf("reload's answer lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "server.http") || strings.Contains(out, "server.state") {
		t.Errorf("reload names keys that did not change:\n%s", out)
	}
	if r, err := rawGet(addr, "/extra/x.txt", "localhost"); err != nil || r.body != "extra" {
		t.Errorf("the new route after the reload: %q %v", r.body, err)
	}
	await(t, 5*time.Second, "restart_needed in the log", func() bool {
		return strings.Contains(d.stderr.String(), `restart_needed="server.workers (2 → 1), proxy.temp_dir`)
	})
	if st := d.status(t); st.Edge.Workers != 2 {
		t.Errorf("the engine runs %d workers after the reload; the two it started with were to stay", st.Edge.Workers)
	}

	// Still different from what runs: still said.
	if out, err := cli(t, "reload", "--config", cfg); err != nil || !strings.Contains(out, "server.workers (2 → 1)") {
		t.Errorf("second reload: %v\n%s", err, out)
	}
	// Back to the running values: nothing to restart for.
	write(2, dir, true)
	if out, err := cli(t, "reload", "--config", cfg); err != nil || strings.Contains(out, "restart") {
		t.Errorf("reload back to the running values: %v\n%s", err, out)
	}
}

// tlsSite is one [[site]] of tlsReloadConfig.
type tlsSite struct{ host, body string }

// tlsReloadConfig writes a configuration serving HTTPS for sites, with
// certificates from p.
func tlsReloadConfig(t *testing.T, dir, httpAddr, httpsAddr string, p *pebbletest.Server, sites ...tlsSite) string {
	t.Helper()
	caFile := filepath.Join(dir, fmt.Sprintf("pebble-api-%p.pem", p))
	if err := os.WriteFile(caFile, p.APICertPEM, 0o644); err != nil {
		t.Fatal(err)
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
`, httpAddr, httpsAddr, filepath.Join(dir, "state", "state.db"), filepath.Join(dir, "run"), p.DirectoryURL, caFile, p.DNSAddr)
	for _, s := range sites {
		root := filepath.Join(dir, "www-"+s.host)
		os.MkdirAll(root, 0o755)
		os.WriteFile(filepath.Join(root, "index.html"), []byte(s.body), 0o644)
		text += fmt.Sprintf("\n[[site]]\nhosts = [%q]\n  [[site.route]]\n  path = \"/\"\n  static = %q\n", s.host, root)
	}
	path := filepath.Join(dir, "frontdoor.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReloadOnHTTPS reloads a daemon serving HTTPS with certificates from
// pebble: a site and its name added by a reload get a certificate and
// serve; the name removed is no longer served; a reload that points [tls]
// at another CA (directory_url, directory_ca, resolver) is in force at
// once — the next order goes to the new CA — not at the next restart.
func TestReloadOnHTTPS(t *testing.T) {
	dir := t.TempDir()
	httpAddr, httpsAddr := freePort(t), freePort(t)
	first := pebbletest.Start(t, portOf(t, httpAddr), portOf(t, httpsAddr))
	cfg := tlsReloadConfig(t, dir, httpAddr, httpsAddr, first, tlsSite{"a.test", "site a"})
	d := startDaemon(t, dir, httpAddr)
	firstRoots := first.Roots(t)
	serves := func(name, body string, roots *x509.CertPool) func() bool {
		return func() bool {
			resp, b, err := httpsGet(httpsAddr, name, roots)
			return err == nil && resp.StatusCode == 200 && b == body
		}
	}
	await(t, 60*time.Second, "https://a.test/ with a certificate from pebble", serves("a.test", "site a", firstRoots))

	// A site for b.test replaces a.test's.
	tlsReloadConfig(t, dir, httpAddr, httpsAddr, first, tlsSite{"b.test", "site b"})
	if out, err := cli(t, "reload", "--config", cfg); err != nil || strings.Contains(out, "restart") {
		t.Fatalf("reload adding b.test: %v\n%s", err, out)
	}
	await(t, 60*time.Second, "https://b.test/ after the reload", serves("b.test", "site b", firstRoots))
	if _, _, err := httpsGet(httpsAddr, "a.test", firstRoots); err == nil {
		t.Error("a.test still gets a certificate after the reload removed it")
	}

	// Another CA: the daemon orders from it from now on.
	second := pebbletest.Start(t, portOf(t, httpAddr), portOf(t, httpsAddr))
	secondRoots := second.Roots(t)
	tlsReloadConfig(t, dir, httpAddr, httpsAddr, second, tlsSite{"b.test", "site b"})
	out, err := cli(t, "reload", "--config", cfg)
	if err != nil || strings.Contains(out, "restart") {
		t.Fatalf("reload to the second CA: %v\n%s", err, out)
	}
	// The certificate in the state still serves; a renewal goes to the
	// new CA.
	if !serves("b.test", "site b", firstRoots)() {
		t.Error("b.test's certificate stopped serving when [tls] changed")
	}
	if out, err := cli(t, "certs", "--config", cfg, "--renew", "b.test"); err != nil {
		t.Fatalf("certs --renew b.test: %v\n%s", err, out)
	}
	if !serves("b.test", "site b", secondRoots)() {
		t.Errorf("after the renewal, b.test's certificate is not the second CA's (ordered where?)\n%s", lastLogLines(d.stderr.String(), 20))
	}
	if got := second.Orders(); got == 0 {
		t.Error("the second CA saw no order")
	}
	if !strings.Contains(d.stderr.String(), "certificate manager was rebuilt") {
		t.Error("the log does not say the [tls] change was applied")
	}
	// The new manager serves `frontdoor certs` and the local CA too.
	if out, err := cli(t, "certs", "--config", cfg); err != nil || !strings.Contains(out, "b.test") || strings.Contains(out, "a.test") {
		t.Errorf("certs after the reloads: %v\n%s", err, out)
	}
	c, err := tls.Dial("tcp", httpsAddr, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true})
	if err != nil {
		t.Errorf("https://localhost after the manager changed: %v", err)
	} else {
		c.Close()
	}
}

// TestReloadChangesTheApp changes [app] of a running gunicorn application
// through `frontdoor reload` while a client keeps sending requests: a new
// supervisor starts with the new settings and takes over, the old one is
// retired (its gunicorn master exits), and no request fails; an [app] that
// cannot start is reported, and the serving one stays.
func TestReloadChangesTheApp(t *testing.T) {
	d := startMysite(t, "")
	cfg := filepath.Join(d.dir, "frontdoor.toml")
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	oldMaster := d.status(t).App.Web.PID

	var mu sync.Mutex
	counts := map[int]int{}
	var failures []string
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			r, err := rawGet(d.addr, "/version/", "localhost")
			mu.Lock()
			if err != nil {
				failures = append(failures, err.Error())
			} else {
				counts[r.status]++
				if r.status != 200 {
					failures = append(failures, fmt.Sprintf("status %d: %.80s", r.status, r.body))
				}
			}
			mu.Unlock()
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-done
	}()

	// workers 2 → 3.
	changed := strings.Replace(string(text), "workers = 2\n", "workers = 3\n", 1)
	os.WriteFile(cfg, []byte(changed), 0o644)
	out, err := cli(t, "reload", "--config", cfg)
	if err != nil || !strings.Contains(out, "[app] changed: the new configuration serves") {
		t.Fatalf("reload with 3 workers: %v\n%s", err, out)
	}
	st := d.status(t)
	newMaster := st.App.Web.PID
	if newMaster == oldMaster || newMaster == 0 {
		t.Fatalf("the gunicorn master is still %d (was %d)", newMaster, oldMaster)
	}
	await(t, 30*time.Second, "the old gunicorn master to be retired", func() bool {
		return syscall.Kill(oldMaster, 0) != nil
	})
	await(t, 30*time.Second, "three gunicorn workers", func() bool { return len(childrenOf(newMaster)) == 3 })

	// An [app] that cannot start: reported, the serving one stays.
	broken := strings.Replace(changed, "[app]\n", "[app]\nmodule = \"mysite.nowhere:application\"\n", 1)
	os.WriteFile(cfg, []byte(broken), 0o644)
	out, err = cli(t, "reload", "--config", cfg)
	if err == nil || !strings.Contains(out, "the new [app] did not start") {
		t.Errorf("reload to a module that does not import: %v\n%s", err, out)
	}
	if pid := d.status(t).App.Web.PID; pid != newMaster {
		t.Errorf("the serving master changed from %d to %d after a failed [app] reload", newMaster, pid)
	}

	close(stop)
	<-done
	mu.Lock()
	t.Logf("requests during the reloads: %v", counts)
	if counts[200] == 0 || len(failures) > 0 {
		t.Errorf("%d requests failed during the reloads (%v answered): %v", len(failures), counts, failures[:min(5, len(failures))])
	}
	mu.Unlock()

	// [app] removed: the application stops; added back: it starts.
	start := strings.Index(changed, "[app]\n")
	end := start + strings.Index(changed[start:], "\n\n")
	os.WriteFile(cfg, []byte(changed[:start]+changed[end:]), 0o644)
	if out, err := cli(t, "reload", "--config", cfg); err != nil || !strings.Contains(out, "[app] removed") {
		t.Fatalf("reload without [app]: %v\n%s", err, out)
	}
	await(t, 30*time.Second, "the gunicorn master to stop", func() bool { return syscall.Kill(newMaster, 0) != nil })
	os.WriteFile(cfg, []byte(changed), 0o644)
	if out, err := cli(t, "reload", "--config", cfg); err != nil || !strings.Contains(out, "[app] added") {
		t.Fatalf("reload with [app] again: %v\n%s", err, out)
	}
	await(t, 60*time.Second, "the application through the edge again", func() bool {
		r, err := rawGet(d.addr, "/version/", "localhost")
		return err == nil && r.status == 200
	})
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, err := strconv.Atoi(procStatusField(child, "PPid")); err == nil && ppid == pid {
			out = append(out, child)
		}
	}
	return out
}

// TestReloadWhileStarting: a SIGHUP that arrives while the daemon is still
// starting — its sockets already listen, so a client or systemd may act —
// is a reload, handled once it serves, not Go's default action for SIGHUP
// (the end of the process).
func TestReloadWhileStarting(t *testing.T) {
	dir := t.TempDir()
	addr := freePort(t)
	cfg := filepath.Join(dir, "frontdoor.toml")
	writeConfig(t, cfg, addr, dir)
	// An HTTPS listener: the first start creates the local CA in the state
	// file, after the sockets listen.
	appendTo(t, cfg, "\n[tls]\nacme = false\n")
	text, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(text), "[server]\n", fmt.Sprintf("[server]\nhttps = [%q]\n", freePort(t)), 1)), 0o644)
	p := startFrontdoor(t, "run", "--config", cfg)
	// The listening socket accepts (into its backlog) before the engine
	// and the rest of the daemon have started.
	await(t, 10*time.Second, "the listening socket", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	// A burst, so that one lands while the rest of the daemon starts.
	for end := time.Now().Add(100 * time.Millisecond); time.Now().Before(end); {
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatalf("the daemon is gone after a SIGHUP during its start: %v\n%s", err, p.stderr.String())
		}
		time.Sleep(200 * time.Microsecond)
	}
	await(t, 10*time.Second, "the reload's log line", func() bool {
		return strings.Contains(p.stderr.String(), "configuration reloaded")
	})
	if err := p.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the daemon is gone after a SIGHUP during its start: %v\n%s", err, p.stderr.String())
	}
}
