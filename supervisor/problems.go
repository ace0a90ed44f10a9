package supervisor

import (
	"crypto/rand"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

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
	// Fix says what to do: settings lines (one per line) when File is
	// set, otherwise a command or an instruction.
	Fix string `json:"fix"`
	// File is the settings file the lines of Fix go in ("" when Fix is not
	// settings lines).
	File string `json:"file,omitempty"`
}

// Problem codes.
const (
	ProblemSettingsFailed        = "settings-failed"
	ProblemDjangoMissing         = "django-missing"
	ProblemDebugOn               = "debug-on"
	ProblemStaticRootUnset       = "static-root-unset"
	ProblemStaticRootPackaged    = "static-root-package-owned"
	ProblemStaticfilesMissing    = "staticfiles-not-installed"
	ProblemMediaRootUnset        = "media-root-unset"
	ProblemProxySSLHeader        = "secure-proxy-ssl-header"
	ProblemAllowedHostsEmpty     = "allowed-hosts-empty"
	ProblemAllowedHostsNoNames   = "allowed-hosts-no-names"
	ProblemInsecureSecretKey     = "insecure-secret-key"
	ProblemAppImportFailed       = "app-import-failed"
	ProblemGunicornMissing       = "gunicorn-missing"
	ProblemUvicornMissing        = "uvicorn-missing"
	ProblemPostgresDriver        = "postgres-driver-missing"
	ProblemSessionCookieInsecure = "session-cookie-not-secure"
	ProblemCSRFCookieInsecure    = "csrf-cookie-not-secure"
	ProblemCSRFTrustedOrigins    = "csrf-trusted-origins-unset"
)

// proxySSLHeader is the SECURE_PROXY_SSL_HEADER value matching what
// frontdoor sends: X-Forwarded-Proto on every request it proxies.
const proxySSLHeader = "('HTTP_X_FORWARDED_PROTO', 'https')"

// problemContext is what findProblems needs besides the project.
type problemContext struct {
	domains []string // the site's names (--domain, else ALLOWED_HOSTS')
	https   bool     // the site is served over HTTPS
}

// findProblems lists what to fix, most serious first.
func (p *Project) findProblems(pc problemContext) []Problem {
	var out []Problem
	add := func(code string, sev Severity, msg, fix string) {
		out = append(out, Problem{Code: code, Severity: sev, Message: msg, Fix: fix})
	}
	// set adds a problem fixed by settings lines in the file that rules
	// setting.
	set := func(code string, sev Severity, msg, setting string, lines func(SettingsFile) []string) {
		f := p.FixFile(setting)
		out = append(out, Problem{Code: code, Severity: sev, Message: msg, Fix: strings.Join(lines(f), "\n"), File: f.Path})
	}
	if !p.Modules["django"] {
		add(ProblemDjangoMissing, SeverityError,
			fmt.Sprintf("%s cannot import django", p.Python),
			"install Django for this interpreter: `apt install python3-django`, or `pip install django` in the project's virtualenv (.venv/)")
		return out
	}
	if p.settingsError != "" {
		with := ""
		if env := p.entryEnvLine(); env != "" {
			with = fmt.Sprintf(" with %s, which %s sets for itself,", env, p.EntryFile)
		}
		add(ProblemSettingsFailed, SeverityError,
			fmt.Sprintf("the settings module %s (from %s)%s does not load: %s", p.SettingsModule, p.SettingsSource, with, p.settingsError),
			fmt.Sprintf("fix the error, then check with `%s`", p.checkCommand()))
		return out
	}
	for obj, errLine := range p.appImportErrors {
		add(ProblemAppImportFailed, SeverityError,
			fmt.Sprintf("the application %s does not import: %s", obj, errLine),
			fmt.Sprintf("fix the error; `cd %s && %s -c 'import %s'` shows it", p.Dir, p.Python, moduleOf(obj)))
	}
	server := p.Server()
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
		set(ProblemDebugOn, SeverityError,
			"DEBUG is on: Django shows tracebacks and settings to anyone, and keeps every query in memory",
			"DEBUG", func(f SettingsFile) []string {
				if f.HasOS {
					return []string{"DEBUG = os.environ.get('DJANGO_DEBUG') == '1'   # off unless asked for"}
				}
				return []string{"DEBUG = False"}
			})
	}
	names := pc.domains
	if len(names) == 0 {
		names = p.Domains()
	}
	if len(p.AllowedHosts) == 0 {
		set(ProblemAllowedHostsEmpty, SeverityError,
			"ALLOWED_HOSTS is empty: with DEBUG off Django answers every request with 400",
			"ALLOWED_HOSTS", func(SettingsFile) []string {
				hosts := names
				if len(hosts) == 0 {
					hosts = []string{"example.com", "www.example.com"}
				}
				return []string{"ALLOWED_HOSTS = " + pyList(hosts)}
			})
	} else if len(p.Domains()) == 0 && len(pc.domains) == 0 {
		add(ProblemAllowedHostsNoNames, SeverityWarning,
			fmt.Sprintf("ALLOWED_HOSTS %v names no concrete host, so frontdoor cannot tell which certificates to get", p.AllowedHosts),
			"list the names in ALLOWED_HOSTS, or pass them to `frontdoor init --domain NAME`")
	}
	p.proxyHeaderProblem(set)
	p.staticProblems(set, add)
	if p.MediaURL != "" && p.MediaRoot == "" {
		set(ProblemMediaRootUnset, SeverityWarning,
			fmt.Sprintf("MEDIA_URL is %q but MEDIA_ROOT is not set: uploads would land in the working directory", p.MediaURL),
			"MEDIA_ROOT", func(f SettingsFile) []string { return p.dirLines(f, "MEDIA_ROOT", "media") })
	}
	if p.insecureSecretKey {
		set(ProblemInsecureSecretKey, SeverityWarning,
			"SECRET_KEY is not secret: startproject's development key (django-insecure-...), a package's placeholder, or shorter "+
				"than 50 characters (what Django's check --deploy calls security.W009); sessions and password reset links rely on it",
			"SECRET_KEY", func(f SettingsFile) []string {
				if !p.HasManage || f.PackageOwned || p.OverrideFile() != "" {
					// A packaged application: its administrator's file
					// holds the key itself.
					return []string{"SECRET_KEY = " + pyString(randomSecretKey())}
				}
				return withOS(f, "SECRET_KEY = os.environ['DJANGO_SECRET_KEY']   # and DJANGO_SECRET_KEY=<50 random characters> in "+
					filepath.Join(p.Dir, ".env"))
			})
	}
	if pc.https {
		p.httpsProblems(set, names)
	}
	return out
}

// proxyHeaderProblem reports SECURE_PROXY_SSL_HEADER. frontdoor's gunicorn
// trusts the edge's X-Forwarded-Proto (--forwarded-allow-ips), so without
// the setting Django still sees HTTPS; a setting that names another
// header, though, makes Django look only there, and frontdoor never sends it.
func (p *Project) proxyHeaderProblem(set func(string, Severity, string, string, func(SettingsFile) []string)) {
	line := func(SettingsFile) []string { return []string{"SECURE_PROXY_SSL_HEADER = " + proxySSLHeader} }
	h := p.SecureProxyHeader
	switch {
	case h == nil:
		set(ProblemProxySSLHeader, SeverityWarning,
			"SECURE_PROXY_SSL_HEADER is not set. Under frontdoor it still works: its gunicorn takes the scheme from the edge's "+
				"X-Forwarded-Proto, so request.is_secure() is True. Run any other way behind a proxy (runserver, a hand-started "+
				"server), is_secure() is False: SECURE_SSL_REDIRECT redirects forever, redirects and build_absolute_uri() say "+
				"http://, and "+p.csrfConsequence(),
			"SECURE_PROXY_SSL_HEADER", line)
	case len(h) != 2 || h[0] != "HTTP_X_FORWARDED_PROTO" || h[1] != "https":
		set(ProblemProxySSLHeader, SeverityError,
			fmt.Sprintf("SECURE_PROXY_SSL_HEADER is %v, a header frontdoor never sends (it sends X-Forwarded-Proto), so Django "+
				"takes every request for plain HTTP: request.is_secure() is False, SECURE_SSL_REDIRECT redirects forever, "+
				"redirects and build_absolute_uri() say http://, and %s", h, p.csrfConsequence()),
			"SECURE_PROXY_SSL_HEADER", line)
	}
}

// csrfConsequence is what a wrong is_secure() does to CSRF checks.
func (p *Project) csrfConsequence() string {
	if p.DjangoAtLeast(4, 0) {
		return "CSRF refuses every HTTPS form post (Origin checking failed: the browser's https:// origin against http://)."
	}
	return "CSRF skips its Referer check, which it makes only for HTTPS requests."
}

// staticProblems reports what keeps collectstatic from filling the
// directory the edge serves.
func (p *Project) staticProblems(set func(string, Severity, string, string, func(SettingsFile) []string), add func(string, Severity, string, string)) {
	switch {
	case !p.HasStaticfiles:
		add(ProblemStaticfilesMissing, SeverityWarning,
			"django.contrib.staticfiles is not in INSTALLED_APPS: there is no collectstatic",
			"add 'django.contrib.staticfiles' to INSTALLED_APPS in "+p.FixFile("INSTALLED_APPS").Path)
	case p.StaticRoot == "":
		set(ProblemStaticRootUnset, SeverityError,
			"STATIC_ROOT is not set: collectstatic has nowhere to put the files frontdoor serves",
			"STATIC_ROOT", func(f SettingsFile) []string { return p.dirLines(f, "STATIC_ROOT", "staticfiles") })
	case packageOwned(p.StaticRoot) && !p.StaticRootShipped:
		set(ProblemStaticRootPackaged, SeverityError,
			fmt.Sprintf("STATIC_ROOT %s is a directory apt manages, and empty: collectstatic (a release step) would write "+
				"there, where the application's user may not", p.StaticRoot),
			"STATIC_ROOT", func(SettingsFile) []string {
				return []string{fmt.Sprintf("STATIC_ROOT = %s", pyString(filepath.Join("/var/lib", p.packageName(), "static")))}
			})
	}
}

// httpsProblems suggests the settings that belong to a site on HTTPS.
func (p *Project) httpsProblems(set func(string, Severity, string, string, func(SettingsFile) []string), names []string) {
	if !p.SessionCookieSecure {
		set(ProblemSessionCookieInsecure, SeverityWarning,
			"SESSION_COOKIE_SECURE is off: the browser also sends the session cookie over plain HTTP, where anyone on the path can read it",
			"SESSION_COOKIE_SECURE", func(SettingsFile) []string { return []string{"SESSION_COOKIE_SECURE = True"} })
	}
	if !p.CSRFCookieSecure {
		set(ProblemCSRFCookieInsecure, SeverityWarning,
			"CSRF_COOKIE_SECURE is off: the CSRF cookie also travels over plain HTTP",
			"CSRF_COOKIE_SECURE", func(SettingsFile) []string { return []string{"CSRF_COOKIE_SECURE = True"} })
	}
	if p.DjangoAtLeast(4, 0) && len(p.CSRFTrustedOrigins) == 0 && len(names) > 0 {
		origins := make([]string, len(names))
		for i, n := range names {
			origins[i] = "https://" + n
		}
		set(ProblemCSRFTrustedOrigins, SeverityWarning,
			"CSRF_TRUSTED_ORIGINS is empty: Django 4 checks the Origin of every HTTPS form post, and refuses a post from another "+
				"of the site's names (or a form served from one name posting to another)",
			"CSRF_TRUSTED_ORIGINS", func(SettingsFile) []string { return []string{"CSRF_TRUSTED_ORIGINS = " + pyList(origins)} })
	}
}

// dirLines sets a directory setting in f: BASE_DIR / 'name' where BASE_DIR
// is a Path, os.path.join(BASE_DIR, 'name') where it is a string, else an
// absolute path (next to the project, or under /var/lib for a package).
func (p *Project) dirLines(f SettingsFile, setting, name string) []string {
	switch f.BaseDir {
	case "path":
		return []string{fmt.Sprintf("%s = BASE_DIR / %s", setting, pyString(name))}
	case "str":
		return withOS(f, fmt.Sprintf("%s = os.path.join(BASE_DIR, %s)", setting, pyString(name)))
	}
	dir := filepath.Join(p.Dir, name)
	if !p.HasManage || packageOwned(dir) {
		dir = filepath.Join("/var/lib", p.packageName(), name)
	}
	return []string{fmt.Sprintf("%s = %s", setting, pyString(dir))}
}

// packageName names a packaged application for directories of its own:
// the settings module's top-level package ("graphite").
func (p *Project) packageName() string {
	if top, _, _ := strings.Cut(p.SettingsModule, "."); top != "" && top != "settings" {
		return top
	}
	return filepath.Base(p.Dir)
}

// checkCommand is the command that shows a settings error in full, in
// the environment the entry point gives itself.
func (p *Project) checkCommand() string {
	env := p.entryEnvLine()
	if env != "" {
		env += " "
	}
	if p.HasManage {
		return fmt.Sprintf("cd %s && %s%s manage.py check", p.Dir, env, p.Python)
	}
	return fmt.Sprintf("cd %s && %sDJANGO_SETTINGS_MODULE=%s %s -m django check", p.Dir, env, p.SettingsModule, p.Python)
}

// entryEnvLine is "K=V ..." for the variables, other than the settings
// module, that the application's module sets for itself.
func (p *Project) entryEnvLine() string {
	var keys []string
	for k := range p.EntryEnv {
		if k != "DJANGO_SETTINGS_MODULE" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + p.EntryEnv[k]
	}
	return strings.Join(keys, " ")
}

// randomSecretKey is a new key as Django's get_random_secret_key makes it:
// 50 characters from its alphabet, from the system's random source.
func randomSecretKey() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789!@#%^&*(-_=+)"
	b := make([]byte, 50)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// withOS prefixes line with "import os" when f's namespace lacks it.
func withOS(f SettingsFile, line string) []string {
	if f.HasOS {
		return []string{line}
	}
	return []string{"import os", line}
}

// pyString quotes s as a Python string literal.
func pyString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}

// pyList is a Python list of string literals.
func pyList(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = pyString(s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}
