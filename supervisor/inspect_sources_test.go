package supervisor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"frontdoor/internal/testkit"
)

// problemOf returns the problem with code, or fails the test.
func problemOf(t *testing.T, p *Project, code string) Problem {
	t.Helper()
	for _, prob := range p.Problems {
		if prob.Code == code {
			return prob
		}
	}
	t.Fatalf("no problem %s among %+v", code, p.Problems)
	return Problem{}
}

func hasProblem(p *Project, code string) bool {
	for _, prob := range p.Problems {
		if prob.Code == code {
			return true
		}
	}
	return false
}

// TestInspectSettingsOfTheEntryPoint: the settings are the ones the web
// process loads. wsgi.py choosing other settings than manage.py wins; an
// env file's DJANGO_SETTINGS_MODULE wins over both; every child gets the
// module, so that migrate runs against the settings gunicorn serves.
func TestInspectSettingsOfTheEntryPoint(t *testing.T) {
	requireDjango(t)
	t.Parallel()
	dir := copyProject(t)
	writeFile(t, dir, "mysite/production.py", "from .settings import *\nSTATIC_ROOT = '/srv/prod-static'\n")
	writeFile(t, dir, "mysite/staging.py", "from .settings import *\nSTATIC_ROOT = '/srv/staging-static'\n")
	wsgi, err := os.ReadFile(filepath.Join(dir, "mysite/wsgi.py"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "mysite/wsgi.py", strings.Replace(string(wsgi), "'mysite.settings'", "'mysite.production'", 1))

	p, err := Inspect(context.Background(), dir, InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.SettingsModule != "mysite.production" || p.StaticRoot != "/srv/prod-static" {
		t.Errorf("settings %s (STATIC_ROOT %s), want the WSGI entry point's mysite.production", p.SettingsModule, p.StaticRoot)
	}
	if !strings.Contains(p.SettingsSource, "wsgi.py") {
		t.Errorf("settings source %q does not name wsgi.py", p.SettingsSource)
	}
	env := withProjectEnv([]string{"PATH=/usr/bin"}, p)
	if v, _ := lookupEnv(env, "DJANGO_SETTINGS_MODULE"); v != "mysite.production" {
		t.Errorf("children get DJANGO_SETTINGS_MODULE=%q, want mysite.production", v)
	}

	writeFile(t, dir, ".env", "DJANGO_SETTINGS_MODULE=mysite.staging\n")
	p, err = Inspect(context.Background(), dir, InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.SettingsModule != "mysite.staging" || p.StaticRoot != "/srv/staging-static" || !strings.Contains(p.SettingsSource, ".env") {
		t.Errorf("with .env: settings %s from %s (STATIC_ROOT %s), want mysite.staging from the env file", p.SettingsModule, p.SettingsSource, p.StaticRoot)
	}

	p, err = Inspect(context.Background(), dir, InspectOptions{Settings: "mysite.settings"})
	if err != nil {
		t.Fatal(err)
	}
	if p.SettingsModule != "mysite.settings" || p.SettingsSource != "configured" {
		t.Errorf("configured: settings %s from %s", p.SettingsModule, p.SettingsSource)
	}
}

// TestInspectFixGoesWhereTheSettingIs: a settings package split into
// base and production files gets each fix in the file whose assignment is
// in force, written so that it runs there.
func TestInspectFixGoesWhereTheSettingIs(t *testing.T) {
	requireDjango(t)
	t.Parallel()
	dir := copyProject(t)
	os.Remove(filepath.Join(dir, "mysite/settings.py"))
	// base.py: settings as an older startproject wrote them (BASE_DIR a
	// string), DEBUG on, no STATIC_ROOT; production.py takes base's and
	// empties ALLOWED_HOSTS.
	base := `import os
BASE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECRET_KEY = 'django-insecure-x'
DEBUG = True
ALLOWED_HOSTS = ['localhost']
SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https')
INSTALLED_APPS = ['django.contrib.staticfiles', 'pages']
ROOT_URLCONF = 'mysite.urls'
TEMPLATES = [{'BACKEND': 'django.template.backends.django.DjangoTemplates', 'APP_DIRS': True}]
WSGI_APPLICATION = 'mysite.wsgi.application'
DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': os.path.join(BASE_DIR, 'db.sqlite3')}}
STATIC_URL = '/static/'
`
	writeFile(t, dir, "mysite/settings/__init__.py", "")
	writeFile(t, dir, "mysite/settings/base.py", base)
	writeFile(t, dir, "mysite/settings/production.py", "from .base import *\n\nALLOWED_HOSTS = []\n")
	writeFile(t, dir, ".env", "DJANGO_SETTINGS_MODULE=mysite.settings.production\n")
	testkit.GiveToAppUser(t, dir)

	p, err := Inspect(context.Background(), dir, InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	basePy, prod := filepath.Join(dir, "mysite/settings/base.py"), filepath.Join(dir, "mysite/settings/production.py")
	cases := []struct {
		code, file, fix string
	}{
		{ProblemDebugOn, basePy, "DEBUG = os.environ.get('DJANGO_DEBUG') == '1'"},
		{ProblemAllowedHostsEmpty, prod, "ALLOWED_HOSTS = ['example.com', 'www.example.com']"},
		{ProblemStaticRootUnset, prod, "STATIC_ROOT = os.path.join(BASE_DIR, 'staticfiles')"},
		{ProblemInsecureSecretKey, basePy, "SECRET_KEY = os.environ['DJANGO_SECRET_KEY']"},
	}
	for _, c := range cases {
		prob := problemOf(t, p, c.code)
		if prob.File != c.file || !strings.Contains(prob.Fix, c.fix) {
			t.Errorf("%s: fix %q in %s, want %q in %s", c.code, prob.Fix, prob.File, c.fix, c.file)
		}
	}
	// The suggested lines run in their file: append them and look again.
	for _, prob := range p.Problems {
		if prob.File != "" && prob.Code != ProblemInsecureSecretKey {
			rel, _ := filepath.Rel(dir, prob.File)
			appendFile(t, dir, rel, "\n"+prob.Fix+"\n")
		}
	}
	again, err := Inspect(context.Background(), dir, InspectOptions{Domains: []string{"example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{ProblemDebugOn, ProblemAllowedHostsEmpty, ProblemStaticRootUnset, ProblemSettingsFailed} {
		if hasProblem(again, code) {
			t.Errorf("after the suggested lines, %s remains: %+v", code, again.Problems)
		}
	}
	if want := filepath.Join(dir, "staticfiles"); again.StaticRoot != want {
		t.Errorf("STATIC_ROOT = %s, want %s", again.StaticRoot, want)
	}
}

// TestInspectMediaAndHTTPSAdvice: Django's default MEDIA_URL (”) means
// the project has no uploads (no MEDIA warning, no media route), and a site
// on HTTPS is told about its cookies; the SECURE_PROXY_SSL_HEADER text
// says what really happens under frontdoor.
func TestInspectMediaAndHTTPSAdvice(t *testing.T) {
	requireDjango(t)
	t.Parallel()
	dir := copyProject(t)
	appendFile(t, dir, "mysite/settings.py", "\ndel MEDIA_URL\ndel MEDIA_ROOT\ndel SECURE_PROXY_SSL_HEADER\ndel SESSION_COOKIE_SECURE\ndel CSRF_COOKIE_SECURE\n")
	p, err := Inspect(context.Background(), dir, InspectOptions{HTTPS: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.MediaURL != "" || hasProblem(p, ProblemMediaRootUnset) {
		t.Errorf("MEDIA_URL %q, problems %+v: Django's default MEDIA_URL is no media", p.MediaURL, p.Problems)
	}
	for _, code := range []string{ProblemSessionCookieInsecure, ProblemCSRFCookieInsecure} {
		prob := problemOf(t, p, code)
		if !strings.HasSuffix(prob.Fix, "_SECURE = True") || prob.Severity != SeverityWarning {
			t.Errorf("%s: %+v", code, prob)
		}
	}
	prob := problemOf(t, p, ProblemProxySSLHeader)
	if prob.Severity != SeverityWarning || strings.Contains(prob.Message, "cookies without Secure") ||
		!strings.Contains(prob.Message, "is_secure() is True") {
		t.Errorf("SECURE_PROXY_SSL_HEADER unset: %+v", prob)
	}
	if hasProblem(p, ProblemCSRFTrustedOrigins) {
		t.Errorf("Django %s is told about CSRF_TRUSTED_ORIGINS, a Django 4 matter", p.DjangoVersion)
	}
	without, err := Inspect(context.Background(), dir, InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if hasProblem(without, ProblemSessionCookieInsecure) {
		t.Errorf("cookie advice without HTTPS: %+v", without.Problems)
	}
}

// TestProblemsForDjango4AndPackages covers what no Django on this machine
// shows: Django 4's CSRF_TRUSTED_ORIGINS and Origin check, and a packaged
// application whose fixes go to the administrator's override file, with
// absolute paths since that file has no BASE_DIR.
func TestProblemsForDjango4AndPackages(t *testing.T) {
	p := &Project{
		Dir: "/usr/lib/python3/dist-packages", Python: systemPython, DjangoVersion: "4.2.11",
		SettingsModule: "graphite.settings", SettingsSource: "configured",
		Modules:      map[string]bool{"django": true, "gunicorn": true},
		AllowedHosts: []string{"*"}, HasStaticfiles: true, Debug: true,
		StaticRoot: "/usr/share/graphite-web/static", SecureProxyHeader: []string{"HTTP_X_SCHEME", "https"},
		SettingsFiles: []SettingsFile{
			{Path: "/usr/lib/python3/dist-packages/graphite/settings.py", HasOS: true, PackageOwned: true},
			{Path: "/etc/graphite/local_settings.py", PackageOwned: false},
			{Path: "/usr/lib/python3/dist-packages/graphite/app_settings.py", PackageOwned: true},
		},
		DefinedIn: map[string]string{
			"DEBUG":       "/usr/lib/python3/dist-packages/graphite/settings.py",
			"STATIC_ROOT": "/etc/graphite/local_settings.py",
		},
	}
	p.Problems = p.findProblems(problemContext{domains: []string{"graphite.example"}, https: true})
	override := "/etc/graphite/local_settings.py"
	cases := []struct{ code, fix string }{
		{ProblemDebugOn, "DEBUG = False"},
		{ProblemStaticRootPackaged, "STATIC_ROOT = '/var/lib/graphite/static'"},
		{ProblemProxySSLHeader, "SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https')"},
		{ProblemCSRFTrustedOrigins, "CSRF_TRUSTED_ORIGINS = ['https://graphite.example']"},
		{ProblemSessionCookieInsecure, "SESSION_COOKIE_SECURE = True"},
	}
	for _, c := range cases {
		prob := problemOf(t, p, c.code)
		if prob.File != override || prob.Fix != c.fix {
			t.Errorf("%s: %q in %s, want %q in %s", c.code, prob.Fix, prob.File, c.fix, override)
		}
	}
	if prob := problemOf(t, p, ProblemProxySSLHeader); prob.Severity != SeverityError || !strings.Contains(prob.Message, "Origin checking failed") {
		t.Errorf("a foreign SECURE_PROXY_SSL_HEADER on Django 4: %+v", prob)
	}
	if hasProblem(p, ProblemAllowedHostsNoNames) {
		t.Errorf("ALLOWED_HOSTS ['*'] with --domain given is not a problem")
	}
}

// TestInspectWithoutManagePy: a project without manage.py (graphite-web
// has none) is inspected from its settings module, --pythonpath and
// application object; a directory holding a project one level down, or
// an entry point, says what to run.
func TestInspectWithoutManagePy(t *testing.T) {
	requireDjango(t)
	t.Parallel()
	dir := copyProject(t)
	if err := os.Remove(filepath.Join(dir, "manage.py")); err != nil {
		t.Fatal(err)
	}
	p, err := Inspect(context.Background(), "", InspectOptions{Settings: "mysite.settings", PythonPath: []string{dir}, ImportApp: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Dir != dir || p.HasManage || p.SettingsModule != "mysite.settings" || len(p.Problems) != 0 {
		t.Errorf("dir %s, manage.py %v, settings %s, problems %+v", p.Dir, p.HasManage, p.SettingsModule, p.Problems)
	}
	p, err = Inspect(context.Background(), "", InspectOptions{Settings: "mysite.settings", PythonPath: []string{dir}, App: "mysite.asgi:application", ImportApp: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Server() != ServerUvicorn || p.AppFor(p.Server()) != "mysite.asgi:application" {
		t.Errorf("--app mysite.asgi:application: server %s, app %s", p.Server(), p.AppFor(p.Server()))
	}

	// Without WSGI_APPLICATION, Django's own handler serves (as runserver does).
	appendFile(t, dir, "mysite/settings.py", "\ndel WSGI_APPLICATION\n")
	p, err = Inspect(context.Background(), "", InspectOptions{Settings: "mysite.settings", PythonPath: []string{dir}, ImportApp: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.AppFor(ServerGunicorn); got != genericWSGIApp || len(p.Problems) != 0 {
		t.Errorf("no WSGI_APPLICATION: app %s, problems %+v", got, p.Problems)
	}

	if _, err := Inspect(context.Background(), dir, InspectOptions{}); err == nil || !strings.Contains(err.Error(), "--settings mysite.settings") {
		t.Errorf("no manage.py, an entry point naming its settings: %v", err)
	}
	repo := filepath.Dir(dir)
	writeFile(t, dir, "manage.py", "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n")
	if _, err := Inspect(context.Background(), repo, InspectOptions{}); err == nil || !strings.Contains(err.Error(), "one level down: "+dir+"/manage.py") {
		t.Errorf("a project one level down: %v", err)
	}
}

// TestInspectEntryPointEnvironment: the variables the application's module
// sets for itself (graphite's wsgi module sets GRAPHITE_SETTINGS_MODULE)
// are in force when the settings are read, for the configured application
// and for the settings' own WSGI_APPLICATION; a failure says which.
func TestInspectEntryPointEnvironment(t *testing.T) {
	requireDjango(t)
	t.Parallel()
	dir := copyProject(t)
	appendFile(t, dir, "mysite/settings.py", "\nif os.environ.get('MYSITE_FLAVOUR') == 'legacy':\n    raise RuntimeError('the legacy flavour is gone')\n")
	wsgi, err := os.ReadFile(filepath.Join(dir, "mysite/wsgi.py"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "mysite/wsgi.py", "import os\nos.environ.setdefault('MYSITE_FLAVOUR', 'legacy')\n"+string(wsgi))
	for _, app := range []string{"", "mysite.wsgi:application"} {
		p, err := Inspect(context.Background(), dir, InspectOptions{App: app})
		if err != nil {
			t.Fatal(err)
		}
		prob := problemOf(t, p, ProblemSettingsFailed)
		if !strings.Contains(prob.Message, "MYSITE_FLAVOUR=legacy, which "+filepath.Join(dir, "mysite/wsgi.py")+" sets for itself") ||
			!strings.Contains(prob.Message, "the legacy flavour is gone") || !strings.Contains(prob.Fix, "MYSITE_FLAVOUR=legacy ") {
			t.Errorf("app %q: %+v", app, prob)
		}
	}
	// The environment decides: frontdoor's processes get what is set.
	p, err := Inspect(context.Background(), dir, InspectOptions{Env: []string{"MYSITE_FLAVOUR=modern"}})
	if err != nil {
		t.Fatal(err)
	}
	if hasProblem(p, ProblemSettingsFailed) {
		t.Errorf("MYSITE_FLAVOUR set in [app] env: %+v", p.Problems)
	}
}
