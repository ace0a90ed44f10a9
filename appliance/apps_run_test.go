package appliance

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"frontdoor/internal/testkit"
	"frontdoor/supervisor"
)

// requestLoop sends one request after the other until stop: each answer
// must be a 200 whose body holds want (a deploy switches between two
// generations of the same text); anything else — a refused or cut
// connection, another status — is a failure.
type requestLoop struct {
	what     string // what is requested, for messages
	mu       sync.Mutex
	ok       int
	failures []string
	done     chan struct{}
}

// startRequests runs a loop of get until stop.
func startRequests(what, want string, get func() (status int, body string, err error), stop <-chan struct{}) *requestLoop {
	l := &requestLoop{what: what, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			status, body, err := get()
			l.mu.Lock()
			switch {
			case err != nil:
				l.failures = append(l.failures, fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), err))
			case status != 200 || !strings.Contains(body, want):
				l.failures = append(l.failures, fmt.Sprintf("%s: %d %.80q", time.Now().Format("15:04:05.000"), status, body))
			default:
				l.ok++
			}
			l.mu.Unlock()
		}
	}()
	return l
}

// startLoop requests path with Host host on new plain-HTTP connections.
func startLoop(addr, host, path, want string, stop <-chan struct{}) *requestLoop {
	return startRequests(host, want, func() (int, string, error) {
		r, err := rawGet(addr, path, host)
		return r.status, r.body, err
	}, stop)
}

// check waits for the loop to end and fails the test on any failed
// request, or when too few got through to prove anything.
func (l *requestLoop) check(t *testing.T, what string) {
	t.Helper()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("%s: %d requests to %s answered, %d failed", what, l.ok, l.what, len(l.failures))
	if len(l.failures) > 0 {
		t.Errorf("%s: %d requests to %s failed, the first: %q", what, len(l.failures), l.what, l.failures[:min(5, len(l.failures))])
	}
	if l.ok < 10 {
		t.Errorf("%s: only %d requests to %s answered: the check proves little", what, l.ok, l.what)
	}
}

// twoMysites is a configuration with two copies of the example project,
// "shop" on shop.localhost and "blog" on blog.localhost, each with its own
// /version/ text; blog has a maintenance page, a release step (it appends
// "blog" to its directory's file released) and a process of its own.
func twoMysites(t *testing.T, addr, dir string) (shop, blog string) {
	t.Helper()
	shop, blog = copyMysite(t), copyMysite(t)
	var text strings.Builder
	for _, app := range []struct{ name, project string }{{"shop", shop}, {"blog", blog}} {
		version := filepath.Join(app.project, "mysite", "version.py")
		if err := os.WriteFile(version, []byte(fmt.Sprintf("MESSAGE = %q\n", app.name+" version 1")), 0o644); err != nil {
			t.Fatal(err)
		}
		static := filepath.Join(app.project, "staticfiles")
		os.Mkdir(static, 0o755)
		testkit.GiveToAppUser(t, app.project)
		page, own := "", ""
		if app.name == "blog" {
			os.WriteFile(filepath.Join(dir, "blog-maintenance.html"), []byte("<!doctype html><h1>The blog is moving house</h1>\n"), 0o644)
			page = fmt.Sprintf("maintenance_page = %q\n", filepath.Join(dir, "blog-maintenance.html"))
			// blog's own release step and process, which shop has not.
			own = `
[[app.release]]
name = "stamp"
command = ["python", "-c", "open('released', 'a').write('blog\\n')"]

[[app.process]]
name = "ticker"
command = ["python", "-c", "import signal; signal.pause()"]
`
		}
		fmt.Fprintf(&text, `[[app]]
%sname = %q
dir = %q
workers = 1
backoff_min = "100ms"
backoff_max = "1s"
env = ["DJANGO_ALLOWED_HOSTS=%s.localhost"]
static_url = "/static/"
static_root = %q
%s
[[site]]
hosts = ["%s.localhost"]
  [[site.route]]
  path = "/"
  app = %q
  [[site.route]]
  path = "/static/"
  static = %q

`, page, app.name, app.project, app.name, static, own, app.name, app.name, static)
	}
	text.WriteString(serverTable(addr, dir))
	if err := os.WriteFile(filepath.Join(dir, "frontdoor.toml"), []byte(text.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return shop, blog
}

// TestTwoAppsStayApart: two Django projects behind one frontdoor, each on
// its own host name, each with its own supervisor and upstream group, and
// blog with a release step and a process of its own that shop has not. A
// deploy of one under load fails no request of either; a failed deploy
// (a release step) of the other leaves both serving; `frontdoor restart
// NAME` replaces that app's gunicorn only; a crash loop of the other (a
// syntax error) leaves the first untouched and is answered 503 on its own
// host only; status is grouped by app, the metrics are labelled by app and
// `frontdoor logs NAME` shows that app's lines only.
func TestTwoAppsStayApart(t *testing.T) {
	needDjango(t)
	t.Parallel()
	dir := t.TempDir()
	addr := freePort(t)
	shop, blog := twoMysites(t, addr, dir)
	if out, err := cli(t, "check", "--config", filepath.Join(dir, "frontdoor.toml")); err != nil || !strings.Contains(out, "2 apps (shop, blog)") {
		t.Fatalf("check: %v\n%s", err, out)
	}
	d := startDaemon(t, dir, addr)
	for _, name := range []string{"shop", "blog"} {
		await(t, 90*time.Second, name+" to serve", func() bool {
			r, err := rawGet(addr, "/version/", name+".localhost")
			return err == nil && r.status == 200 && r.body == name+" version 1"
		})
	}
	st := d.status(t)
	if len(st.Apps) != 2 || st.Apps[0].Name != "shop" || st.Apps[1].Name != "blog" || st.App != nil {
		t.Fatalf("status apps = %+v", st.Apps)
	}
	// Each its own gunicorn on its own socket.
	if s, b := st.Apps[0].Status, st.Apps[1].Status; s.Upstream == "" || s.Upstream == b.Upstream || s.Web.PID == b.Web.PID {
		t.Errorf("shop and blog share a socket or a gunicorn: shop %s (%d), blog %s (%d)", s.Upstream, s.Web.PID, b.Upstream, b.Web.PID)
	}
	// blog's own release step ran in blog's directory, and not shop's;
	// blog's own process runs, and shop has none.
	if b, err := os.ReadFile(filepath.Join(blog, "released")); err != nil || string(b) != "blog\n" {
		t.Errorf("blog's release step: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(shop, "released")); err == nil {
		t.Errorf("blog's release step ran in shop's directory")
	}
	await(t, 30*time.Second, "blog's ticker to run", func() bool {
		st, ok := d.tryStatus()
		b := st.app("blog")
		return ok && b != nil && b.Status != nil && len(b.Status.Processes) == 1 &&
			b.Status.Processes[0].Name == "ticker" && b.Status.Processes[0].State == supervisor.StateRunning
	})
	if p := d.status(t).app("shop").Status.Processes; len(p) != 0 {
		t.Errorf("shop runs processes of its own: %+v", p)
	}
	out, err := cli(t, "status", "--admin", d.socket)
	if err != nil || !strings.Contains(out, "app shop") || !strings.Contains(out, "app blog") {
		t.Errorf("status is not grouped by app: %v\n%s", err, out)
	}
	metrics, err := d.client().Metrics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	samples := checkExposition(t, metrics)
	for _, name := range []string{"shop", "blog"} {
		if v := samples[fmt.Sprintf(`frontdoor_process_state{app=%q,process="web",state="running"}`, name)]; v != "1" {
			t.Errorf("metrics: %s's web running = %q", name, v)
		}
	}

	t.Run("deploy shop under load", func(t *testing.T) {
		os.WriteFile(filepath.Join(shop, "mysite", "version.py"), []byte(`MESSAGE = "shop version 2"`+"\n"), 0o644)
		// `frontdoor logs shop -f` follows shop's lines through the deploy.
		var followed syncBuffer
		follow := exec.Command(binPath, "logs", "shop", "-f", "-n", "1", "--admin", d.socket)
		follow.Stdout, follow.Stderr = &followed, &followed
		if err := follow.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { follow.Process.Kill(); follow.Wait() }()
		stop := make(chan struct{})
		shopLoop := startLoop(addr, "shop.localhost", "/version/", "shop version", stop)
		blogLoop := startLoop(addr, "blog.localhost", "/version/", "blog version 1", stop)
		time.Sleep(500 * time.Millisecond)
		out, err := cli(t, "deploy", "shop", "--admin", d.socket)
		time.Sleep(500 * time.Millisecond)
		close(stop)
		if err != nil || !strings.Contains(out, "shop: deploy ok") {
			t.Fatalf("frontdoor deploy shop: %v\n%s", err, out)
		}
		shopLoop.check(t, "shop during its deploy")
		blogLoop.check(t, "blog during shop's deploy")
		if r, err := rawGet(addr, "/version/", "shop.localhost"); err != nil || r.body != "shop version 2" {
			t.Errorf("after the deploy shop says %q %v", r.body, err)
		}
		await(t, 10*time.Second, "logs -f to show shop's deploy", func() bool {
			return strings.Contains(followed.String(), `msg="web ready"`) && strings.Contains(followed.String(), "kind=deploy")
		})
		if strings.Contains(followed.String(), "app=blog") {
			t.Errorf("logs shop shows blog's lines:\n%s", followed.String())
		}
		if out, err := cli(t, "deploy", "--admin", d.socket); err == nil || !strings.Contains(out, "several apps: name one: shop, blog") {
			t.Errorf("deploy without a name among two apps: %v\n%s", err, out)
		}
		if out, err := cli(t, "deploy", "nosuch", "--admin", d.socket); err == nil || !strings.Contains(out, `no such app "nosuch" (the apps: shop, blog)`) {
			t.Errorf("deploy of an unknown app: %v\n%s", err, out)
		}
	})

	t.Run("failed deploy of blog, restart of shop", func(t *testing.T) {
		// A settings file that does not import: blog's migrate fails, its
		// serving generation (which imported the settings long ago) goes
		// on, and shop sees nothing of it.
		settings := filepath.Join(blog, "mysite", "settings.py")
		good, _ := os.ReadFile(settings)
		os.WriteFile(settings, append(append([]byte{}, good...), []byte("\ndef broken(:\n")...), 0o644)
		stop := make(chan struct{})
		shopLoop := startLoop(addr, "shop.localhost", "/version/", "shop version 2", stop)
		blogLoop := startLoop(addr, "blog.localhost", "/version/", "blog version 1", stop)
		blogMaster := d.status(t).app("blog").Status.Web.PID
		out, err := cli(t, "deploy", "blog", "--admin", d.socket)
		os.WriteFile(settings, good, 0o644)
		if err == nil || !strings.Contains(out, "blog: deploy FAILED") || !strings.Contains(out, "SyntaxError") ||
			!strings.Contains(out, "the generation that was serving keeps serving") {
			t.Errorf("deploy of blog with a broken settings file: %v\n%s", err, out)
		}
		if pid := d.status(t).app("blog").Status.Web.PID; pid != blogMaster {
			t.Errorf("blog's failed deploy replaced its gunicorn (%d → %d)", blogMaster, pid)
		}
		// The failed step's output is in blog's log, and nowhere in shop's.
		if out, err := cli(t, "logs", "blog", "-n", "200", "--admin", d.socket); err != nil || !strings.Contains(out, "step=migrate") || !strings.Contains(out, "SyntaxError") {
			t.Errorf("frontdoor logs blog lacks the failed release step: %v\n%s", err, out)
		}
		if out, err := cli(t, "logs", "shop", "-n", "2000", "--admin", d.socket); err != nil || strings.Contains(out, "SyntaxError") || strings.Contains(out, "app=blog") {
			t.Errorf("frontdoor logs shop shows blog's failure: %v\n%s", err, out)
		}

		// `frontdoor restart shop`: a new gunicorn for shop, the same for blog.
		shopMaster := d.status(t).app("shop").Status.Web.PID
		out, err = cli(t, "restart", "shop", "--admin", d.socket)
		time.Sleep(300 * time.Millisecond)
		close(stop)
		if err != nil || !strings.Contains(out, "shop: restart ok") {
			t.Errorf("frontdoor restart shop: %v\n%s", err, out)
		}
		st := d.status(t)
		if pid := st.app("shop").Status.Web.PID; pid == shopMaster || syscall.Kill(pid, 0) != nil {
			t.Errorf("frontdoor restart shop: shop's gunicorn is %d, was %d", pid, shopMaster)
		}
		if pid := st.app("blog").Status.Web.PID; pid != blogMaster {
			t.Errorf("frontdoor restart shop replaced blog's gunicorn (%d → %d)", blogMaster, pid)
		}
		shopLoop.check(t, "shop during blog's failed deploy and its own restart")
		blogLoop.check(t, "blog during its failed deploy and shop's restart")
	})

	t.Run("crash loop of blog", func(t *testing.T) {
		wsgi := filepath.Join(blog, "mysite", "wsgi.py")
		good, _ := os.ReadFile(wsgi)
		os.WriteFile(wsgi, append(append([]byte{}, good...), []byte("\ndef broken(:\n")...), 0o644)
		stop := make(chan struct{})
		shopLoop := startLoop(addr, "shop.localhost", "/version/", "shop version 2", stop)
		blogApp := d.status(t).app("blog")
		syscall.Kill(blogApp.Status.Web.PID, syscall.SIGKILL)
		await(t, 60*time.Second, "blog's web to fail twice", func() bool {
			st, ok := d.tryStatus()
			b := st.app("blog")
			return ok && b != nil && b.Status != nil && b.Status.Web.Restarts >= 2 &&
				(b.Status.Web.State == supervisor.StateBackoff || b.Status.Web.State == supervisor.StateFatal)
		})
		r, err := rawGet(addr, "/version/", "blog.localhost")
		close(stop)
		if err != nil || r.status != 503 || !strings.Contains(r.headers, "Retry-After") {
			t.Errorf("blog during its crash loop = %d %v", r.status, err)
		}
		shopLoop.check(t, "shop during blog's crash loop")
		if s := d.status(t).app("shop"); s.Status.Web.Restarts != 0 || s.Status.Web.State != supervisor.StateRunning {
			t.Errorf("shop was touched by blog's crash loop: %+v", s.Status.Web)
		}
		out, err := cli(t, "status", "--admin", d.socket)
		if err != nil || !strings.Contains(out, "SyntaxError") {
			t.Errorf("status does not show blog's SyntaxError: %v\n%s", err, out)
		}
		out, err = cli(t, "logs", "blog", "-n", "100", "--admin", d.socket)
		if err != nil || !strings.Contains(out, "SyntaxError") || !strings.Contains(out, "app=blog") || strings.Contains(out, "app=shop") {
			t.Errorf("frontdoor logs blog: %v\n%s", err, out)
		}

		// Fixed, a deploy of blog brings it back.
		os.WriteFile(wsgi, good, 0o644)
		if out, err := cli(t, "deploy", "blog", "--admin", d.socket); err != nil {
			t.Fatalf("deploy blog after the fix: %v\n%s", err, out)
		}
		if r, err := rawGet(addr, "/version/", "blog.localhost"); err != nil || r.body != "blog version 1" {
			t.Errorf("blog after its fix says %q %v", r.body, err)
		}
	})
}

// TestMaintenanceMode: `frontdoor maintenance on NAME` answers that app's
// routes with a 503 page and Retry-After — [app] maintenance_page, or
// frontdoor's page with the message given — while its static files and
// the other app keep serving; a restart of frontdoor keeps it (state
// file); off brings the app back.
func TestMaintenanceMode(t *testing.T) {
	needDjango(t)
	t.Parallel()
	dir := t.TempDir()
	addr := freePort(t)
	_, blog := twoMysites(t, addr, dir)
	d := startDaemon(t, dir, addr)
	for _, name := range []string{"shop", "blog"} {
		await(t, 90*time.Second, name+" to serve", func() bool {
			r, err := rawGet(addr, "/version/", name+".localhost")
			return err == nil && r.status == 200
		})
	}
	css, _ := filepath.Glob(filepath.Join(blog, "staticfiles", "pages", "site.*.css"))
	if len(css) == 0 {
		t.Fatal("collectstatic did not run")
	}
	cssPath := "/static/pages/" + filepath.Base(css[0])

	stop := make(chan struct{})
	shopLoop := startLoop(addr, "shop.localhost", "/version/", "shop version 1", stop)
	out, err := cli(t, "maintenance", "on", "blog", "--admin", d.socket)
	if err != nil || !strings.Contains(out, "blog is in maintenance") {
		t.Fatalf("maintenance on blog: %v\n%s", err, out)
	}
	inMaintenance := func(when string) {
		t.Helper()
		r, err := rawGet(addr, "/version/", "blog.localhost")
		if err != nil || r.status != 503 || !strings.Contains(r.headers, "Retry-After: 300") || r.body != "<!doctype html><h1>The blog is moving house</h1>\n" {
			t.Errorf("%s: blog = %d %v\n%s%s", when, r.status, err, r.headers, r.body)
		}
		if r, err := rawGet(addr, cssPath, "blog.localhost"); err != nil || r.status != 200 {
			t.Errorf("%s: blog's stylesheet = %d %v", when, r.status, err)
		}
	}
	inMaintenance("maintenance on")
	out, err = cli(t, "status", "--admin", d.socket)
	if err != nil || !strings.Contains(out, "app blog  IN MAINTENANCE since") {
		t.Errorf("status does not show the maintenance:\n%s", out)
	}
	metrics, err := d.client().Metrics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if m := checkExposition(t, metrics); m[`frontdoor_app_maintenance{app="blog"}`] != "1" || m[`frontdoor_app_maintenance{app="shop"}`] != "0" {
		t.Errorf("maintenance metrics: blog %q, shop %q", m[`frontdoor_app_maintenance{app="blog"}`], m[`frontdoor_app_maintenance{app="shop"}`])
	}
	time.Sleep(time.Second) // let the loop on shop run a while
	close(stop)
	shopLoop.check(t, "shop while blog is in maintenance")

	// frontdoor's own page, with the message, for an app without a page.
	if out, err := cli(t, "maintenance", "on", "shop", "--message", "Inventory <today>", "--retry-after", "90s", "--admin", d.socket); err != nil {
		t.Fatalf("maintenance on shop: %v\n%s", err, out)
	}
	r, err := rawGet(addr, "/", "shop.localhost")
	if err != nil || r.status != 503 || !strings.Contains(r.headers, "Retry-After: 90") || !strings.Contains(r.body, "Inventory &lt;today&gt;") ||
		!strings.Contains(r.body, "Down for maintenance") {
		t.Errorf("shop in maintenance = %d %v\n%s%s", r.status, err, r.headers, r.body)
	}
	if out, err := cli(t, "maintenance", "off", "shop", "--admin", d.socket); err != nil || !strings.Contains(out, "shop is out of maintenance") {
		t.Fatalf("maintenance off shop: %v\n%s", err, out)
	}

	// A restart of frontdoor keeps blog in maintenance.
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := waitExit(d.cmd, 60*time.Second); err != nil {
		t.Fatalf("frontdoor did not stop: %v", err)
	}
	d = startDaemon(t, dir, addr)
	await(t, 90*time.Second, "shop to serve after the restart", func() bool {
		r, err := rawGet(addr, "/version/", "shop.localhost")
		return err == nil && r.status == 200
	})
	inMaintenance("after a restart of frontdoor")
	if out, err := cli(t, "maintenance", "off", "blog", "--admin", d.socket); err != nil {
		t.Fatalf("maintenance off blog: %v\n%s", err, out)
	}
	await(t, 60*time.Second, "blog to serve again", func() bool {
		r, err := rawGet(addr, "/version/", "blog.localhost")
		return err == nil && r.status == 200 && r.body == "blog version 1"
	})
	if out, err := cli(t, "maintenance", "on", "--admin", d.socket); err == nil || !strings.Contains(out, "several apps: name one") {
		t.Errorf("maintenance on without a name among two apps: %v\n%s", err, out)
	}
}

// TestReloadAddsAndRemovesAnApp: a reload that adds an app starts it and
// leaves the one that serves alone (same gunicorn master); one that
// removes an app stops it and leaves the other alone; `frontdoor reload`
// says what happened to each.
func TestReloadAddsAndRemovesAnApp(t *testing.T) {
	needDjango(t)
	t.Parallel()
	dir := t.TempDir()
	addr := freePort(t)
	twoMysites(t, addr, dir)
	cfg := filepath.Join(dir, "frontdoor.toml")
	both, _ := os.ReadFile(cfg)
	// shop alone: the file up to blog's [[app]], and the [server] table.
	cut := strings.Index(string(both), "[[app]]\nmaintenance_page")
	server := string(both[strings.Index(string(both), "\n[server]"):])
	os.WriteFile(cfg, []byte(string(both[:cut])+server), 0o644)
	d := startDaemon(t, dir, addr)
	await(t, 90*time.Second, "shop to serve", func() bool {
		r, err := rawGet(addr, "/version/", "shop.localhost")
		return err == nil && r.status == 200
	})
	shopMaster := d.status(t).app("shop").Status.Web.PID

	os.WriteFile(cfg, both, 0o644)
	out, err := cli(t, "reload", "--config", cfg)
	if err != nil || !strings.Contains(out, "blog: [[app]] blog added: the application is starting") ||
		!strings.Contains(out, "shop: no code changed since the serving generation started: nothing to deploy") {
		t.Fatalf("reload adding blog: %v\n%s", err, out)
	}
	await(t, 90*time.Second, "blog to serve", func() bool {
		r, err := rawGet(addr, "/version/", "blog.localhost")
		return err == nil && r.status == 200 && r.body == "blog version 1"
	})
	if pid := d.status(t).app("shop").Status.Web.PID; pid != shopMaster {
		t.Errorf("adding blog replaced shop's gunicorn (%d → %d)", shopMaster, pid)
	}

	// shop removed: it stops; blog goes on.
	blogMaster := d.status(t).app("blog").Status.Web.PID
	blogOnly := string(both[cut:])
	os.WriteFile(cfg, []byte(blogOnly), 0o644)
	out, err = cli(t, "reload", "--config", cfg)
	if err != nil || !strings.Contains(out, "[[app]] shop removed: the application stopped") {
		t.Fatalf("reload removing shop: %v\n%s", err, out)
	}
	await(t, 30*time.Second, "shop's gunicorn to stop", func() bool { return syscall.Kill(shopMaster, 0) != nil })
	st := d.status(t)
	if len(st.Apps) != 1 || st.Apps[0].Name != "blog" || st.Apps[0].Status.Web.PID != blogMaster {
		t.Errorf("after removing shop: %+v", st.Apps)
	}
	if r, err := rawGet(addr, "/version/", "blog.localhost"); err != nil || r.body != "blog version 1" {
		t.Errorf("blog after shop was removed: %d %q %v", r.status, r.body, err)
	}
}

// TestFirstRequestWaitsForTheApps: under socket activation the connection
// that starts frontdoor waited in the listen queue; it must wait for its
// app to boot (start_hold), not get a 503 because the engine accepted it
// before the apps' holds were set — what systemd's frontdoor.socket does
// after a stop, and the end-to-end test checks.
func TestFirstRequestWaitsForTheApps(t *testing.T) {
	needDjango(t)
	activate := needTool(t, "systemd-socket-activate", "systemd")
	t.Parallel()
	dir := t.TempDir()
	addr := freePort(t)
	twoMysites(t, addr, dir)
	cfg := filepath.Join(dir, "frontdoor.toml")
	text, _ := os.ReadFile(cfg)
	// Two apps booting on a busy machine may take a while: requests wait.
	os.WriteFile(cfg, []byte(strings.ReplaceAll(string(text), "backoff_min = ", "start_hold = \"150s\"\nbackoff_min = ")), 0o644)
	// systemd-socket-activate execs frontdoor, LISTEN_PID its own pid, on
	// the first connection.
	cmd := exec.Command(activate, "-l", addr, "--fdname=http", binPath, "run", "--config", cfg)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		if err := waitExit(cmd, 60*time.Second); err != nil {
			t.Errorf("frontdoor did not stop: %v", err)
		}
		if t.Failed() {
			t.Logf("log:\n%s", lastLogLines(logs.String(), 60))
		}
	})
	// blog, the second app: its hold came last.
	var c net.Conn
	await(t, 20*time.Second, "systemd-socket-activate to listen", func() bool {
		var err error
		c, err = net.Dial("tcp", addr)
		return err == nil
	})
	defer c.Close()
	c.SetDeadline(time.Now().Add(170 * time.Second))
	fmt.Fprint(c, "GET /version/ HTTP/1.1\r\nHost: blog.localhost\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("the first request: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "blog version 1" {
		t.Errorf("the first request, which started frontdoor = %d %q", resp.StatusCode, body)
	}
	if r, err := rawGet(addr, "/version/", "shop.localhost"); err != nil || r.status != 200 || r.body != "shop version 1" {
		t.Errorf("shop after the start = %d %q %v", r.status, r.body, err)
	}
}
