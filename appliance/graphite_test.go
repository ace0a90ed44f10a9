package appliance

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"frontdoor/internal/testkit"
)

// graphiteSettings is Debian's graphite-web's settings module; the package
// has no manage.py, and its administrator's settings are in /etc/graphite.
const graphiteSettings = "/usr/lib/python3/dist-packages/graphite/settings.py"

// graphiteNamespace runs commands in a private mount namespace where
// graphite-web's administrator files (/etc/graphite) and its state and
// log directories are the test's copies: init's fixes and the site's
// database change nothing on the machine.
type graphiteNamespace struct {
	etc, lib, log string
	script        string // mounts the copies, then execs its arguments
}

func newGraphiteNamespace(t *testing.T) *graphiteNamespace {
	t.Helper()
	base := t.TempDir()
	ns := &graphiteNamespace{etc: filepath.Join(base, "etc"), lib: filepath.Join(base, "lib"), log: filepath.Join(base, "log"),
		script: filepath.Join(base, "ns")}
	for _, d := range []string{ns.etc, ns.lib, ns.log} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("cp", "-a", "/etc/graphite/.", ns.etc).CombinedOutput(); err != nil {
		t.Fatalf("copy /etc/graphite: %v\n%s", err, out)
	}
	// As graphite-web's postinst leaves them: /var/log/graphite is
	// _graphite's, /var/lib/graphite root's.
	if out, err := exec.Command("chown", "_graphite:_graphite", ns.log).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v\n%s", err, out)
	}
	script := "#!/bin/sh\nset -e\nmount --bind " + ns.etc + " /etc/graphite\nmount --bind " + ns.lib + " /var/lib/graphite\n" +
		"mount --bind " + ns.log + " /var/log/graphite\nexec \"$@\"\n"
	if err := os.WriteFile(ns.script, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return ns
}

// command is argv run inside the namespace.
func (ns *graphiteNamespace) command(argv ...string) *exec.Cmd {
	return exec.Command("unshare", append([]string{"--mount", "--propagation", "private", ns.script}, argv...)...)
}

// where maps a path init printed to the test's copy.
func (ns *graphiteNamespace) where(path string) string {
	if rest, ok := strings.CutPrefix(path, "/etc/graphite/"); ok {
		return filepath.Join(ns.etc, rest)
	}
	return path
}

// TestGraphiteWeb is Debian's graphite-web, installed with apt, through
// init and run: no manage.py (init --settings), settings from the
// package's module and the administrator's /etc/graphite/local_settings.py
// (where each fix goes), its own system user (_graphite, never root),
// a STATIC_ROOT the package ships collected (served as it is, its
// compressed copies in frontdoor's state directory), and the permission
// init names with the command that fixes it. Over HTTPS, the composer
// page answers and the 717 KB ext-all.js goes out compressed.
func TestGraphiteWeb(t *testing.T) {
	needDjango(t)
	if _, err := os.Stat(graphiteSettings); err != nil {
		t.Skipf("graphite-web is not installed (apt-get install graphite-web; scripts/ensure-deps test does): %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: graphite-web runs as its own user, in a private mount namespace")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare (util-linux)")
	}
	t.Parallel()
	ns := newGraphiteNamespace(t)
	dir := t.TempDir()
	testkit.OpenPathTo(t, dir) // _graphite reaches its sockets in dir/run
	cfg := filepath.Join(dir, "frontdoor.toml")
	initArgs := []string{binPath, "init", "--settings", "graphite.settings", "--domain", "localhost", "--config", cfg}

	out, err := ns.command(initArgs...).CombinedOutput()
	if err == nil {
		t.Fatalf("init exited 0 with _graphite unable to write its database's directory:\n%s", out)
	}
	for _, want := range []string{
		"server     gunicorn django.core.wsgi:get_wsgi_application()",
		"runs as    _graphite",
		"shipped collected by its package",
		"fix, in /etc/graphite/local_settings.py:  SESSION_COOKIE_SECURE = True",
		"fix, in /etc/graphite/local_settings.py:  SECRET_KEY = '",
		"user _graphite cannot write the SQLite database's directory /var/lib/graphite (drwxr-xr-x root:root)",
		"fix: chown -R _graphite:_graphite /var/lib/graphite",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("init output lacks %q:\n%s", want, out)
		}
	}
	for _, cmd := range appliedFixes(t, string(out), "/usr/lib/python3/dist-packages", ns.where) {
		if o, err := ns.command("sh", "-c", cmd).CombinedOutput(); err != nil {
			t.Fatalf("the printed fix %q: %v\n%s", cmd, err, o)
		}
	}
	if out, err := ns.command(initArgs...).CombinedOutput(); err != nil {
		t.Fatalf("init after its fixes: %v\n%s", err, out)
	}
	text, _ := os.ReadFile(cfg)
	for _, want := range []string{`settings = "graphite.settings"`, `user = "_graphite"`, "collectstatic = false",
		`static = "/usr/share/graphite-web/static"`} {
		if !strings.Contains(string(text), want) {
			t.Errorf("the configuration lacks %q:\n%s", want, text)
		}
	}

	httpAddr, httpsAddr := freePort(t), freePort(t)
	appendTo(t, cfg, siteServer(httpAddr, httpsAddr, dir))
	if out, err := cli(t, "check", "--config", cfg); err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	d := &daemon{dir: dir, config: cfg, socket: filepath.Join(dir, "run", AdminSocketName),
		process: &process{stderr: &syncBuffer{}, addr: httpAddr}}
	d.cmd = ns.command(binPath, "run", "--config", cfg)
	d.cmd.Stderr, d.cmd.Stdout = d.stderr, io.Discard
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	failOnRecoveredPanic(t, d.stderr)
	t.Cleanup(func() {
		d.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { d.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			d.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("frontdoor's log:\n%s", lastLogLines(d.stderr.String(), 60))
		}
	})
	await(t, 180*time.Second, "graphite-web to serve", func() bool {
		st, ok := d.tryStatus()
		return ok && st.App != nil && st.App.Upstream != ""
	})
	st := d.status(t)
	for _, step := range st.App.LastDeploy.Steps {
		if step.Name == "compress-static" && (!step.OK || step.Skipped != "") {
			t.Errorf("compress-static: %+v", step)
		}
	}

	c := localHTTPS(t, cfg, httpsAddr)
	base := "https://localhost:" + strings.Split(httpsAddr, ":")[1]
	resp, page := fetch(t, c, "GET", base+"/composer/", nil, nil)
	if resp.StatusCode != 200 || !bytes.Contains(page, []byte("ext-all.js")) {
		t.Fatalf("GET /composer/ = %d\n%s", resp.StatusCode, page)
	}
	want, err := os.ReadFile("/usr/share/graphite-web/static/js/ext/ext-all.js")
	if err != nil {
		t.Fatal(err)
	}
	resp, body := fetch(t, c, "GET", base+"/static/js/ext/ext-all.js", nil, map[string]string{"Accept-Encoding": "gzip, deflate, br, zstd"})
	plain, _ := io.ReadAll(brotli.NewReader(bytes.NewReader(body)))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "br" || !bytes.Equal(plain, want) {
		t.Fatalf("ext-all.js: %d, Content-Encoding %q, %d bytes decoding to %d (file %d)",
			resp.StatusCode, resp.Header.Get("Content-Encoding"), len(body), len(plain), len(want))
	}
	t.Logf("ext-all.js: %d bytes on the wire for %d (%.0f%%)", len(body), len(want), 100*float64(len(body))/float64(len(want)))
	if len(body) > len(want)/3 {
		t.Errorf("ext-all.js: %d bytes, want at most a third of %d", len(body), len(want))
	}
	if _, err := os.Stat(filepath.Join(dir, "compressed", "usr/share/graphite-web/static/js/ext/ext-all.js.br")); err != nil {
		t.Errorf("the compressed copy is not in the state directory: %v", err)
	}
	if entries, _ := os.ReadDir("/usr/share/graphite-web/static/js/ext"); len(entries) != 0 {
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".br") || strings.HasSuffix(e.Name(), ".gz") || strings.HasSuffix(e.Name(), ".zst") {
				t.Errorf("frontdoor wrote into the package's files: %s", e.Name())
			}
		}
	}
}
