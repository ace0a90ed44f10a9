package appliance

import (
	"frontdoor/internal/testkit"

	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"frontdoor/acme"
	"frontdoor/state"
	"frontdoor/supervisor"
)

// fakeProject is a directory with a manage.py, enough for [app] to pass.
func fakeProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "manage.py"), []byte("# manage.py\n"), 0o644)
	os.Mkdir(filepath.Join(dir, "staticfiles"), 0o755)
	testkit.GiveToAppUser(t, dir)
	return dir
}

func TestAppConfigMapsOntoSupervisor(t *testing.T) {
	dir := fakeProject(t)
	text := fmt.Sprintf(`[app]
dir = %q
server = "uvicorn"
module = "mysite.asgi:application"
workers = 3
args = ["--max-requests", "1000"]
env = ["DJANGO_SETTINGS_MODULE=mysite.settings"]
migrate = false
postgres_interval = "2s"
stop_timeout = "20s"
websocket_grace = "1m"
memory_limit = "512MiB"
backoff_max = "30s"
static_url = "/static/"
static_root = %q

[[app.process]]
name = "celery"
command = ["python", "-m", "celery", "-A", "mysite", "worker"]
`, dir, filepath.Join(dir, "staticfiles"))
	c, err := ParseConfig("frontdoor.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	sc := c.Apps[0].supervisorConfig("/run/frontdoor/app1")
	checks := []struct {
		name      string
		got, want any
	}{
		{"ProjectDir", sc.ProjectDir, dir},
		{"RuntimeDir", sc.RuntimeDir, "/run/frontdoor/app1"},
		{"Server", sc.Server, supervisor.ServerUvicorn},
		{"App", sc.App, "mysite.asgi:application"},
		{"Workers", sc.Workers, 3},
		{"ExtraArgs", strings.Join(sc.ExtraArgs, " "), "--max-requests 1000"},
		{"Env", strings.Join(sc.Env, " "), "DJANGO_SETTINGS_MODULE=mysite.settings"},
		{"NoMigrate", sc.NoMigrate, true},
		{"NoCollectStatic", sc.NoCollectStatic, false},
		{"PostgresInterval", sc.PostgresInterval, 2 * time.Second},
		{"StopTimeout", sc.StopTimeout, 20 * time.Second},
		{"WebSocketGrace", sc.WebSocketGrace, time.Minute},
		{"RSSLimit", sc.RSSLimit, uint64(512 << 20)},
		{"MaxBackoff", sc.MaxBackoff, 30 * time.Second},
		{"Processes", fmt.Sprint(sc.Processes), "[{celery [python -m celery -A mysite worker] []}]"},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if _, err := supervisor.New(sc); err != nil {
		t.Errorf("the supervisor refuses the mapped config: %v", err)
	}

	// No [[site]]: the usual Django site is generated, behind the app group.
	pc := c.engineConfig(slog.New(slog.DiscardHandler), nil)
	if len(pc.Upstreams) != 1 || pc.Upstreams[0].Name != appGroup("app") || len(pc.Upstreams[0].Servers) != 0 {
		t.Errorf("upstreams = %+v", pc.Upstreams)
	}
	if len(pc.Sites) != 1 || len(pc.Sites[0].Hosts) != 0 || len(pc.Sites[0].Routes) != 2 ||
		pc.Sites[0].Routes[0].Upstream != appGroup("app") || pc.Sites[0].Routes[1].Prefix != "/static/" ||
		pc.Sites[0].Routes[1].Static.Root != filepath.Join(dir, "staticfiles") {
		t.Errorf("generated site = %+v", pc.Sites)
	}

	off, err := ParseConfig("f.toml", []byte(fmt.Sprintf("[app]\ndir = %q\nrelease_steps = false\n", dir)))
	if err != nil {
		t.Fatal(err)
	}
	if sc := off.Apps[0].supervisorConfig("/run/x"); !sc.NoMigrate || !sc.NoCollectStatic || !sc.NoWaitPostgres {
		t.Errorf("release_steps = false left a step on: %+v", sc)
	}
}

// TestAppConfigErrors covers each mistake in [app]: the message names the
// file, the line and the key, and says what to do.
func TestAppConfigErrors(t *testing.T) {
	dir := fakeProject(t)
	head := fmt.Sprintf("[app]\ndir = %q\n", dir)
	tests := []struct {
		name, text string
		line       int
		key        string
		contains   string
	}{
		{"no dir", "[app]\nworkers = 2\n", 1, "app.dir", "has no dir"},
		{"relative dir", "[app]\ndir = \"mysite\"\n", 2, "app.dir", "not an absolute path"},
		{"no manage.py", "[app]\ndir = \"/\"\n", 2, "app.dir", "no manage.py"},
		{"bad server", head + "server = \"waitress\"\n", 3, "app.server", "not an application server"},
		{"bad module", head + "module = \"mysite.wsgi\"\n", 3, "app.module", "module:attribute"},
		{"negative workers", head + "workers = -1\n", 3, "app.workers", "negative"},
		{"bad env", head + "env = [\"NOEQUALS\"]\n", 3, "app.env[0]", "KEY=VALUE"},
		{"bad size", head + "memory_limit = \"lots\"\n", 3, "app.memory_limit", "not a size"},
		{"bad duration", head + "stop_timeout = \"soon\"\n", 3, "app.stop_timeout", "not a duration"},
		{"backoff order", head + "backoff_min = \"10s\"\nbackoff_max = \"1s\"\n", 4, "app.backoff_max", "below backoff_min"},
		{"url without root", head + "static_url = \"/static/\"\n", 3, "app.static_url", "no static_root"},
		{"media url without root", head + "media_url = \"/media/\"\n", 3, "app.media_url", "go together"},
		{"missing root", head + "media_url = \"/media/\"\nmedia_root = \"/nonexistent/media\"\n", 4, "app.media_root", "not a directory"},
		{"bad url", head + fmt.Sprintf("static_url = \"static\"\nstatic_root = %q\n", dir), 3, "app.static_url", "start and end with /"},
		{"process name", head + "[[app.process]]\nname = \"Celery Worker\"\ncommand = [\"x\"]\n", 4, "app.process[0].name", "not a process name"},
		{"process web", head + "[[app.process]]\nname = \"web\"\ncommand = [\"x\"]\n", 4, "app.process[0].name", "web process"},
		{"no command", head + "[[app.process]]\nname = \"celery\"\ncommand = []\n", 5, "app.process[0].command", "no command"},
		{"upstream named app", head + "[[upstream]]\nname = \"app\"\nservers = [\"127.0.0.1:8000\"]\n", 4, "upstream[0].name", "[app]"},
		{"unknown key", head + "worker = 3\n", 3, "app.worker", "unknown key"},
		{"no manage.py, no settings", fmt.Sprintf("[app]\ndir = %q\n", t.TempDir()), 2, "app.dir", "no settings module"},
		{"bad settings", head + "settings = \"my-site.settings\"\n", 3, "app.settings", "not a module name"},
		{"relative pythonpath", head + "pythonpath = [\"src\"]\n", 3, "app.pythonpath[0]", "not an absolute path"},
		{"root user", head + "user = \"root\"\n", 3, "app.user", "never runs the application as root"},
		{"release step name", head + "[[app.release]]\nname = \"migrate\"\ncommand = [\"manage\", \"x\"]\n", 4, "app.release[0].name", "built-in"},
		{"release step command", head + "[[app.release]]\nname = \"compress\"\n", 3, "app.release[0].command", "no command"},
		{"site without the static route", head + fmt.Sprintf("static_url = \"/static/\"\nstatic_root = %q\n", filepath.Join(dir, "staticfiles")) +
			"[[site]]\n[[site.route]]\npath = \"/\"\nupstream = \"app\"\n", 5, "site[0]", "no static route"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("frontdoor.toml", []byte(tc.text))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.text)
			}
			want := fmt.Sprintf("frontdoor.toml:%d: %s: ", tc.line, tc.key)
			msg := err.Error()
			if !strings.Contains(msg, want) || !strings.Contains(msg, tc.contains) || !strings.Contains(msg, "fix:") {
				t.Errorf("error %q\nwant %q with %q and a fix", msg, want, tc.contains)
			}
		})
	}

	// Without manage.py, a settings module says what to run; a site with
	// the static route passes.
	noManage := t.TempDir()
	ok := fmt.Sprintf("[app]\ndir = %q\nsettings = \"graphite.settings\"\npythonpath = [%q]\nstatic_url = \"/static/\"\nstatic_root = %q\n"+
		"[[app.release]]\nname = \"compress\"\ncommand = [\"manage\", \"compress\"]\ntimeout = \"2m\"\noptional = true\nenabled = false\n"+
		"[[site]]\n[[site.route]]\npath = \"/\"\nupstream = \"app\"\n[[site.route]]\npath = \"/static\"\nstatic = %q\n",
		noManage, noManage, dir, dir)
	c, err := ParseConfig("f.toml", []byte(ok))
	if err != nil {
		t.Fatalf("a project without manage.py, with settings and its static route: %v", err)
	}
	sc := c.Apps[0].supervisorConfig("/run/x")
	if sc.Settings != "graphite.settings" || len(sc.PythonPath) != 1 || len(sc.Release) != 1 || !sc.Release[0].Off ||
		!sc.Release[0].Optional || sc.Release[0].Timeout != 2*time.Minute {
		t.Errorf("mapped onto %+v", sc)
	}

	// A route may proxy to "app" only when there is an [app].
	site := fmt.Sprintf("[[site]]\n[[site.route]]\npath = \"/\"\nupstream = \"app\"\n")
	if _, err := ParseConfig("f.toml", []byte(head+site)); err != nil {
		t.Errorf("upstream = \"app\" with [app]: %v", err)
	}
	if _, err := ParseConfig("f.toml", []byte(site)); err == nil || !strings.Contains(err.Error(), `no [[upstream]] is named "app"`) {
		t.Errorf("upstream = \"app\" without [app]: %v", err)
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]uint64{
		"1000": 1000, "512MiB": 512 << 20, "2G": 2 << 30, "1.5GiB": 3 << 29, "64k": 64 << 10, "100 MB": 100 << 20,
	} {
		if got, err := parseByteSize(in); err != nil || got != want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "12 parsecs", "-1G"} {
		if _, err := parseByteSize(bad); err == nil {
			t.Errorf("parseByteSize(%q) accepted", bad)
		}
	}
}

// TestWriteStatusText renders a status with a crash-looping app: the
// screen shows FATAL, the exit, the stderr tail, PostgreSQL down, the last
// deploy, the certificates and the events.
func TestWriteStatusText(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.Local)
	exit := &supervisor.ExitInfo{Time: now.Add(-5 * time.Second), Code: 4, Ran: 800 * time.Millisecond,
		Stderr: []string{"Traceback (most recent call last):", "ModuleNotFoundError: No module named 'oops'"}}
	rep := StatusReport{
		PID: 42, Started: now.Add(-3 * time.Hour), Config: "/etc/frontdoor/frontdoor.toml",
		Edge: EdgeStatus{Listeners: []ListenerStatus{{Name: "http", Addr: "0.0.0.0:80"}, {Name: "https", Addr: "0.0.0.0:443", TLS: true}},
			Workers: 2, Connections: 7, Requests: 1234, RequestsPerSecond: 12.5, RateInterval: 5 * time.Second},
		App: &supervisor.Status{
			Server: supervisor.ServerGunicorn, App: "mysite.wsgi:application",
			Web: supervisor.ProcessStatus{Name: "web", State: supervisor.StateFatal, Restarts: 3, LastExit: exit,
				Error: "gunicorn: app failed to load (exit code 4)", NextRetry: now.Add(55 * time.Second)},
			Processes: []supervisor.ProcessStatus{{Name: "celery", State: supervisor.StateRunning, PID: 77,
				Uptime: 2 * time.Hour, CPUPercent: 1.5, RSSBytes: 95 << 20}},
			Postgres: supervisor.PostgresStatus{Used: true, State: supervisor.HealthDown, Interval: 10 * time.Second,
				Databases: []supervisor.DatabaseHealth{{Alias: "default", Database: "default: postgresql postgres@127.0.0.1:5432/mysite",
					State: supervisor.HealthDown, Since: now.Add(-time.Minute), Error: "connection refused"}}},
			LastDeploy: &supervisor.DeployReport{Kind: supervisor.KindDeploy, Started: now.Add(-time.Hour), Finished: now.Add(-time.Hour + 4*time.Second), OK: true, Generation: 3},
		},
		Certificates: []acme.CertStatus{{Name: "example.com", Source: "acme", State: "valid", NotAfter: now.Add(60 * 24 * time.Hour)}},
		Events:       []state.Event{{Time: now.Add(-5 * time.Second), Source: "supervisor", Kind: "fatal", Message: "web cannot boot", Attrs: map[string]string{"process": "web"}}},
	}
	var b bytes.Buffer
	WriteStatus(&b, rep, now)
	text := b.String()
	for _, want := range []string{
		"pid 42 · up 3h00m", "http 0.0.0.0:80 · https 0.0.0.0:443 · 2 workers", "7 connections · 1234 requests · 12.5 req/s (last 5.0s)",
		"gunicorn mysite.wsgi:application → nothing: the edge answers 503",
		"FATAL", "gunicorn: app failed to load (exit code 4); next attempt in 55s or at the next deploy",
		"last exit: exit code 4", "| ModuleNotFoundError: No module named 'oops'",
		"celery", "95.0 MiB", "1.5%",
		"postgres  down", "connection refused",
		"last deploy 59m56s ago, took 4.0s: ok (generation 3)",
		"example.com  valid (acme) until",
		"web cannot boot",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("status lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "\n"); n > 40 {
		t.Errorf("status takes %d lines: not one screen", n)
	}
}

// TestWriteStatusDrainingAndLastFailure: the screen shows a generation
// still draining after a deploy, and the last failure of a process that
// recovered, with its exit reason.
func TestWriteStatusDrainingAndLastFailure(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.Local)
	exit := &supervisor.ExitInfo{Time: now.Add(-2 * time.Minute), Code: 1, Ran: 2 * time.Second}
	rep := StatusReport{PID: 1, Started: now.Add(-time.Hour), App: &supervisor.Status{
		Server: supervisor.ServerGunicorn, App: "mysite.wsgi:application", Upstream: "unix:/run/frontdoor/app1/web-5.sock",
		Web:      supervisor.ProcessStatus{Name: "web", Generation: 5, State: supervisor.StateRunning, PID: 500, Uptime: time.Minute},
		Draining: []supervisor.ProcessStatus{{Name: "web", Generation: 4, State: supervisor.StateDraining, PID: 400, Uptime: time.Hour}},
		Processes: []supervisor.ProcessStatus{{Name: "celery", State: supervisor.StateRunning, PID: 77, Restarts: 1,
			LastFailure: &supervisor.Failure{Time: exit.Time, Exit: exit, Reason: "celery exited (exit code 1) after 2s"}}},
	}}
	var b bytes.Buffer
	WriteStatus(&b, rep, now)
	text := b.String()
	for _, want := range []string{"web #5", "web #4", "draining", "celery: last failure 2m00s ago: celery exited (exit code 1) after 2s"} {
		if !strings.Contains(text, want) {
			t.Errorf("status lacks %q:\n%s", want, text)
		}
	}
}

// exposition checks the Prometheus text format: every sample belongs to
// the family announced by the last HELP/TYPE pair, families are not split,
// label values are quoted, values parse.
func checkExposition(t *testing.T, text string) map[string]string {
	t.Helper()
	sample := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*)\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$`)
	samples := map[string]string{}
	family, seen := "", map[string]bool{}
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "# HELP "):
			f := strings.Fields(line)[2]
			if seen[f] {
				t.Errorf("family %s appears twice", f)
			}
			seen[f], family = true, f
		case strings.HasPrefix(line, "# TYPE "):
			if f := strings.Fields(line); f[2] != family || (f[3] != "gauge" && f[3] != "counter") {
				t.Errorf("TYPE line %q out of place", line)
			}
		default:
			m := sample.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("malformed sample %q", line)
				continue
			}
			if m[1] != family {
				t.Errorf("sample %q outside its family (%s)", line, family)
			}
			samples[m[1]+m[2]] = m[4]
		}
	}
	return samples
}
