package appliance

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"frontdoor/supervisor"
)

// Several Django sites on one machine, each through `frontdoor init` and
// each on its own host name and user: two stock startproject sites (one
// under gunicorn, one under uvicorn, both on PostgreSQL) and Debian's
// mailman3-web (Postorius and HyperKitty, a Django project apt installed,
// run as www-data as its package means, in a private mount namespace where
// its /etc/mailman3, /var/lib/mailman3 and /var/log/mailman3 are the
// test's copies).

// privateDirs runs commands in a private mount namespace where each of
// dirs is replaced by a copy: what the test does there changes nothing on
// the machine.
type privateDirs struct {
	script string
}

func newPrivateDirs(t *testing.T, dirs ...string) *privateDirs {
	t.Helper()
	base := t.TempDir()
	var script strings.Builder
	script.WriteString("#!/bin/sh\nset -e\n")
	for i, d := range dirs {
		cp := filepath.Join(base, fmt.Sprint(i))
		if out, err := exec.Command("cp", "-a", d, cp).CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v\n%s", d, err, out)
		}
		fmt.Fprintf(&script, "mount --bind %s %s\n", cp, d)
	}
	script.WriteString("exec \"$@\"\n")
	ns := &privateDirs{script: filepath.Join(base, "ns")}
	if err := os.WriteFile(ns.script, []byte(script.String()), 0o755); err != nil {
		t.Fatal(err)
	}
	return ns
}

func (ns *privateDirs) command(argv ...string) *exec.Cmd {
	return exec.Command("unshare", append([]string{"--mount", "--propagation", "private", ns.script}, argv...)...)
}

// sitesHTTPS is a client of every https://NAME.localhost:PORT site of the
// daemon at addr: it trusts the daemon's local CA, sends each name as the
// TLS server name, keeps cookies and does not follow redirects.
func sitesHTTPS(t *testing.T, cfg, addr string) *http.Client {
	return localCAClient(t, cfg, addr, "")
}

// startHTTPSLoop requests url again and again on a client of its own.
func startHTTPSLoop(t *testing.T, cfg, addr, u, want string, stop <-chan struct{}) *requestLoop {
	c := sitesHTTPS(t, cfg, addr)
	return startRequests(u, want, func() (int, string, error) {
		resp, err := c.Get(u)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}, stop)
}

// adminLogin logs in to a site's Django admin over HTTPS: the login page
// (its own title), its stylesheet (Django's admin CSS, served by the edge
// from the site's STATIC_ROOT), the form with its CSRF token, the admin
// index after it.
func adminLogin(t *testing.T, c *http.Client, base, title, password string) {
	t.Helper()
	resp, page := fetch(t, c, "GET", base+"/admin/login/?next=/admin/", nil, nil)
	if resp.StatusCode != 200 || !bytes.Contains(page, []byte(title)) || resp.TLS == nil {
		t.Fatalf("%s/admin/login/ = %d (TLS %v), want its page %q:\n%.600s", base, resp.StatusCode, resp.TLS != nil, title, page)
	}
	css := regexpFind(`href="([^"]*/admin/css/base\.css)"`, page)
	if css == "" {
		t.Fatalf("%s: the login page links no admin stylesheet", base)
	}
	want, err := os.ReadFile("/usr/lib/python3/dist-packages/django/contrib/admin/static/admin/css/base.css")
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := fetch(t, c, "GET", base+css, nil, nil); resp.StatusCode != 200 || !bytes.Equal(body, want) {
		t.Errorf("%s%s = %d, %d bytes (want Django's %d)", base, css, resp.StatusCode, len(body), len(want))
	}
	token := csrfField.FindSubmatch(page)
	if token == nil {
		t.Fatalf("%s: no CSRF token in the login form", base)
	}
	form := url.Values{"csrfmiddlewaretoken": {string(token[1])}, "username": {"admin"}, "password": {password}, "next": {"/admin/"}}
	resp, body := fetch(t, c, "POST", base+"/admin/login/?next=/admin/", strings.NewReader(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Referer": base + "/admin/login/"})
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "/admin/" {
		t.Fatalf("%s: login = %d %q\n%.600s", base, resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if resp, body := fetch(t, c, "GET", base+"/admin/", nil, nil); resp.StatusCode != 200 || !bytes.Contains(body, []byte("Site administration")) {
		t.Fatalf("%s/admin/ after login = %d", base, resp.StatusCode)
	}
}

func regexpFind(pattern string, b []byte) string {
	m := regexp.MustCompile(pattern).FindSubmatch(b)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// TestThreeSitesOnOneMachine: two stock startproject sites and
// mailman3-web behind one frontdoor, each installed with `frontdoor init`
// (the second and third added to the file the first wrote), each on its
// own host name and system user. All three answer over HTTPS with their
// own pages, admin CSS and login; a deploy of one under load fails no
// request on any; maintenance on one leaves the others serving; a crash
// loop of one (a syntax error) leaves the others untouched; one app's
// user cannot read another's .env.
func TestThreeSitesOnOneMachine(t *testing.T) {
	needDjango(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root: the apps run as their own users, mailman3-web in a private mount namespace")
	}
	if _, err := os.Stat("/usr/share/mailman3-web/manage.py"); err != nil {
		t.Skipf("mailman3-web is not installed (apt-get install mailman3-web; scripts/ensure-deps test does): %v", err)
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare (util-linux)")
	}
	proxyUser, err := supervisor.LookupAccount("proxy")
	if err != nil {
		t.Skip("needs Debian's proxy account (base-passwd)")
	}
	t.Parallel()
	pg := startPG(t)
	for _, db := range []string{"shop", "blog"} {
		if out, err := exec.Command("runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/createdb",
			"-h", "127.0.0.1", "-p", fmt.Sprint(pg.Port), db).CombinedOutput(); err != nil {
			t.Fatalf("createdb %s: %v\n%s", db, err, out)
		}
	}
	shop := startproject(t, false, pg.Port, "shop")
	blog := startproject(t, true, pg.Port, "blog")
	for name, project := range map[string]string{"shop": shop, "blog": blog} {
		title := strings.ToUpper(name[:1]) + name[1:] + " administration"
		appendTo(t, filepath.Join(project, "mysite", "urls.py"), fmt.Sprintf("\nadmin.site.site_header = %q\nadmin.site.site_title = %q\n", title, title))
	}
	// blog belongs to a user of its own (startproject gives nobody both).
	if out, err := exec.Command("chown", "-R", "proxy:proxy", blog).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v\n%s", err, out)
	}
	ns := newPrivateDirs(t, "/etc/mailman3", "/var/lib/mailman3", "/var/log/mailman3")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "frontdoor.toml")
	initSite := func(args ...string) (string, error) {
		out, err := ns.command(append([]string{binPath, "init"}, append(args, "--config", cfg)...)...).CombinedOutput()
		return string(out), err
	}
	// Each startproject site: init names the fixes, they are applied,
	// init again (it replaces its own block).
	for _, site := range []struct{ name, project string }{{"shop", shop}, {"blog", blog}} {
		args := []string{site.project, "--name", site.name, "--domain", site.name + ".localhost"}
		out, err := initSite(args...)
		if err == nil {
			t.Fatalf("init %s exited 0 on a stock startproject:\n%s", site.name, out)
		}
		if site.name == "blog" && (!strings.Contains(out, "+[[app]]") || !strings.Contains(out, `+name = "blog"`)) {
			t.Errorf("init blog printed no diff adding its app:\n%s", out)
		}
		for _, cmd := range appliedFixes(t, out, site.project, nil) {
			if o, err := exec.Command("sh", "-c", cmd).CombinedOutput(); err != nil {
				t.Fatalf("the printed fix %q: %v\n%s", cmd, err, o)
			}
		}
		if out, err := initSite(args...); err != nil {
			t.Fatalf("init %s after its fixes: %v\n%s", site.name, err, out)
		}
	}
	out, err := initSite("/usr/share/mailman3-web", "--name", "lists", "--user", "www-data", "--domain", "lists.localhost")
	if err != nil {
		t.Fatalf("init mailman3-web: %v\n%s", err, out)
	}
	for _, want := range []string{"isolation: lists runs as www-data, a user no other app of the file has", "workers: the 3 apps share"} {
		if !strings.Contains(out, want) {
			t.Errorf("init mailman3-web's output lacks %q:\n%s", want, out)
		}
	}
	text, _ := os.ReadFile(cfg)
	// mailman3-web's static files are many: compressing them all takes a
	// minute here; other tests cover compress_static.
	text = bytes.Replace(text, []byte("name = \"lists\"\n"), []byte("name = \"lists\"\ncompress_static = false\n"), 1)
	httpAddr, httpsAddr := freePort(t), freePort(t)
	os.WriteFile(cfg, append(text, siteServer(httpAddr, httpsAddr, dir)...), 0o644)
	if out, err := cli(t, "check", "--config", cfg); err != nil || !strings.Contains(out, "3 apps (shop, blog, lists)") {
		t.Fatalf("check: %v\n%s", err, out)
	}

	d := &daemon{dir: dir, config: cfg, socket: filepath.Join(dir, "run", AdminSocketName), process: &process{stderr: &syncBuffer{}, addr: httpAddr}}
	d.cmd = ns.command(binPath, "run", "--config", cfg)
	d.cmd.Stderr, d.cmd.Stdout = d.stderr, io.Discard
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		waitExit(d.cmd, 60*time.Second)
		if t.Failed() {
			t.Logf("frontdoor's log:\n%s", lastLogLines(d.stderr.String(), 80))
		}
	})
	await(t, 240*time.Second, "the three apps to serve", func() bool {
		st, ok := d.tryStatus()
		if !ok || len(st.Apps) != 3 {
			return false
		}
		for _, a := range st.Apps {
			if a.Status == nil || a.Status.Upstream == "" {
				return false
			}
		}
		return true
	})
	st := d.status(t)
	for _, a := range []struct {
		name string
		user string
	}{{"shop", "nobody"}, {"blog", proxyUser.Name}, {"lists", "www-data"}} {
		pid := st.app(a.name).Status.Web.PID
		acct, _ := supervisor.LookupAccount(a.user)
		if got := procStatusField(pid, "Uid"); !strings.HasPrefix(got, fmt.Sprint(acct.UID)+"\t") {
			t.Errorf("%s's gunicorn runs as uid %q, want %s", a.name, got, a.user)
		}
	}

	const password = "e2e-admin-password-7319"
	for _, app := range []string{"shop", "blog", "lists"} {
		create := ns.command(binPath, "manage", "--config", cfg, app, "createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com")
		create.Env = append(os.Environ(), "DJANGO_SUPERUSER_PASSWORD="+password)
		if out, err := create.CombinedOutput(); err != nil {
			t.Fatalf("frontdoor manage %s createsuperuser: %v\n%s", app, err, out)
		}
	}
	port := strings.Split(httpsAddr, ":")[1]
	base := func(name string) string { return "https://" + name + ".localhost:" + port }
	c := sitesHTTPS(t, cfg, httpsAddr)
	adminLogin(t, c, base("shop"), "Shop administration", password)
	adminLogin(t, c, base("blog"), "Blog administration", password)
	adminLogin(t, c, base("lists"), "Django administration", password)
	if resp, body := fetch(t, c, "GET", base("lists")+"/hyperkitty/", nil, nil); resp.StatusCode != 200 || !bytes.Contains(body, []byte("HyperKitty")) {
		t.Errorf("mailman3-web's archive page = %d\n%.400s", resp.StatusCode, body)
	}

	// Each loop on its own site's login page (a Django view each time).
	loops := func(stop <-chan struct{}, names ...string) map[string]*requestLoop {
		out := map[string]*requestLoop{}
		titles := map[string]string{"shop": "Shop administration", "blog": "Blog administration", "lists": "Django administration"}
		for _, n := range names {
			out[n] = startHTTPSLoop(t, cfg, httpsAddr, base(n)+"/admin/login/", titles[n], stop)
		}
		return out
	}

	t.Run("deploy of shop under load", func(t *testing.T) {
		stop := make(chan struct{})
		ls := loops(stop, "shop", "blog", "lists")
		time.Sleep(time.Second)
		out, err := cli(t, "deploy", "shop", "--config", cfg)
		time.Sleep(time.Second)
		close(stop)
		if err != nil {
			t.Fatalf("frontdoor deploy shop: %v\n%s", err, out)
		}
		for n, l := range ls {
			l.check(t, n+" during shop's deploy")
		}
	})

	t.Run("maintenance on lists", func(t *testing.T) {
		stop := make(chan struct{})
		ls := loops(stop, "shop", "blog")
		if out, err := cli(t, "maintenance", "on", "lists", "--message", "Moving to a new server", "--config", cfg); err != nil {
			t.Fatalf("maintenance on lists: %v\n%s", err, out)
		}
		resp, body := fetch(t, c, "GET", base("lists")+"/hyperkitty/", nil, nil)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !bytes.Contains(body, []byte("Moving to a new server")) {
			t.Errorf("lists in maintenance = %d, Retry-After %q\n%.300s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		if resp, _ := fetch(t, c, "GET", base("lists")+"/mailman3/static/admin/css/base.css", nil, nil); resp.StatusCode != 200 {
			t.Errorf("lists' static files during maintenance = %d", resp.StatusCode)
		}
		time.Sleep(2 * time.Second)
		close(stop)
		for n, l := range ls {
			l.check(t, n+" while lists is in maintenance")
		}
		if out, err := cli(t, "maintenance", "off", "lists", "--config", cfg); err != nil {
			t.Fatalf("maintenance off lists: %v\n%s", err, out)
		}
		if resp, _ := fetch(t, c, "GET", base("lists")+"/hyperkitty/", nil, nil); resp.StatusCode != 200 {
			t.Errorf("lists after maintenance = %d", resp.StatusCode)
		}
	})

	t.Run("crash loop of blog", func(t *testing.T) {
		asgi := filepath.Join(blog, "mysite", "asgi.py")
		good, _ := os.ReadFile(asgi)
		os.WriteFile(asgi, append(append([]byte{}, good...), []byte("\ndef broken(:\n")...), 0o644)
		stop := make(chan struct{})
		ls := loops(stop, "shop", "lists")
		time.Sleep(500 * time.Millisecond)
		syscall.Kill(d.status(t).app("blog").Status.Web.PID, syscall.SIGKILL)
		// A generation that cannot import its application is FATAL at
		// once (gunicorn's exit code 3), retried at backoff_max.
		await(t, 90*time.Second, "blog's web to be FATAL", func() bool {
			st, ok := d.tryStatus()
			b := st.app("blog")
			return ok && b != nil && b.Status != nil && b.Status.Web.Restarts >= 1 && b.Status.Web.State == supervisor.StateFatal
		})
		time.Sleep(time.Second) // the loops go on a while with blog FATAL
		resp, _ := fetch(t, c, "GET", base("blog")+"/admin/login/", nil, nil)
		close(stop)
		if resp.StatusCode != 503 {
			t.Errorf("blog during its crash loop = %d", resp.StatusCode)
		}
		for n, l := range ls {
			l.check(t, n+" during blog's crash loop")
		}
		st := d.status(t)
		for _, n := range []string{"shop", "lists"} {
			if w := st.app(n).Status.Web; w.State != supervisor.StateRunning {
				t.Errorf("%s was touched by blog's crash loop: %+v", n, w)
			}
		}
		os.WriteFile(asgi, good, 0o644)
	})

	t.Run("one app's user cannot read another's .env", func(t *testing.T) {
		read := func(app, path string) (string, error) {
			out, err := ns.command(binPath, "manage", "--config", cfg, app, "shell", "-c", fmt.Sprintf("print(open(%q).read())", path)).CombinedOutput()
			return string(out), err
		}
		for _, tc := range []struct{ app, other string }{{"blog", shop}, {"shop", blog}, {"lists", shop}, {"lists", blog}} {
			if out, err := read(tc.app, filepath.Join(tc.other, ".env")); err == nil || !strings.Contains(out, "PermissionError") || strings.Contains(out, "DJANGO_SECRET_KEY") {
				t.Errorf("%s's user read %s/.env: %v\n%s", tc.app, tc.other, err, out)
			}
		}
		if out, err := read("shop", filepath.Join(shop, ".env")); err != nil || !strings.Contains(out, "DJANGO_SECRET_KEY=") {
			t.Errorf("shop's user cannot read its own .env: %v\n%s", err, out)
		}
	})
}
