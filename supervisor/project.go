package supervisor

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Project is what Inspect learned about a Django project: the facts
// `frontdoor init` turns into a config, and the problems to fix.
type Project struct {
	Dir           string `json:"dir"`
	Python        string `json:"python"`
	PythonSource  string `json:"python_source"` // where Python was found, e.g. "virtualenv /srv/site/.venv"
	PythonVersion string `json:"python_version"`
	DjangoVersion string `json:"django_version"`
	// HasManage says Dir holds manage.py; without it, management
	// commands run as `python -m django` with the settings module.
	HasManage      bool     `json:"has_manage"`
	PythonPath     []string `json:"python_path,omitempty"`
	SettingsModule string   `json:"settings_module"`
	// SettingsSource says where SettingsModule came from: "configured",
	// "the env file", "the environment", the entry point's file, or
	// "manage.py".
	SettingsSource string `json:"settings_source"`
	// EntryFile is the application module's source file (wsgi.py); EntryEnv
	// the variables it sets with os.environ.setdefault that the children's
	// environment does not set otherwise. Every child gets them, so that
	// release steps and workers load the settings the web process loads.
	EntryFile string            `json:"entry_file,omitempty"`
	EntryEnv  map[string]string `json:"entry_env,omitempty"`

	WSGIApplication    string     `json:"wsgi_application"` // dotted, "mysite.wsgi.application"
	ASGIApplication    string     `json:"asgi_application"`
	StaticURL          string     `json:"static_url"`
	StaticRoot         string     `json:"static_root"`
	StaticfilesStorage string     `json:"staticfiles_storage"`
	MediaURL           string     `json:"media_url"` // as written: Django's default is ""
	MediaRoot          string     `json:"media_root"`
	AllowedHosts       []string   `json:"allowed_hosts"`
	Debug              bool       `json:"debug"`
	SecureProxyHeader  []string   `json:"secure_proxy_ssl_header"` // nil when unset
	Databases          []Database `json:"databases"`               // "default" first
	InstalledApps      []string   `json:"installed_apps"`

	SessionCookieSecure bool     `json:"session_cookie_secure"`
	CSRFCookieSecure    bool     `json:"csrf_cookie_secure"`
	CSRFTrustedOrigins  []string `json:"csrf_trusted_origins"`
	// CompressOffline says django-compressor is installed with
	// COMPRESS_OFFLINE: `manage.py compress` must run at every release.
	CompressOffline bool `json:"compress_offline"`
	// RQQueues are the names in RQ_QUEUES (django-rq).
	RQQueues []string `json:"rq_queues,omitempty"`
	// Paths are the settings whose value is an existing absolute path
	// (LOG_DIR, STATIC_ROOT...): their owners tell who runs the app.
	Paths map[string]string `json:"paths,omitempty"`

	// SettingsFiles are the files the settings module loaded, settings
	// module first; DefinedIn names, for the settings frontdoor may
	// suggest a line for, the file whose assignment is in force.
	SettingsFiles []SettingsFile    `json:"settings_files,omitempty"`
	DefinedIn     map[string]string `json:"defined_in,omitempty"`
	// SettingsPackageDir is the directory of the settings module's
	// top-level package ("" for a top-level module).
	SettingsPackageDir string `json:"settings_package_dir,omitempty"`

	// HasStaticfiles says django.contrib.staticfiles is installed (so
	// collectstatic exists).
	HasStaticfiles bool `json:"has_staticfiles"`
	// StaticRootShipped says STATIC_ROOT belongs to a package that ships it
	// collected (graphite-web's /usr/share/graphite-web/static): it is
	// served as it is, without collectstatic, which could not write there.
	StaticRootShipped bool `json:"static_root_shipped,omitempty"`
	// Modules says which of django, gunicorn, uvicorn, psycopg2, psycopg,
	// celery the interpreter can import.
	Modules map[string]bool `json:"modules"`

	Problems []Problem `json:"problems"`

	insecureSecretKey bool
	appImportErrors   map[string]string
	settingsError     string
	entryApp          string   // the configured application, "" for the settings' own
	account           *Account // who the script ran as
}

// SettingsFile is one file of the settings, and what a line added to it
// may use.
type SettingsFile struct {
	Path   string `json:"path"`
	Module string `json:"module,omitempty"` // "" for a file exec'd rather than imported
	// HasOS says the file's namespace has the os module.
	HasOS bool `json:"has_os"`
	// BaseDir is "path" when BASE_DIR is a pathlib.Path there, "str" when
	// a string, "" when there is none; BaseDirValue is its value.
	BaseDir      string `json:"base_dir,omitempty"`
	BaseDirValue string `json:"base_dir_value,omitempty"`
	// PackageOwned says a Debian package owns the file (it lives under
	// /usr): an administrator's change goes elsewhere.
	PackageOwned bool `json:"package_owned"`
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

// IsSQLite reports whether the entry is an SQLite file.
func (d Database) IsSQLite() bool { return strings.Contains(d.Engine, "sqlite") }

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

// HasApp reports whether an installed app's name is in INSTALLED_APPS
// (as a module, or as the module of an AppConfig path).
func (p *Project) HasApp(name string) bool {
	for _, a := range p.InstalledApps {
		if a == name || strings.HasPrefix(a, name+".apps.") {
			return true
		}
	}
	return false
}

// DjangoAtLeast reports whether the project's Django is major.minor or later.
func (p *Project) DjangoAtLeast(major, minor int) bool {
	parts := strings.SplitN(p.DjangoVersion, ".", 3)
	if len(parts) < 2 {
		return false
	}
	maj, err1 := strconv.Atoi(parts[0])
	mnr, err2 := strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil {
		return false
	}
	return maj > major || maj == major && mnr >= minor
}

// Server returns the server the project calls for: uvicorn when the
// settings define ASGI_APPLICATION, gunicorn otherwise.
func (p *Project) Server() Server {
	if p.ASGIApplication != "" {
		return ServerUvicorn
	}
	if p.entryApp != "" && strings.Contains(moduleOf(p.entryApp), "asgi") {
		return ServerUvicorn
	}
	return ServerGunicorn
}

// Generic application objects for a project whose settings name none:
// Django's own handlers, which read DJANGO_SETTINGS_MODULE (what
// runserver uses when WSGI_APPLICATION is unset). gunicorn calls the
// factory once per worker.
const (
	genericWSGIApp = "django.core.wsgi:get_wsgi_application()"
	genericASGIApp = "django.core.asgi:get_asgi_application()"
)

// AppFor returns the application object for server in gunicorn's
// "module:attribute" form: the configured entry point (InspectOptions.App),
// else the settings' WSGI_APPLICATION or ASGI_APPLICATION, else for
// uvicorn the asgi module next to the wsgi one, else Django's generic
// handler.
func (p *Project) AppFor(server Server) string {
	if p.entryApp != "" {
		return p.entryApp
	}
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
		return genericASGIApp
	}
	if p.WSGIApplication == "" {
		return genericWSGIApp
	}
	return colonApp(p.WSGIApplication)
}

// settingsFile returns the entry of SettingsFiles for path.
func (p *Project) settingsFile(path string) SettingsFile {
	for _, f := range p.SettingsFiles {
		if f.Path == path {
			return f
		}
	}
	return SettingsFile{Path: path, PackageOwned: packageOwned(path)}
}

// OverrideFile is, for a packaged application (its settings module lives
// in a file a package owns), the administrator's file the settings load:
// the last settings file that is not the package's, such as
// /etc/graphite/local_settings.py. "" otherwise.
func (p *Project) OverrideFile() string {
	if len(p.SettingsFiles) == 0 || !p.SettingsFiles[0].PackageOwned {
		return ""
	}
	for i := len(p.SettingsFiles) - 1; i > 0; i-- {
		if f := p.SettingsFiles[i]; !f.PackageOwned {
			return f.Path
		}
	}
	return ""
}

// FixFile is the file where a line that sets setting belongs: the file
// whose assignment is in force, unless a package owns it and the
// administrator has an override file; for a setting left at Django's
// default, the override file or the settings module.
func (p *Project) FixFile(setting string) SettingsFile {
	defined := p.DefinedIn[setting]
	override := p.OverrideFile()
	switch {
	case defined != "" && !packageOwned(defined):
		return p.settingsFile(defined)
	case override != "":
		return p.settingsFile(override)
	case defined != "":
		return p.settingsFile(defined)
	case len(p.SettingsFiles) > 0:
		return p.SettingsFiles[0]
	}
	return SettingsFile{}
}

// DisplayPath shows a file relative to the project when it is inside it.
func (p *Project) DisplayPath(path string) string {
	if rel, err := filepath.Rel(p.Dir, path); err == nil && !strings.HasPrefix(rel, "..") && p.HasManage {
		return rel
	}
	return path
}

// packageOwned reports whether a Debian package owns path: everything
// under /usr but /usr/local is the package manager's.
func packageOwned(path string) bool {
	return strings.HasPrefix(path, "/usr/") && !strings.HasPrefix(path, "/usr/local/")
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
	if mod, attr, ok := strings.Cut(dotted, ":"); ok {
		return mod, attr
	}
	i := strings.LastIndexByte(dotted, '.')
	if i < 0 {
		return dotted, "application"
	}
	return dotted[:i], dotted[i+1:]
}

// moduleOf is "mysite.wsgi" for "mysite.wsgi.application" or "mysite.wsgi:application".
func moduleOf(dotted string) string {
	mod, _ := splitDotted(dotted)
	return mod
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
