package appliance

import (
	"frontdoor/internal/testkit"

	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"frontdoor/supervisor"
)

// TestInitRunRestartDeploy is the Django site's life through the real
// binary: `frontdoor init` on the example project writes a configuration
// that `check` accepts and `run` serves (the page, its hashed stylesheet,
// a protected download); kill -9 of the gunicorn master gives 503 pages
// and no failed connection until the restarted generation serves; a deploy
// under wrk load fails no request and serves the new text; SIGTERM stops
// everything.
func TestInitRunRestartDeploy(t *testing.T) {
	needDjango(t)
	t.Parallel()
	project := copyMysite(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "frontdoor.toml")

	out, err := cli(t, "init", project, "--config", cfg)
	if err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	for _, want := range []string{"inspected " + project, "gunicorn mysite.wsgi:application", "no problem found",
		"created " + filepath.Join(project, "staticfiles"), "wrote " + cfg} {
		if !strings.Contains(out, want) {
			t.Errorf("init output lacks %q:\n%s", want, out)
		}
	}
	text, _ := os.ReadFile(cfg)
	for _, want := range []string{`hosts = ["localhost", "127.0.0.1"]`, `app = "mysite"`, `path = "/static/"`,
		`static = "` + filepath.Join(project, "staticfiles") + `"`, `path = "/_protected/"`, "internal = true"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("the written configuration lacks %q:\n%s", want, text)
		}
	}
	// init replaces the file it wrote while nobody edited it ...
	if out, err := cli(t, "init", project, "--config", cfg); err != nil {
		t.Errorf("init refused to replace its own untouched file: %v\n%s", err, out)
	}

	addr := freePort(t)
	appendTo(t, cfg, serverTable(addr, dir))
	// Two gunicorn workers are enough here: uncomment the key init wrote.
	text, _ = os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(text), "# workers = ", "workers = 2 # was ", 1)), 0o644)
	// ... and not once it was edited.
	if out, err := cli(t, "init", project, "--config", cfg); err == nil || !strings.Contains(out, "--force") {
		t.Errorf("init replaced an edited configuration without --force: %v\n%s", err, out)
	}
	if out, err := cli(t, "check", "--config", cfg); err != nil {
		t.Fatalf("check refused what init wrote: %v\n%s", err, out)
	}

	d := startDaemon(t, dir, addr)
	var page rawResponse
	await(t, 60*time.Second, "the page", func() bool {
		page, err = rawGet(addr, "/", "localhost")
		return err == nil && page.status == 200
	})
	css := regexp.MustCompile(`/static/pages/site\.[0-9a-f]{12}\.css`).FindString(page.body)
	if css == "" || !strings.Contains(page.body, "version 1") {
		t.Fatalf("the page has no hashed stylesheet or version text:\n%s", page.body)
	}
	if r, err := rawGet(addr, css, "localhost"); err != nil || r.status != 200 || !strings.Contains(r.headers, "immutable") {
		t.Errorf("GET %s = %d %v\n%s", css, r.status, err, r.headers)
	}
	hello, _ := os.ReadFile(filepath.Join(project, "protected", "hello.txt"))
	if r, err := rawGet(addr, "/protected/hello.txt", "localhost"); err != nil || r.status != 200 || r.body != string(hello) {
		t.Errorf("protected download = %d %v %q", r.status, err, r.body)
	}
	if r, err := rawGet(addr, "/_protected/hello.txt", "localhost"); err != nil || r.status != 404 {
		t.Errorf("direct request to the internal location = %d %v", r.status, err)
	}
	out, err = cli(t, "status", "--json", "--config", cfg)
	var st StatusReport
	if err != nil || json.Unmarshal([]byte(out), &st) != nil || st.App == nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if st.App.Web.State != supervisor.StateRunning || st.App.Web.Generation != 1 || st.App.Web.PID == 0 {
		t.Fatalf("web = %+v", st.App.Web)
	}

	t.Run("kill -9 the gunicorn master", func(t *testing.T) { killMaster(t, d, st.App.Web.PID) })
	t.Run("deploy under wrk", func(t *testing.T) { deployUnderLoad(t, d, project) })

	metrics, err := d.client().Metrics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	samples := checkExposition(t, metrics)
	for series, want := range map[string]string{
		`frontdoor_process_state{app="mysite",process="web",state="running"}`: "1",
		`frontdoor_process_restarts_total{app="mysite",process="web"}`:        "1",
		`frontdoor_app_serving{app="mysite"}`:                                 "1",
		`frontdoor_deploys_total{app="mysite",result="succeeded"}`:            "2", // the first start and the deploy
		`frontdoor_events_total{app="mysite",kind="exited"}`:                  "1",
	} {
		if samples[series] != want {
			t.Errorf("metric %s = %q, want %s", series, samples[series], want)
		}
	}
	// Resource use is sampled every 5 s: the new generation may not have
	// been measured yet.
	await(t, 15*time.Second, "the new generation's RSS in the metrics", func() bool {
		m, err := d.client().Metrics(context.Background())
		if err != nil {
			return false
		}
		v := checkExposition(t, m)[`frontdoor_process_resident_memory_bytes{app="mysite",process="web"}`]
		return v != "" && v != "0"
	})

	text2, err := cli(t, "status", "--config", cfg)
	if err != nil || !strings.Contains(text2, "running") || !strings.Contains(text2, "deploy-succeeded") {
		t.Errorf("status: %v\n%s", err, text2)
	}
	t.Logf("frontdoor status:\n%s", text2)

	pids := appPIDs(d.status(t))
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := waitExit(d.cmd, 40*time.Second); err != nil {
		t.Fatalf("after SIGTERM: %v", err)
	}
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("process %d survived frontdoor's stop", pid)
		}
	}
	if _, err := os.Stat(d.socket); !os.IsNotExist(err) {
		t.Errorf("the admin socket is left behind: %v", err)
	}
}

// appPIDs are the application's processes in a status.
func appPIDs(st StatusReport) []int {
	var pids []int
	if st.App != nil {
		for _, p := range append([]supervisor.ProcessStatus{st.App.Web}, st.App.Processes...) {
			if p.PID > 0 {
				pids = append(pids, p.PID)
			}
		}
	}
	return pids
}

// waitExit waits for cmd to exit and returns its error (nil: status 0).
func waitExit(cmd *exec.Cmd, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		cmd.Process.Kill()
		return fmt.Errorf("did not exit within %s", timeout)
	}
}

// killMaster kills the gunicorn master with SIGKILL while a client sends
// requests on fresh connections: each must get an HTTP answer (503 while
// the app is down), and the restarted generation must serve within the
// first backoff delay (1 s) plus a boot.
func killMaster(t *testing.T, d *daemon, pid int) {
	var mu sync.Mutex
	counts := map[int]int{}
	var failures []string
	stop := make(chan struct{})
	done := make(chan struct{})
	var killedAt, backAt time.Time
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
				if r.status == 503 && !strings.Contains(r.headers, "Retry-After") {
					failures = append(failures, "503 without Retry-After")
				}
				if r.status == 200 && !killedAt.IsZero() && backAt.IsZero() && counts[503]+counts[502] > 0 {
					backAt = time.Now()
				}
			}
			mu.Unlock()
		}
	}()
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	killedAt = time.Now()
	mu.Unlock()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	await(t, 30*time.Second, "the restarted generation to serve", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return !backAt.IsZero()
	})
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-done
	restart := backAt.Sub(killedAt)
	t.Logf("kill -9 of the gunicorn master: answers %v, connection failures %d, back after %s", counts, len(failures), restart.Round(time.Millisecond))
	if len(failures) > 0 {
		t.Errorf("requests failed during the restart: %v", failures[:min(5, len(failures))])
	}
	if counts[503] == 0 {
		t.Errorf("no 503 page while the app was down: %v", counts)
	}
	if restart > 10*time.Second {
		t.Errorf("the app came back after %s, want within the 1 s backoff plus a boot", restart)
	}
	st := d.status(t)
	if st.App.Web.Generation != 2 || st.App.Web.Restarts != 1 || st.App.Web.State != supervisor.StateRunning {
		t.Errorf("after the restart: web %+v", st.App.Web)
	}
}

// wrkResult is what the test reads from wrk's report.
type wrkResult struct {
	requests     int
	non2xx       int
	socketErrors string
	report       string
}

var (
	wrkRequests = regexp.MustCompile(`(\d+) requests in`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSocket   = regexp.MustCompile(`Socket errors: .*`)
)

// deployUnderLoad changes /version/'s text and deploys while wrk runs:
// wrk must report no non-2xx response and no socket error, and the new
// text must be served after.
func deployUnderLoad(t *testing.T, d *daemon, project string) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("wrk missing (apt-get install wrk)")
	}
	versionFile := filepath.Join(project, "mysite", "version.py")
	if err := os.WriteFile(versionFile, []byte("MESSAGE = \"version 2\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// wrk runs until the deploy is over and a second after, however long
	// a loaded machine makes it, and is then stopped (it reports on
	// SIGINT); a request waits up to 30 s before wrk counts it as a
	// timeout, so only a request the deploy failed counts.
	load := exec.Command(wrk, "-t2", "-c8", "-d300s", "--timeout", "30s", "-H", "Host: localhost", "http://"+d.addr+"/version/")
	var out syncBuffer
	load.Stdout, load.Stderr = &out, &out
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	defer load.Process.Kill()
	time.Sleep(time.Second) // the load under way before the deploy starts
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	res, err := d.client().Deploy(ctx, "")
	if err != nil || !res.OK {
		t.Fatalf("deploy: %v %+v", err, res)
	}
	time.Sleep(time.Second)
	load.Process.Signal(os.Interrupt)
	if err := load.Wait(); err != nil {
		t.Fatalf("wrk: %v\n%s", err, out.String())
	}
	w := wrkResult{report: out.String()}
	if m := wrkRequests.FindStringSubmatch(w.report); m != nil {
		fmt.Sscan(m[1], &w.requests)
	}
	if m := wrkNon2xx.FindStringSubmatch(w.report); m != nil {
		fmt.Sscan(m[1], &w.non2xx)
	}
	w.socketErrors = wrkSocket.FindString(w.report)
	t.Logf("deploy under load: %d requests, %d non-2xx, socket errors: %q; deploy took %s (generation %d replaced %d)",
		w.requests, w.non2xx, w.socketErrors, res.Report.Finished.Sub(res.Report.Started).Round(time.Millisecond),
		res.Report.Generation, res.Report.Replaced)
	if w.requests == 0 || w.non2xx != 0 || w.socketErrors != "" {
		t.Errorf("wrk under deploy:\n%s", w.report)
	}
	if r, err := rawGet(d.addr, "/version/", "localhost"); err != nil || r.body != "version 2" {
		t.Errorf("after the deploy /version/ = %q %v", r.body, err)
	}
}

// TestCrashLoopIsReported runs an application that cannot import: the
// web process goes FATAL with its exit code and stderr in `frontdoor
// status`, the edge answers 503 for the app and keeps serving the static
// files of the site generated from [app] (no [[site]] in the file).
func TestCrashLoopIsReported(t *testing.T) {
	needDjango(t)
	t.Parallel()
	project := copyMysite(t)
	appendTo(t, filepath.Join(project, "mysite", "wsgi.py"), "\nimport frontdoor_test_no_such_module  # noqa\n")
	static := filepath.Join(project, "staticfiles")
	os.Mkdir(static, 0o755)
	testkit.GiveToAppUser(t, project)
	dir := t.TempDir()
	addr := freePort(t)
	text := fmt.Sprintf("[app]\ndir = %q\nworkers = 1\nstatic_url = \"/static/\"\nstatic_root = %q\n", project, static) + serverTable(addr, dir)
	os.WriteFile(filepath.Join(dir, "frontdoor.toml"), []byte(text), 0o644)
	// systemd's notification socket: the STATUS= lines must say FATAL.
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "notify.sock"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	var notes syncBuffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := notify.Read(buf)
			if err != nil {
				return
			}
			notes.Write(append(buf[:n:n], '\n'))
		}
	}()
	d := startDaemon(t, dir, addr, "NOTIFY_SOCKET="+filepath.Join(dir, "notify.sock"))

	var st StatusReport
	await(t, 60*time.Second, "web to be FATAL", func() bool {
		var ok bool
		st, ok = d.tryStatus()
		return ok && st.App != nil && st.App.Web.State == supervisor.StateFatal
	})
	web := st.App.Web
	if web.LastExit == nil || (web.LastExit.Code != 3 && web.LastExit.Code != 4 && web.LastExit.Code != 1) {
		t.Errorf("last exit = %+v", web.LastExit)
	}
	if web.LastExit != nil && !strings.Contains(strings.Join(web.LastExit.Stderr, "\n"), "frontdoor_test_no_such_module") {
		t.Errorf("stderr tail does not name the import error: %q", web.LastExit.Stderr)
	}
	out, err := cli(t, "status", "--admin", d.socket)
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	for _, want := range []string{"FATAL", "exit code", "frontdoor_test_no_such_module", "nothing: the edge answers 503"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	r, err := rawGet(addr, "/", "localhost")
	if err != nil || r.status != 503 || !strings.Contains(r.headers, "Retry-After") {
		t.Errorf("GET / while the app is FATAL = %d %v\n%s", r.status, err, r.headers)
	}
	entries, _ := filepath.Glob(filepath.Join(static, "pages", "site.*.css"))
	if len(entries) == 0 {
		t.Fatalf("collectstatic did not run")
	}
	css := "/static/pages/" + filepath.Base(entries[0])
	if r, err := rawGet(addr, css, "anything.example"); err != nil || r.status != 200 {
		t.Errorf("GET %s while the app is FATAL = %d %v", css, r.status, err)
	}
	if d.cmd.ProcessState != nil {
		t.Fatalf("frontdoor exited: %v", d.cmd.ProcessState)
	}
	await(t, 10*time.Second, "a STATUS= line saying FATAL", func() bool {
		return strings.Contains(notes.String(), "STATUS=web FATAL: ")
	})
	// The import error's traceback is one log record (level ERROR), not a
	// record per line.
	oneRecord := regexp.MustCompile(`level=ERROR msg="Traceback \(most recent call last\):\\n(?:[^"\\]|\\.)*ModuleNotFoundError: No module named 'frontdoor_test_no_such_module'" [^\n]*proc=web`)
	if !oneRecord.MatchString(d.stderr.String()) {
		t.Errorf("the traceback is not one record in the log:\n%s", lastLogLines(d.stderr.String(), 30))
	}
}
