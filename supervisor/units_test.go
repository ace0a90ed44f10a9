package supervisor

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseEnv(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string
		err      string
	}{
		{"plain", "A=1\nB=two words\n", []string{"A=1", "B=two words"}, ""},
		{"comments and blanks", "# comment\n\n  A = 1  \n", []string{"A=1"}, ""},
		{"export", "export A=1\n", []string{"A=1"}, ""},
		{"inline comment", "A=1 # the first\n", []string{"A=1"}, ""},
		{"hash without space", "A=abc#def\n", []string{"A=abc#def"}, ""},
		{"single quotes are literal", `A='x # y \n $B'` + "\n", []string{`A=x # y \n $B`}, ""},
		{"double quote escapes", `A="line1\nline2 \"q\" \\ \$HOME"` + "\n", []string{"A=line1\nline2 \"q\" \\ $HOME"}, ""},
		{"empty value", "A=\nB=''\n", []string{"A=", "B="}, ""},
		{"equals in value", "URL=postgres://u:p@h/db?x=1\n", []string{"URL=postgres://u:p@h/db?x=1"}, ""},
		{"comment after quote", `A="x" # c` + "\n", []string{"A=x"}, ""},
		{"CRLF", "A=1\r\nB=2\r\n", []string{"A=1", "B=2"}, ""},
		{"no equals", "A=1\nJUST_A_NAME\n", nil, "line 2"},
		{"bad name", "1A=x\n", nil, "line 1"},
		{"unterminated double", `A="abc` + "\n", nil, "unterminated double quote"},
		{"unterminated single", "A='abc\n", nil, "unterminated single quote"},
		{"junk after quote", `A="x" y` + "\n", nil, "after the closing quote"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseEnv([]byte(c.in))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestChildEnv(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "/run/systemd/notify")
	t.Setenv("LISTEN_FDS", "2")
	t.Setenv("FRONTDOOR_TEST_INHERITED", "kept")
	t.Setenv("OVERRIDDEN", "by-frontdoor")
	envFile := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(envFile, []byte("OVERRIDDEN=by-file\nFROM_FILE=1\nBOTH=file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{EnvFile: envFile, Env: []string{"BOTH=config"}}
	env, err := c.childEnv("EXTRA=proc")
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string) (string, bool) {
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, name+"="); ok {
				return v, true
			}
		}
		return "", false
	}
	for name, want := range map[string]string{
		"FRONTDOOR_TEST_INHERITED": "kept", "OVERRIDDEN": "by-file", "FROM_FILE": "1",
		"BOTH": "config", "EXTRA": "proc", "PYTHONUNBUFFERED": "1",
	} {
		if got, _ := get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	for _, name := range []string{"NOTIFY_SOCKET", "LISTEN_FDS"} {
		if _, ok := get(name); ok {
			t.Errorf("%s reached the child", name)
		}
	}
	names := map[string]int{}
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		names[name]++
		if names[name] > 1 {
			t.Errorf("%s appears twice", name)
		}
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{min: time.Second, max: 60 * time.Second, healthyAfter: 60 * time.Second}
	var got []time.Duration
	for range 8 {
		got = append(got, b.failed(time.Second, false))
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}
	for i := range want {
		want[i] *= time.Second
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("delays = %v, want %v", got, want)
	}
	if d := b.failed(61*time.Second, false); d != time.Second {
		t.Errorf("after a healthy minute: %s, want 1s", d)
	}
	if d := b.failed(0, true); d != 60*time.Second {
		t.Errorf("fatal: %s, want the maximum", d)
	}
	b.reset()
	if d := b.failed(0, false); d != time.Second {
		t.Errorf("after reset: %s", d)
	}
}

func TestIsBootFailure(t *testing.T) {
	cases := []struct {
		name        string
		exit        ExitInfo
		checkStderr bool
		fatal       bool
	}{
		{"worker boot error", ExitInfo{Code: 3}, false, true},
		{"app load error", ExitInfo{Code: 4}, false, true},
		{"plain crash", ExitInfo{Code: 1, Stderr: []string{"Segmentation fault"}}, true, false},
		{"killed", ExitInfo{Code: -1, Signal: "SIGKILL"}, true, false},
		{"import error at boot", ExitInfo{Code: 1, Stderr: []string{"ModuleNotFoundError: No module named 'x'"}}, true, true},
		{"gunicorn halt with exit 1", ExitInfo{Code: 1, Stderr: []string{"gunicorn.errors.HaltServer: <HaltServer 'App failed to load.' 4>"}}, true, true},
		{"asgi import", ExitInfo{Code: 1, Stderr: []string{"Error loading ASGI app. Could not import module \"x\"."}}, true, true},
		{"import error long ago", ExitInfo{Code: 1, Stderr: []string{"ImportError: cannot import name"}}, false, false},
	}
	for _, c := range cases {
		reason, fatal := isBootFailure(c.exit, c.checkStderr)
		if fatal != c.fatal || (fatal && reason == "") {
			t.Errorf("%s: fatal=%v reason=%q, want fatal=%v", c.name, fatal, reason, c.fatal)
		}
	}
}

func TestLineTail(t *testing.T) {
	tail := newLineTail(3)
	if got := tail.snapshot(); len(got) != 0 {
		t.Errorf("empty tail = %q", got)
	}
	for _, l := range []string{"a", "b"} {
		tail.add(l)
	}
	if got := tail.snapshot(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("partial tail = %q", got)
	}
	for _, l := range []string{"c", "d", "e"} {
		tail.add(l)
	}
	if got := tail.snapshot(); !slices.Equal(got, []string{"c", "d", "e"}) {
		t.Errorf("wrapped tail = %q", got)
	}
}

func TestPostgresDSN(t *testing.T) {
	db := Database{Host: "/run/postgresql", Name: "my db", User: "o'brien", Password: `back\slash`,
		Options: map[string]string{"sslmode": "disable", "isolation_level": "1"}}
	want := `host='/run/postgresql' user='o\'brien' password='back\\slash' dbname='my db' sslmode='disable'`
	if got := postgresDSN(db); got != want {
		t.Errorf("DSN = %s\nwant  %s", got, want)
	}
}

func TestConfigDefaultsAndValidation(t *testing.T) {
	project := t.TempDir()
	if err := os.WriteFile(filepath.Join(project, "manage.py"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Config{ProjectDir: project, RuntimeDir: "/run/frontdoor"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Workers < 3 || c.WorkerClass != "gthread" || c.Threads != 4 || c.KeepAlive != 10*time.Second ||
		c.MinBackoff != time.Second || c.MaxBackoff != time.Minute || c.HealthyAfter != time.Minute ||
		c.WebSocketGrace != 10*time.Minute || c.ReadyPath != "/" || c.Python == "" || c.EnvFile != "" {
		t.Errorf("defaults = %+v", c)
	}
	if err := os.WriteFile(filepath.Join(project, ".env"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if c, _ := (Config{ProjectDir: project, RuntimeDir: "/run/frontdoor"}).withDefaults(); c.EnvFile != filepath.Join(project, ".env") {
		t.Errorf("EnvFile = %q, want the project's .env", c.EnvFile)
	}

	bad := []struct {
		cfg  Config
		want string
	}{
		{Config{RuntimeDir: "/run/x"}, "ProjectDir is required"},
		{Config{ProjectDir: t.TempDir(), RuntimeDir: "/run/x"}, "no manage.py"},
		{Config{ProjectDir: project}, "RuntimeDir is required"},
		{Config{ProjectDir: project, RuntimeDir: "/" + strings.Repeat("d", 100)}, "too long"},
		{Config{ProjectDir: project, RuntimeDir: "/run/x", Server: "waitress"}, "Server"},
		{Config{ProjectDir: project, RuntimeDir: "/run/x", KeepAlive: time.Millisecond}, "KeepAlive"},
		{Config{ProjectDir: project, RuntimeDir: "/run/x", Env: []string{"NOEQUALS"}}, "Env"},
		{Config{ProjectDir: project, RuntimeDir: "/run/x", Processes: []ProcessSpec{{Name: "web", Command: []string{"x"}}}}, "Processes[0].Name \"web\""},
		{Config{ProjectDir: project, RuntimeDir: "/run/x", Processes: []ProcessSpec{{Name: "Celery!", Command: []string{"x"}}}}, "Processes[0].Name"},
		{Config{ProjectDir: project, RuntimeDir: "/run/x", Processes: []ProcessSpec{{Name: "celery"}}}, "no Command"},
		{Config{ProjectDir: project, RuntimeDir: "/run/x", MinBackoff: time.Minute, MaxBackoff: time.Second}, "MaxBackoff"},
	}
	for _, b := range bad {
		if _, err := b.cfg.withDefaults(); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%+v: err = %v, want %q", b.cfg, err, b.want)
		}
	}
}

func TestWebCommand(t *testing.T) {
	s := &Supervisor{cfg: Config{Python: "/venv/bin/python", RuntimeDir: "/run/fd", Workers: 5, WorkerClass: "gthread",
		Threads: 4, KeepAlive: 10 * time.Second, StopTimeout: 30 * time.Second, ExtraArgs: []string{"--max-requests", "1000"}}}
	got := strings.Join(s.webCommand(ServerGunicorn, "mysite.wsgi:application"), " ")
	want := `/bin/sh -c LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@" /venv/bin/python -m gunicorn --config /run/fd/frontdoor-gunicorn.conf.py ` +
		"--workers 5 --keep-alive 10 --graceful-timeout 29 --forwarded-allow-ips * --worker-class gthread --threads 4 --max-requests 1000 mysite.wsgi:application"
	if got != want {
		t.Errorf("gunicorn argv:\n got %s\nwant %s", got, want)
	}
	got = strings.Join(s.webCommand(ServerUvicorn, "mysite.asgi:application"), " ")
	if !strings.Contains(got, "--worker-class uvicorn.workers.UvicornWorker --max-requests") || strings.Contains(got, "--threads") {
		t.Errorf("uvicorn argv: %s", got)
	}
}

func TestDomainsAndApps(t *testing.T) {
	p := &Project{AllowedHosts: []string{"Example.com", ".example.com", "*", "www.example.com", "[2001:db8::1]", "*.x.org"}}
	if got := p.Domains(); !slices.Equal(got, []string{"example.com", "www.example.com", "2001:db8::1"}) {
		t.Errorf("Domains = %q", got)
	}
	if got := readyHost(&Project{AllowedHosts: []string{"[::1]"}}); got != "[::1]" {
		t.Errorf("readyHost for IPv6 = %q", got)
	}
	if got := readyHost(&Project{AllowedHosts: []string{"*"}}); got != "localhost" {
		t.Errorf("readyHost for * = %q", got)
	}
	p = &Project{WSGIApplication: "config.wsgi.application", ASGIApplication: "config.asgi.app"}
	if p.Server() != ServerUvicorn || p.AppFor(ServerUvicorn) != "config.asgi:app" || p.AppFor(ServerGunicorn) != "config.wsgi:application" {
		t.Errorf("apps: %s %s %s", p.Server(), p.AppFor(ServerUvicorn), p.AppFor(ServerGunicorn))
	}
}

// The reason of a boot failure is the exception's own line, whether the
// traceback came as one entry (as the journal keeps it) or as lines, and
// even when the server's "Worker failed to boot" came first.
func TestBootFailureReasonIsTheException(t *testing.T) {
	traceback := "Traceback (most recent call last):\n  File \"/srv/mysite/wsgi.py\", line 1, in <module>\n    import missing\nModuleNotFoundError: No module named 'missing'"
	for name, stderr := range map[string][]string{
		"one entry":        {"[INFO] Booting worker", traceback, "[INFO] Worker exiting"},
		"lines":            strings.Split(traceback, "\n"),
		"boot error first": {"<HaltServer 'Worker failed to boot.' 3>", traceback},
	} {
		reason, fatal := isBootFailure(ExitInfo{Code: 1, Stderr: stderr}, true)
		if !fatal || reason != "boot failure: ModuleNotFoundError: No module named 'missing'" {
			t.Errorf("%s: fatal=%v reason=%q, want the exception's line", name, fatal, reason)
		}
	}
}
