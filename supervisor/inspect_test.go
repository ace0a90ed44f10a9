package supervisor

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestInspectExample reads the example project's settings: every fact the
// config needs, and no problem.
func TestInspectExample(t *testing.T) {
	requireDjango(t)
	t.Parallel()
	dir := copyProject(t)
	p, err := Inspect(context.Background(), dir, InspectOptions{ImportApp: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, prob := range p.Problems {
		t.Errorf("unexpected problem %s: %s (fix: %s)", prob.Code, prob.Message, prob.Fix)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Python", p.Python, systemPython},
		{"PythonSource", p.PythonSource, "system python /usr/bin/python3"},
		{"DjangoVersion prefix", p.DjangoVersion[:4], "3.2."},
		{"SettingsModule", p.SettingsModule, "mysite.settings"},
		{"WSGIApplication", p.WSGIApplication, "mysite.wsgi.application"},
		{"ASGIApplication", p.ASGIApplication, ""},
		{"StaticURL", p.StaticURL, "/static/"},
		{"StaticRoot", p.StaticRoot, filepath.Join(dir, "staticfiles")},
		{"StaticfilesStorage", p.StaticfilesStorage, "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
		{"MediaURL", p.MediaURL, "/media/"},
		{"MediaRoot", p.MediaRoot, filepath.Join(dir, "media")},
		{"AllowedHosts", p.AllowedHosts, []string{"localhost", "127.0.0.1", "[::1]"}},
		{"Domains", p.Domains(), []string{"localhost", "127.0.0.1", "::1"}},
		{"Debug", p.Debug, false},
		{"SecureProxyHeader", p.SecureProxyHeader, []string{"HTTP_X_FORWARDED_PROTO", "https"}},
		{"HasStaticfiles", p.HasStaticfiles, true},
		{"Server", p.Server(), ServerGunicorn},
		{"AppFor(gunicorn)", p.AppFor(ServerGunicorn), "mysite.wsgi:application"},
		{"AppFor(uvicorn)", p.AppFor(ServerUvicorn), "mysite.asgi:application"},
		{"Postgres", len(p.Postgres()), 0},
		{"database", p.Databases[0].String(), "default: sqlite3 " + filepath.Join(dir, "db.sqlite3")},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

// TestInspectPostgresSettings reads DATABASES built from DATABASE_URL: the
// password is kept for the health check but never serialised or printed.
func TestInspectPostgresSettings(t *testing.T) {
	requireDjango(t)
	t.Parallel()
	dir := copyProject(t)
	writeFile(t, dir, ".env", "DATABASE_URL=postgres://app:pa%40ss-word@db.internal:6432/mysite?sslmode=require\n")
	p, err := Inspect(context.Background(), dir, InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dbs := p.Postgres()
	if len(dbs) != 1 {
		t.Fatalf("postgres databases = %+v", p.Databases)
	}
	want := Database{Alias: "default", Engine: "django.db.backends.postgresql", Name: "mysite", User: "app",
		Password: "pa@ss-word", Host: "db.internal", Port: "6432", Options: map[string]string{"sslmode": "require"}}
	if !reflect.DeepEqual(dbs[0], want) {
		t.Errorf("database = %+v, want %+v", dbs[0], want)
	}
	js, _ := json.Marshal(p)
	if strings.Contains(string(js), "pa@ss-word") || strings.Contains(dbs[0].String(), "pa@ss-word") {
		t.Errorf("password in JSON or String: %s / %s", js, dbs[0])
	}
	if got := dbs[0].String(); got != "default: postgresql app@db.internal:6432/mysite" {
		t.Errorf("String = %q", got)
	}
	if got, want := postgresDSN(dbs[0]), `host='db.internal' port='6432' user='app' password='pa@ss-word' dbname='mysite' sslmode='require'`; got != want {
		t.Errorf("DSN = %s, want %s", got, want)
	}
}

// TestInspectFindsProblems breaks the example project's settings one way
// at a time and checks that each problem is named with its fix.
func TestInspectFindsProblems(t *testing.T) {
	requireDjango(t)
	t.Parallel()
	cases := []struct {
		name     string
		settings string            // appended to settings.py
		files    map[string]string // other files replaced
		code     string
		fix      string // the fix must contain this
	}{
		{"debug on", "DEBUG = True\n", nil, ProblemDebugOn, "DEBUG = os.environ.get('DJANGO_DEBUG') == '1'"},
		{"static root unset", "del STATIC_ROOT\n", nil, ProblemStaticRootUnset, "STATIC_ROOT = BASE_DIR / 'staticfiles'"},
		{"static root unset, BASE_DIR a string", "BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))\ndel STATIC_ROOT\n", nil,
			ProblemStaticRootUnset, "STATIC_ROOT = os.path.join(BASE_DIR, 'staticfiles')"},
		{"proxy header missing", "del SECURE_PROXY_SSL_HEADER\n", nil, ProblemProxySSLHeader, "SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https')"},
		{"proxy header other", "SECURE_PROXY_SSL_HEADER = ('HTTP_X_SCHEME', 'https')\n", nil, ProblemProxySSLHeader, "SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https')"},
		{"allowed hosts empty", "ALLOWED_HOSTS = []\n", nil, ProblemAllowedHostsEmpty, "ALLOWED_HOSTS = ["},
		{"allowed hosts wildcard", "ALLOWED_HOSTS = ['*', '.example.com']\n", nil, ProblemAllowedHostsNoNames, "--domain"},
		{"insecure secret key", "SECRET_KEY = 'django-insecure-abc'\n", nil, ProblemInsecureSecretKey, "os.environ['DJANGO_SECRET_KEY']"},
		{"no staticfiles app", "INSTALLED_APPS = ['pages']\n", nil, ProblemStaticfilesMissing, "django.contrib.staticfiles"},
		{"media root unset", "MEDIA_ROOT = ''\n", nil, ProblemMediaRootUnset, "MEDIA_ROOT = BASE_DIR / 'media'"},
		{"settings do not load", "raise RuntimeError('broken settings')\n", nil, ProblemSettingsFailed, "manage.py check"},
		{"app does not import", "", map[string]string{"mysite/wsgi.py": "import a_module_that_does_not_exist\n"}, ProblemAppImportFailed, "import mysite.wsgi"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := copyProject(t)
			appendFile(t, dir, "mysite/settings.py", "\n"+c.settings)
			for rel, content := range c.files {
				writeFile(t, dir, rel, content)
			}
			p, err := Inspect(context.Background(), dir, InspectOptions{ImportApp: true})
			if err != nil {
				t.Fatal(err)
			}
			var codes []string
			for _, prob := range p.Problems {
				codes = append(codes, prob.Code)
				if prob.Code != c.code {
					continue
				}
				if !strings.Contains(prob.Fix, c.fix) {
					t.Errorf("fix for %s = %q, want it to contain %q", c.code, prob.Fix, c.fix)
				}
				if prob.Message == "" || prob.Severity == "" {
					t.Errorf("problem %+v lacks a message or severity", prob)
				}
			}
			if len(codes) != 1 || codes[0] != c.code {
				t.Errorf("problems = %v, want exactly [%s]", codes, c.code)
			}
		})
	}
}

// TestInspectErrors covers what prevents looking at a project at all.
func TestInspectErrors(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	if _, err := Inspect(context.Background(), empty, InspectOptions{}); err == nil || !strings.Contains(err.Error(), "no readable manage.py") {
		t.Errorf("no manage.py: %v", err)
	}
	if err := os.WriteFile(filepath.Join(empty, "manage.py"), []byte("print('hi')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Inspect(context.Background(), empty, InspectOptions{Python: "/bin/true"}); err == nil || !strings.Contains(err.Error(), "DJANGO_SETTINGS_MODULE") {
		t.Errorf("manage.py without settings module: %v", err)
	}
	if _, err := Inspect(context.Background(), empty, InspectOptions{Python: "/bin/true", Env: []string{"DJANGO_SETTINGS_MODULE=x.settings"}}); err == nil || !strings.Contains(err.Error(), "printed no result") {
		t.Errorf("interpreter printing nothing: %v", err)
	}
	if _, err := Inspect(context.Background(), empty, InspectOptions{Python: "/nonexistent/python", Env: []string{"DJANGO_SETTINGS_MODULE=x.settings"}}); err == nil {
		t.Errorf("missing interpreter: no error")
	}
}

// TestFindPython checks the interpreter search order.
func TestFindPython(t *testing.T) {
	root := t.TempDir()
	project := filepath.Join(root, "site")
	exe := func(p string) string {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if err := os.MkdirAll(project, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VIRTUAL_ENV", "")
	if got, src := FindPython(project); got != systemPython || !strings.HasPrefix(src, "system python") {
		t.Errorf("no venv: %s (%s)", got, src)
	}
	active := exe(filepath.Join(root, "active", "bin", "python"))
	t.Setenv("VIRTUAL_ENV", filepath.Join(root, "active"))
	if got, src := FindPython(project); got != active || !strings.HasPrefix(src, "$VIRTUAL_ENV") {
		t.Errorf("$VIRTUAL_ENV: %s (%s)", got, src)
	}
	parent := exe(filepath.Join(root, "venv", "bin", "python"))
	if got, _ := FindPython(project); got != parent {
		t.Errorf("venv in the parent: %s", got)
	}
	own := exe(filepath.Join(project, "venv", "bin", "python"))
	if got, _ := FindPython(project); got != own {
		t.Errorf("venv/: %s", got)
	}
	dotVenv := exe(filepath.Join(project, ".venv", "bin", "python"))
	if got, src := FindPython(project); got != dotVenv || src != "virtualenv "+filepath.Join(project, ".venv") {
		t.Errorf(".venv/: %s (%s)", got, src)
	}
}
