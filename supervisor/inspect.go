package supervisor

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

//go:embed inspect_django.py
var inspectScript string

// inspectMarker prefixes the script's JSON line on stdout.
const inspectMarker = "FRONTDOOR-INSPECT-RESULT:"

// InspectOptions tune Inspect. The zero value is fine.
type InspectOptions struct {
	// Python is the interpreter. Default: FindPython(projectDir).
	Python string
	// EnvFile is read into the script's environment, as the children get
	// it. Default: the project's .env when it exists.
	EnvFile string
	// Env holds extra KEY=VALUE pairs, over the env file.
	Env []string
	// ImportApp also imports the WSGI and ASGI application objects and
	// reports a failure as a problem. `frontdoor init` wants this; the
	// supervisor does not (gunicorn will tell, and the import may be slow).
	ImportApp bool
	// Timeout bounds the script. Default 2m.
	Timeout time.Duration
}

// Project is what Inspect learned about a Django project: the facts the
// lead's `frontdoor init` turns into a config, and the problems to fix.
type Project struct {
	Dir            string `json:"dir"`
	Python         string `json:"python"`
	PythonSource   string `json:"python_source"` // where Python was found, e.g. "virtualenv /srv/site/.venv"
	PythonVersion  string `json:"python_version"`
	DjangoVersion  string `json:"django_version"`
	SettingsModule string `json:"settings_module"`

	WSGIApplication    string     `json:"wsgi_application"` // dotted, "mysite.wsgi.application"
	ASGIApplication    string     `json:"asgi_application"`
	StaticURL          string     `json:"static_url"`
	StaticRoot         string     `json:"static_root"`
	StaticfilesStorage string     `json:"staticfiles_storage"`
	MediaURL           string     `json:"media_url"`
	MediaRoot          string     `json:"media_root"`
	AllowedHosts       []string   `json:"allowed_hosts"`
	Debug              bool       `json:"debug"`
	SecureProxyHeader  []string   `json:"secure_proxy_ssl_header"` // nil when unset
	Databases          []Database `json:"databases"`               // "default" first

	// HasStaticfiles says django.contrib.staticfiles is installed (so
	// collectstatic exists).
	HasStaticfiles bool `json:"has_staticfiles"`
	// Modules says which of django, gunicorn, uvicorn, psycopg2, psycopg
	// the interpreter can import.
	Modules map[string]bool `json:"modules"`

	Problems []Problem `json:"problems"`

	insecureSecretKey bool
	appImportErrors   map[string]string
	settingsError     string
}

// Database is one DATABASES entry. Password is kept for the PostgreSQL
// health check and never printed: it is omitted from JSON and String.
type Database struct {
	Alias    string            `json:"alias"`
	Engine   string            `json:"engine"`
	Name     string            `json:"name"`
	User     string            `json:"user,omitempty"`
	Password string            `json:"-"`
	Host     string            `json:"host,omitempty"` // a name, an address or a socket directory
	Port     string            `json:"port,omitempty"`
	Options  map[string]string `json:"options,omitempty"`
}

// IsPostgres reports whether the entry uses Django's PostgreSQL backend
// (or a backend built on it, like PostGIS's).
func (d Database) IsPostgres() bool {
	return strings.Contains(d.Engine, "postgresql") || strings.Contains(d.Engine, "postgis")
}

// String describes the database without its password:
// "default: postgresql postgres@127.0.0.1:5432/mysite".
func (d Database) String() string {
	engine := d.Engine[strings.LastIndexByte(d.Engine, '.')+1:]
	if !d.IsPostgres() {
		return fmt.Sprintf("%s: %s %s", d.Alias, engine, d.Name)
	}
	host := d.Host
	if host == "" {
		host = "(default socket)"
	}
	if d.Port != "" {
		host = net.JoinHostPort(host, d.Port)
	}
	user := d.User
	if user != "" {
		user += "@"
	}
	return fmt.Sprintf("%s: %s %s%s/%s", d.Alias, engine, user, host, d.Name)
}

// Severity tells whether a problem stops the site from working.
type Severity string

const (
	SeverityError   Severity = "error"   // the site will not work until it is fixed
	SeverityWarning Severity = "warning" // it works, but insecurely or slowly
)

// Problem is something in the project to fix before it goes on the internet.
type Problem struct {
	Code     string   `json:"code"` // stable identifier, e.g. "debug-on"
	Severity Severity `json:"severity"`
	Message  string   `json:"message"` // what is wrong
	Fix      string   `json:"fix"`     // what to do: usually the exact settings line
}

// Problem codes.
const (
	ProblemSettingsFailed      = "settings-failed"
	ProblemDjangoMissing       = "django-missing"
	ProblemDebugOn             = "debug-on"
	ProblemStaticRootUnset     = "static-root-unset"
	ProblemStaticfilesMissing  = "staticfiles-not-installed"
	ProblemMediaRootUnset      = "media-root-unset"
	ProblemProxySSLHeader      = "secure-proxy-ssl-header"
	ProblemAllowedHostsEmpty   = "allowed-hosts-empty"
	ProblemAllowedHostsNoNames = "allowed-hosts-no-names"
	ProblemInsecureSecretKey   = "insecure-secret-key"
	ProblemNoApplication       = "no-application"
	ProblemAppImportFailed     = "app-import-failed"
	ProblemGunicornMissing     = "gunicorn-missing"
	ProblemUvicornMissing      = "uvicorn-missing"
	ProblemPostgresDriver      = "postgres-driver-missing"
)

// proxySSLHeaderLine is the settings line frontdoor needs: it sets
// X-Forwarded-Proto on every request it proxies.
const proxySSLHeaderLine = "SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https')"

// settingsModuleInManage finds os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'x.y').
var settingsModuleInManage = regexp.MustCompile(`DJANGO_SETTINGS_MODULE['"]\s*,\s*['"]([A-Za-z_][A-Za-z0-9_.]*)['"]`)

// Inspect runs a small script with the project's interpreter and settings
// and returns the facts and the problems found. It blocks until the script
// ends (a second or two; opts.Timeout at most). A project whose settings do
// not import is not an error: it is a Project with the settings-failed
// problem. The error is for what prevents looking at all: no manage.py,
// an interpreter that does not start, an unreadable env file.
func Inspect(ctx context.Context, projectDir string, opts InspectOptions) (*Project, error) {
	dir, err := filepath.Abs(projectDir)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", projectDir, err)
	}
	manage, err := os.ReadFile(filepath.Join(dir, "manage.py"))
	if err != nil {
		return nil, fmt.Errorf("inspect %s: not a Django project (no readable manage.py): %w", dir, err)
	}
	p := &Project{Dir: dir, Python: opts.Python, PythonSource: "configured"}
	if p.Python == "" {
		p.Python, p.PythonSource = FindPython(dir)
	}
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Minute
	}
	if opts.EnvFile == "" {
		if f := filepath.Join(dir, ".env"); fileExists(f) {
			opts.EnvFile = f
		}
	}
	cfg := Config{EnvFile: opts.EnvFile, Env: opts.Env}
	env, err := cfg.childEnv()
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", dir, err)
	}
	if !hasEnv(env, "DJANGO_SETTINGS_MODULE") {
		m := settingsModuleInManage.FindSubmatch(manage)
		if m == nil {
			return nil, fmt.Errorf("inspect %s: manage.py does not name DJANGO_SETTINGS_MODULE; set it in the env file", dir)
		}
		env = append(env, "DJANGO_SETTINGS_MODULE="+string(m[1]))
	}
	if opts.ImportApp {
		env = append(env, "FRONTDOOR_INSPECT_IMPORT_APP=1")
	}

	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.Python, "-c", inspectScript)
	cmd.Dir = dir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	// stdout holds the database password: it never goes into an error.
	_, result, found := bytes.Cut(stdout.Bytes(), []byte(inspectMarker))
	if !found {
		msg := lastLines(stderr.String(), 10)
		if runErr != nil {
			return nil, fmt.Errorf("inspect %s with %s: %w: %s", dir, p.Python, runErr, msg)
		}
		return nil, fmt.Errorf("inspect %s with %s: the script printed no result: %s", dir, p.Python, msg)
	}
	if err := p.decode(result); err != nil {
		return nil, fmt.Errorf("inspect %s: %w", dir, err)
	}
	p.Problems = p.findProblems()
	return p, nil
}

// inspectResult mirrors the script's JSON.
type inspectResult struct {
	PythonVersion        string            `json:"python_version"`
	DjangoVersion        string            `json:"django_version"`
	SettingsModule       string            `json:"settings_module"`
	Modules              map[string]bool   `json:"modules"`
	WSGIApplication      string            `json:"wsgi_application"`
	ASGIApplication      string            `json:"asgi_application"`
	StaticURL            string            `json:"static_url"`
	StaticRoot           string            `json:"static_root"`
	StaticfilesStorage   string            `json:"staticfiles_storage"`
	MediaURL             string            `json:"media_url"`
	MediaRoot            string            `json:"media_root"`
	AllowedHosts         []string          `json:"allowed_hosts"`
	Debug                bool              `json:"debug"`
	SecureProxySSLHeader []string          `json:"secure_proxy_ssl_header"`
	InsecureSecretKey    bool              `json:"insecure_secret_key"`
	StaticfilesInstalled bool              `json:"staticfiles_installed"`
	AppImportErrors      map[string]string `json:"app_import_errors"`
	SettingsError        string            `json:"settings_error"`
	Databases            map[string]struct {
		Engine   string            `json:"engine"`
		Name     string            `json:"name"`
		User     string            `json:"user"`
		Password string            `json:"password"`
		Host     string            `json:"host"`
		Port     string            `json:"port"`
		Options  map[string]string `json:"options"`
	} `json:"databases"`
}

func (p *Project) decode(line []byte) error {
	line, _, _ = bytes.Cut(line, []byte("\n"))
	var r inspectResult
	if err := json.Unmarshal(line, &r); err != nil {
		return fmt.Errorf("decode the introspection result: %w", err)
	}
	p.PythonVersion, p.DjangoVersion, p.SettingsModule = r.PythonVersion, r.DjangoVersion, r.SettingsModule
	p.Modules = r.Modules
	p.WSGIApplication, p.ASGIApplication = r.WSGIApplication, r.ASGIApplication
	p.StaticURL, p.StaticRoot, p.StaticfilesStorage = r.StaticURL, r.StaticRoot, r.StaticfilesStorage
	p.MediaURL, p.MediaRoot = r.MediaURL, r.MediaRoot
	p.AllowedHosts, p.Debug, p.SecureProxyHeader = r.AllowedHosts, r.Debug, r.SecureProxySSLHeader
	p.HasStaticfiles = r.StaticfilesInstalled
	p.insecureSecretKey, p.appImportErrors, p.settingsError = r.InsecureSecretKey, r.AppImportErrors, r.SettingsError
	for alias, d := range r.Databases {
		p.Databases = append(p.Databases, Database{
			Alias: alias, Engine: d.Engine, Name: d.Name, User: d.User, Password: d.Password,
			Host: d.Host, Port: d.Port, Options: d.Options,
		})
	}
	sortDatabases(p.Databases)
	return nil
}

// sortDatabases puts "default" first, then the other aliases by name.
func sortDatabases(dbs []Database) {
	rank := func(d Database) string {
		if d.Alias == "default" {
			return ""
		}
		return "~" + d.Alias
	}
	for i := 1; i < len(dbs); i++ {
		for j := i; j > 0 && rank(dbs[j]) < rank(dbs[j-1]); j-- {
			dbs[j], dbs[j-1] = dbs[j-1], dbs[j]
		}
	}
}

// Postgres returns the databases that use PostgreSQL.
func (p *Project) Postgres() []Database {
	var out []Database
	for _, d := range p.Databases {
		if d.IsPostgres() {
			out = append(out, d)
		}
	}
	return out
}

// Domains returns the concrete host names and addresses of ALLOWED_HOSTS,
// the names frontdoor should get certificates for: "*" and subdomain
// patterns (".example.com") are left out, IPv6 brackets removed.
func (p *Project) Domains() []string {
	var out []string
	for _, h := range p.AllowedHosts {
		h = strings.TrimSpace(strings.ToLower(h))
		if h == "" || h == "*" || strings.HasPrefix(h, ".") || strings.Contains(h, "*") {
			continue
		}
		out = append(out, strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
	}
	return out
}

// Server returns the server the project calls for: uvicorn when the
// settings define ASGI_APPLICATION, gunicorn otherwise.
func (p *Project) Server() Server {
	if p.ASGIApplication != "" {
		return ServerUvicorn
	}
	return ServerGunicorn
}

// AppFor returns the application object for server in gunicorn's
// "module:attribute" form, or "" when the project has none.
func (p *Project) AppFor(server Server) string {
	if server == ServerUvicorn {
		if p.ASGIApplication != "" {
			return colonApp(p.ASGIApplication)
		}
		// Django's startproject writes asgi.py next to wsgi.py, but only
		// Channels projects set ASGI_APPLICATION.
		mod, attr := splitDotted(p.WSGIApplication)
		if strings.HasSuffix(mod, ".wsgi") {
			asgi := strings.TrimSuffix(mod, ".wsgi") + ".asgi"
			if fileExists(filepath.Join(p.Dir, filepath.FromSlash(strings.ReplaceAll(asgi, ".", "/"))+".py")) {
				return asgi + ":" + attr
			}
		}
		return ""
	}
	return colonApp(p.WSGIApplication)
}

// colonApp turns "mysite.wsgi.application" into "mysite.wsgi:application".
func colonApp(dotted string) string {
	if dotted == "" {
		return ""
	}
	mod, attr := splitDotted(dotted)
	return mod + ":" + attr
}

func splitDotted(dotted string) (module, attr string) {
	i := strings.LastIndexByte(dotted, '.')
	if i < 0 {
		return dotted, "application"
	}
	return dotted[:i], dotted[i+1:]
}

// findProblems lists what to fix, most serious first.
func (p *Project) findProblems() []Problem {
	var out []Problem
	add := func(code string, sev Severity, msg, fix string) {
		out = append(out, Problem{Code: code, Severity: sev, Message: msg, Fix: fix})
	}
	if !p.Modules["django"] {
		add(ProblemDjangoMissing, SeverityError,
			fmt.Sprintf("%s cannot import django", p.Python),
			"install Django for this interpreter: `apt install python3-django`, or `pip install django` in the project's virtualenv (.venv/)")
		return out
	}
	if p.settingsError != "" {
		add(ProblemSettingsFailed, SeverityError,
			fmt.Sprintf("the settings module %s does not load: %s", p.SettingsModule, p.settingsError),
			fmt.Sprintf("fix the error, then check with `cd %s && %s manage.py check`", p.Dir, p.Python))
		return out
	}
	server := p.Server()
	app := p.AppFor(server)
	if app == "" {
		add(ProblemNoApplication, SeverityError,
			"the settings name no WSGI_APPLICATION (or ASGI_APPLICATION)",
			fmt.Sprintf("WSGI_APPLICATION = '%s.wsgi.application'", settingsPackage(p.SettingsModule)))
	}
	for obj, errLine := range p.appImportErrors {
		add(ProblemAppImportFailed, SeverityError,
			fmt.Sprintf("the application %s does not import: %s", obj, errLine),
			fmt.Sprintf("fix the error; `cd %s && %s -c 'import %s'` shows it", p.Dir, p.Python, moduleOf(obj)))
	}
	if !p.Modules["gunicorn"] {
		add(ProblemGunicornMissing, SeverityError,
			fmt.Sprintf("%s cannot import gunicorn, which runs the app", p.Python),
			"`apt install gunicorn` (system python), or `pip install gunicorn` in the project's virtualenv")
	}
	if server == ServerUvicorn && !p.Modules["uvicorn"] {
		add(ProblemUvicornMissing, SeverityError,
			fmt.Sprintf("the project is ASGI but %s cannot import uvicorn", p.Python),
			"`apt install python3-uvicorn python3-websockets` (system python), or `pip install 'uvicorn[standard]'` in the virtualenv")
	}
	if len(p.Postgres()) > 0 && !p.Modules["psycopg2"] && !p.Modules["psycopg"] {
		add(ProblemPostgresDriver, SeverityError,
			"the settings use PostgreSQL but no driver (psycopg2 or psycopg) imports",
			"`apt install python3-psycopg2` (system python), or `pip install psycopg2-binary` in the virtualenv")
	}
	if p.Debug {
		add(ProblemDebugOn, SeverityError,
			"DEBUG is on: Django shows tracebacks and settings to anyone, and keeps every query in memory",
			"DEBUG = os.environ.get('DJANGO_DEBUG') == '1'   # in settings.py (import os); off unless asked for")
	}
	if len(p.AllowedHosts) == 0 {
		add(ProblemAllowedHostsEmpty, SeverityError,
			"ALLOWED_HOSTS is empty: with DEBUG off Django answers every request with 400",
			"ALLOWED_HOSTS = ['example.com', 'www.example.com']   # your site's names")
	} else if len(p.Domains()) == 0 {
		add(ProblemAllowedHostsNoNames, SeverityWarning,
			fmt.Sprintf("ALLOWED_HOSTS %v names no concrete host, so frontdoor cannot tell which certificates to get", p.AllowedHosts),
			"list the names in ALLOWED_HOSTS, or pass them to `frontdoor init --domain NAME`")
	}
	if len(p.SecureProxyHeader) != 2 || p.SecureProxyHeader[0] != "HTTP_X_FORWARDED_PROTO" || p.SecureProxyHeader[1] != "https" {
		msg := "SECURE_PROXY_SSL_HEADER is not set: behind frontdoor request.is_secure() is always False (redirect loops with SECURE_SSL_REDIRECT, cookies without Secure)"
		if p.SecureProxyHeader != nil {
			msg = fmt.Sprintf("SECURE_PROXY_SSL_HEADER is %v, but frontdoor sends X-Forwarded-Proto: https", p.SecureProxyHeader)
		}
		add(ProblemProxySSLHeader, SeverityError, msg, proxySSLHeaderLine)
	}
	if !p.HasStaticfiles {
		add(ProblemStaticfilesMissing, SeverityWarning,
			"django.contrib.staticfiles is not in INSTALLED_APPS: there is no collectstatic",
			"INSTALLED_APPS += ['django.contrib.staticfiles']")
	} else if p.StaticRoot == "" {
		add(ProblemStaticRootUnset, SeverityError,
			"STATIC_ROOT is not set: collectstatic has nowhere to put the files frontdoor serves",
			"STATIC_ROOT = BASE_DIR / 'staticfiles'")
	}
	if p.MediaURL != "" && p.MediaRoot == "" {
		add(ProblemMediaRootUnset, SeverityWarning,
			"MEDIA_URL is set but MEDIA_ROOT is not: uploads would land in the working directory",
			"MEDIA_ROOT = BASE_DIR / 'media'")
	}
	if p.insecureSecretKey {
		add(ProblemInsecureSecretKey, SeverityWarning,
			"SECRET_KEY is the development key startproject wrote (django-insecure-...)",
			"SECRET_KEY = os.environ['DJANGO_SECRET_KEY']   # and DJANGO_SECRET_KEY=<50 random characters> in the project's .env")
	}
	return out
}

// settingsPackage is "mysite" for "mysite.settings".
func settingsPackage(module string) string {
	if i := strings.IndexByte(module, '.'); i > 0 {
		return module[:i]
	}
	return "mysite"
}

// moduleOf is "mysite.wsgi" for "mysite.wsgi.application".
func moduleOf(dotted string) string {
	mod, _ := splitDotted(dotted)
	return mod
}

func hasEnv(env []string, name string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}

// lastLines returns the last n lines of s, joined by " | " for one-line errors.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

var errNoApplication = errors.New("the project names no application object (WSGI_APPLICATION or ASGI_APPLICATION), and Config.App is empty")
