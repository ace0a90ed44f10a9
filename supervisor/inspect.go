package supervisor

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
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
	// Settings is the settings module (DJANGO_SETTINGS_MODULE), over every
	// other source. Required for a project without manage.py.
	Settings string
	// PythonPath lists directories put in front of PYTHONPATH.
	PythonPath []string
	// App is the application object ("module:attribute") the web process
	// runs: the variables its module sets with os.environ.setdefault
	// (DJANGO_SETTINGS_MODULE among them) apply. Default: the settings'
	// WSGI_APPLICATION or ASGI_APPLICATION, whose module is read the same
	// way.
	App string
	// ImportApp also imports the WSGI and ASGI application objects and
	// reports a failure as a problem. `frontdoor init` wants this; the
	// supervisor does not (gunicorn will tell, and the import may be slow).
	ImportApp bool
	// Domains are the site's names, for the lines the fixes suggest
	// (ALLOWED_HOSTS, CSRF_TRUSTED_ORIGINS). Default: ALLOWED_HOSTS'.
	Domains []string
	// HTTPS says the site is served over HTTPS: the problems then include
	// cookies without the Secure flag.
	HTTPS bool
	// Account runs the script as that user (the one the application runs
	// as): the settings may create files (logs) that user must own later.
	// nil runs it as the caller.
	Account *Account
	// Timeout bounds each run of the script. Default 2m.
	Timeout time.Duration
}

// settingsModuleInManage finds os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'x.y').
var settingsModuleInManage = regexp.MustCompile(`DJANGO_SETTINGS_MODULE['"]\s*,\s*['"]([A-Za-z_][A-Za-z0-9_.]*)['"]`)

// Inspect runs a small script with the project's interpreter and settings
// and returns the facts and the problems found. The settings are the ones
// the web process loads: opts.Settings, else DJANGO_SETTINGS_MODULE from
// the environment or the env file, else what the application's module
// (wsgi.py) sets, else manage.py's. It blocks until the script ends (a
// second or two, twice when the entry point chooses other settings than
// manage.py; opts.Timeout at most each). A project whose settings do not
// import is not an error: it is a Project with the settings-failed
// problem. The error is for what prevents looking at all: no manage.py
// and no settings module, an interpreter that does not start, an
// unreadable env file.
//
// projectDir may be empty when opts.Settings is set: the project is then
// the directory holding the settings module's top-level package.
func Inspect(ctx context.Context, projectDir string, opts InspectOptions) (*Project, error) {
	dir := projectDir
	if dir != "" {
		var err error
		if dir, err = filepath.Abs(projectDir); err != nil {
			return nil, fmt.Errorf("inspect %s: %w", projectDir, err)
		}
	}
	var manage []byte
	if dir != "" {
		manage, _ = os.ReadFile(filepath.Join(dir, "manage.py"))
	}
	if manage == nil && opts.Settings == "" {
		if dir == "" {
			return nil, errors.New("inspect: name the project directory or its settings module")
		}
		return nil, fmt.Errorf("inspect %s: not a Django project (no readable manage.py)%s", dir, projectHint(dir))
	}
	p := &Project{Dir: dir, Python: opts.Python, PythonSource: "configured", HasManage: manage != nil,
		PythonPath: opts.PythonPath, entryApp: opts.App, account: opts.Account}
	if p.Python == "" {
		where := dir
		if where == "" && len(opts.PythonPath) > 0 {
			where = opts.PythonPath[0]
		}
		p.Python, p.PythonSource = FindPython(where)
	}
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Minute
	}
	if opts.EnvFile == "" && dir != "" {
		if f := filepath.Join(dir, ".env"); fileExists(f) {
			opts.EnvFile = f
		}
	}
	cfg := Config{EnvFile: opts.EnvFile, Env: opts.Env, PythonPath: opts.PythonPath}
	env, err := cfg.childEnv()
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", dir, err)
	}
	// explicit is what the children get whatever the entry point says.
	explicit := env
	switch {
	case opts.Settings != "":
		explicit = mergeEnv(env, []string{"DJANGO_SETTINGS_MODULE=" + opts.Settings})
		p.SettingsSource = "configured"
	case hasEnv(opts.Env, "DJANGO_SETTINGS_MODULE"):
		p.SettingsSource = "[app] env"
	case cfg.EnvFile != "" && envFileSets(cfg.EnvFile, "DJANGO_SETTINGS_MODULE"):
		p.SettingsSource = "the env file " + cfg.EnvFile
	case hasEnv(env, "DJANGO_SETTINGS_MODULE"):
		p.SettingsSource = "the environment"
	}
	first := explicit
	if p.SettingsSource == "" {
		m := settingsModuleInManage.FindSubmatch(manage)
		if m == nil {
			return nil, fmt.Errorf("inspect %s: manage.py does not name DJANGO_SETTINGS_MODULE; set it in the env file", dir)
		}
		first = mergeEnv(env, []string{"DJANGO_SETTINGS_MODULE=" + string(m[1])})
		p.SettingsSource = "manage.py"
	}
	if opts.ImportApp {
		explicit = append(explicit, "FRONTDOOR_INSPECT_IMPORT_APP=1")
		first = append(first, "FRONTDOOR_INSPECT_IMPORT_APP=1")
	}

	r, err := p.runScript(ctx, first, opts.App, opts.Timeout)
	if err != nil {
		return nil, err
	}
	if opts.App == "" && r.SettingsError == "" {
		// The settings name the entry point; what it sets for itself may
		// choose other settings than manage.py's: look again with those.
		if entry := colonApp(firstNonEmpty(r.ASGIApplication, r.WSGIApplication)); entry != "" && entryChanges(r.EntryEnv, first, explicit) {
			again, err := p.runScript(ctx, explicit, entry, opts.Timeout)
			if err != nil {
				return nil, err
			}
			r = again
		}
	}
	p.decode(r, explicit)
	if p.Dir == "" {
		p.Dir = projectDirOf(p)
	}
	p.Problems = p.findProblems(problemContext{domains: opts.Domains, https: opts.HTTPS})
	return p, nil
}

// runScript runs the introspection script once with env, entry naming the
// application module whose environment defaults apply ("" for none).
func (p *Project) runScript(ctx context.Context, env []string, entry string, timeout time.Duration) (*inspectResult, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.Python, "-c", inspectScript)
	cmd.Dir = p.Dir
	if cmd.Dir == "" {
		cmd.Dir = "/"
		if len(p.PythonPath) > 0 {
			cmd.Dir = p.PythonPath[0]
		}
	}
	cmd.Env = env
	if entry != "" {
		cmd.Env = append(append([]string(nil), env...), "FRONTDOOR_INSPECT_APP="+entry)
	}
	if p.account != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.account.credential()}
		cmd.Env = p.account.env(cmd.Env)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	what := p.Dir
	if what == "" {
		what = "the settings"
	}
	// stdout holds the database password: it never goes into an error.
	_, result, found := bytes.Cut(stdout.Bytes(), []byte(inspectMarker))
	if !found {
		msg := lastLines(stderr.String(), 10)
		if runErr != nil {
			return nil, fmt.Errorf("inspect %s with %s: %w: %s", what, p.Python, runErr, msg)
		}
		return nil, fmt.Errorf("inspect %s with %s: the script printed no result: %s", what, p.Python, msg)
	}
	result, _, _ = bytes.Cut(result, []byte("\n"))
	var r inspectResult
	if err := json.Unmarshal(result, &r); err != nil {
		return nil, fmt.Errorf("inspect %s: decode the introspection result: %w", what, err)
	}
	return &r, nil
}

// entryChanges reports whether the entry point's os.environ.setdefault
// calls would change the environment the first look used: a variable
// that explicit does not set, with another value than first's.
func entryChanges(entryEnv map[string]string, first, explicit []string) bool {
	for k, v := range entryEnv {
		if hasEnv(explicit, k) {
			continue
		}
		if got, ok := lookupEnv(first, k); !ok || got != v {
			return true
		}
	}
	return false
}

// inspectResult mirrors the script's JSON.
type inspectResult struct {
	PythonVersion        string            `json:"python_version"`
	DjangoVersion        string            `json:"django_version"`
	SettingsModule       string            `json:"settings_module"`
	Modules              map[string]bool   `json:"modules"`
	EntryFile            string            `json:"entry_file"`
	EntryEnv             map[string]string `json:"entry_env"`
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
	InstalledApps        []string          `json:"installed_apps"`
	SessionCookieSecure  bool              `json:"session_cookie_secure"`
	CSRFCookieSecure     bool              `json:"csrf_cookie_secure"`
	CSRFTrustedOrigins   []string          `json:"csrf_trusted_origins"`
	CompressOffline      bool              `json:"compress_offline"`
	RQQueues             []string          `json:"rq_queues"`
	Paths                map[string]string `json:"paths"`
	SettingsFiles        []SettingsFile    `json:"settings_files"`
	DefinedIn            map[string]string `json:"defined_in"`
	SettingsPackageDir   string            `json:"settings_package_dir"`
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

// decode takes the script's findings; explicit is the environment the
// children get without the entry point's defaults.
func (p *Project) decode(r *inspectResult, explicit []string) {
	p.PythonVersion, p.DjangoVersion, p.SettingsModule = r.PythonVersion, r.DjangoVersion, r.SettingsModule
	p.Modules = r.Modules
	p.EntryFile = r.EntryFile
	for k, v := range r.EntryEnv {
		if hasEnv(explicit, k) {
			continue
		}
		if p.EntryEnv == nil {
			p.EntryEnv = map[string]string{}
		}
		p.EntryEnv[k] = v
		if k == "DJANGO_SETTINGS_MODULE" && v == p.SettingsModule && p.SettingsSource == "manage.py" && r.EntryFile != "" {
			p.SettingsSource = r.EntryFile + " (the application's entry point)"
		}
	}
	p.WSGIApplication, p.ASGIApplication = r.WSGIApplication, r.ASGIApplication
	p.StaticURL, p.StaticRoot, p.StaticfilesStorage = staticURL(r.StaticURL), r.StaticRoot, r.StaticfilesStorage
	p.MediaURL, p.MediaRoot = r.MediaURL, r.MediaRoot
	p.AllowedHosts, p.Debug, p.SecureProxyHeader = r.AllowedHosts, r.Debug, r.SecureProxySSLHeader
	p.HasStaticfiles, p.InstalledApps = r.StaticfilesInstalled, r.InstalledApps
	p.SessionCookieSecure, p.CSRFCookieSecure, p.CSRFTrustedOrigins = r.SessionCookieSecure, r.CSRFCookieSecure, r.CSRFTrustedOrigins
	p.CompressOffline, p.RQQueues, p.Paths = r.CompressOffline, r.RQQueues, r.Paths
	p.SettingsFiles, p.DefinedIn, p.SettingsPackageDir = r.SettingsFiles, r.DefinedIn, r.SettingsPackageDir
	for i := range p.SettingsFiles {
		p.SettingsFiles[i].PackageOwned = packageOwned(p.SettingsFiles[i].Path)
	}
	if p.StaticRoot != "" && packageOwned(p.StaticRoot) {
		entries, _ := os.ReadDir(p.StaticRoot)
		p.StaticRootShipped = len(entries) > 0
	}
	p.insecureSecretKey, p.appImportErrors, p.settingsError = r.InsecureSecretKey, r.AppImportErrors, r.SettingsError
	for alias, d := range r.Databases {
		p.Databases = append(p.Databases, Database{
			Alias: alias, Engine: d.Engine, Name: d.Name, User: d.User, Password: d.Password,
			Host: d.Host, Port: d.Port, Options: d.Options,
		})
	}
	sortDatabases(p.Databases)
}

// staticURL is STATIC_URL as requests see it: Django puts the script
// prefix ("/") in front of a relative one ("static/", startproject's
// default since Django 4).
func staticURL(raw string) string {
	if raw == "" || strings.Contains(raw, "://") || strings.HasPrefix(raw, "/") {
		return raw
	}
	return "/" + raw
}

// projectDirOf is the working directory of a project without manage.py:
// the directory holding the settings module's top-level package (or the
// module itself).
func projectDirOf(p *Project) string {
	if p.SettingsPackageDir != "" {
		return filepath.Dir(p.SettingsPackageDir)
	}
	if len(p.SettingsFiles) > 0 {
		return filepath.Dir(p.SettingsFiles[0].Path)
	}
	if len(p.PythonPath) > 0 {
		return p.PythonPath[0]
	}
	return "/"
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

// lookupEnv finds name's value in env.
func lookupEnv(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// envFileSets reports whether the env file sets name.
func envFileSets(path, name string) bool {
	env, err := ParseEnvFile(path)
	return err == nil && hasEnv(env, name)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
