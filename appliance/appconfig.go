package appliance

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"frontdoor/supervisor"
)

// appUpstream is what a route says to proxy to the application with
// upstream = "app" (the form from before [[app]]): the only app, or the
// one named "app".
const appUpstream = "app"

// AppConfig is one [app] or [[app]] table: a Django project frontdoor
// supervises. Only Dir is required (and Name when there are several);
// every zero field takes the supervisor's default (supervisor.Config
// documents each, docs/config.md repeats them).
type AppConfig struct {
	// Name is how routes (app = "NAME") and commands (frontdoor deploy
	// NAME) refer to the app: lowercase letters, digits, '-' and '_'.
	// Default "app" for a file with one app.
	Name string `toml:"name"`
	// Dir is the Django project: the directory holding manage.py (or, with
	// settings, the working directory of a project without one).
	Dir string `toml:"dir"`
	// Settings is DJANGO_SETTINGS_MODULE for every process (default: the
	// env's, else what the application's module sets, else manage.py's).
	Settings string `toml:"settings"`
	// PythonPath lists directories put in front of PYTHONPATH.
	PythonPath []string `toml:"pythonpath"`
	// User is the account the processes run as when frontdoor runs as
	// root (default: the owner of dir; never root).
	User string `toml:"user"`
	// Python is the interpreter (default: the project's .venv or venv,
	// $VIRTUAL_ENV, else /usr/bin/python3).
	Python string `toml:"python"`
	// Server is "gunicorn" (WSGI) or "uvicorn" (ASGI); default from the
	// settings (ASGI_APPLICATION means uvicorn).
	Server string `toml:"server"`
	// Module is the application object, "mysite.wsgi:application"
	// (default: WSGI_APPLICATION or ASGI_APPLICATION from the settings).
	Module string `toml:"module"`
	// Workers is gunicorn's worker count (default 2×cores+1).
	Workers     int      `toml:"workers"`
	WorkerClass string   `toml:"worker_class"` // default "gthread" (WSGI only)
	Threads     int      `toml:"threads"`      // per gthread worker, default 4
	KeepAlive   Duration `toml:"keepalive"`    // app server's idle keep-alive, default 10s
	// Args are extra gunicorn arguments, placed before the application.
	Args []string `toml:"args"`
	// EnvFile holds KEY=VALUE lines for every child (default: the
	// project's .env when it exists).
	EnvFile string `toml:"env_file"`
	// Env holds extra "KEY=VALUE" pairs, over the env file.
	Env []string `toml:"env"`

	// ReleaseSteps = false turns every release step off; WaitPostgres,
	// Migrate and CollectStatic turn one off (all default true).
	ReleaseSteps  *bool `toml:"release_steps"`
	WaitPostgres  *bool `toml:"wait_postgres"`
	Migrate       *bool `toml:"migrate"`
	CollectStatic *bool `toml:"collectstatic"`
	// CompressStatic writes .br, .zst and .gz next to STATIC_ROOT's
	// compressible files at every release (default true).
	CompressStatic *bool    `toml:"compress_static"`
	StepTimeout    Duration `toml:"step_timeout"` // each release command, default 10m
	// Release are the project's own release steps ([[app.release]]).
	Release []AppReleaseConfig `toml:"release"`

	PostgresInterval    Duration `toml:"postgres_interval"`     // health check period, default 10s
	PostgresWaitTimeout Duration `toml:"postgres_wait_timeout"` // the wait-for-PostgreSQL step, default 5m

	ReadyTimeout Duration `toml:"ready_timeout"` // a new generation must answer within it, default 60s
	// StartHold is how long requests wait for the application while it
	// boots with frontdoor (after a restart or an upgrade of frontdoor:
	// release steps, then the first generation) before they get the 503
	// page; "0s" answers 503 at once. Default 30s. Once the application
	// has served, a crash gets 503 at once whatever this says.
	StartHold      *Duration `toml:"start_hold"`
	ReadyPath      string    `toml:"ready_path"`      // path of the readiness request, default "/"
	StopTimeout    Duration  `toml:"stop_timeout"`    // SIGTERM to SIGKILL, default 30s
	WebSocketGrace Duration  `toml:"websocket_grace"` // a replaced generation with open tunnels, default 10m
	// MemoryLimit restarts the web generation (blue/green) when its
	// process tree's resident memory passes it: "512MiB", "2G". Default
	// none.
	MemoryLimit    string   `toml:"memory_limit"`
	SampleInterval Duration `toml:"sample_interval"` // CPU and memory sampling, default 5s

	BackoffMin   Duration `toml:"backoff_min"`   // first restart delay, default 1s
	BackoffMax   Duration `toml:"backoff_max"`   // restart delay cap, default 60s
	HealthyAfter Duration `toml:"healthy_after"` // uptime that resets the backoff, default 60s

	// The site frontdoor generates when the file has [app] and no [[site]]:
	// "/" goes to the application, and each URL prefix below is served
	// from its directory (the protected one only through X-Accel-Redirect).
	StaticURL     string `toml:"static_url"`
	StaticRoot    string `toml:"static_root"`
	MediaURL      string `toml:"media_url"`
	MediaRoot     string `toml:"media_root"`
	ProtectedURL  string `toml:"protected_url"`
	ProtectedRoot string `toml:"protected_root"`

	// Processes are extra named processes ([[app.process]]).
	Processes []AppProcessConfig `toml:"process"`

	// MaintenancePage is an HTML file the app's routes answer with (503,
	// Retry-After) while `frontdoor maintenance on NAME` is in force
	// (default: frontdoor's branded page with the message given).
	MaintenancePage string `toml:"maintenance_page"`
}

// AppProcessConfig is one [[app.process]]: a long-running process next to
// the web server (a Celery worker, say).
type AppProcessConfig struct {
	Name string `toml:"name"`
	// Command is the argv; a first word of "python" means the project's
	// interpreter.
	Command []string `toml:"command"`
	Env     []string `toml:"env"`
}

// AppReleaseConfig is one [[app.release]]: a command run at every release
// after collectstatic, such as django-compressor's `manage compress`.
type AppReleaseConfig struct {
	Name string `toml:"name"`
	// Command is the argv; a first word of "manage" runs a management
	// command, "python" the project's interpreter.
	Command []string `toml:"command"`
	Timeout Duration `toml:"timeout"` // default: step_timeout
	// Optional lets the release go on when the step fails.
	Optional bool `toml:"optional"`
	// Enabled = false keeps the step without running it.
	Enabled *bool    `toml:"enabled"`
	Env     []string `toml:"env"`
}

// envPair is what an env entry must look like.
var envPair = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// dottedName is a Python module path.
var dottedName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

// processNamePattern mirrors the supervisor's rule for process names.
var processNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// maxRuntimeDir leaves room under the runtime directory for the
// application's sockets ("app12/web-123456.sock") within sun_path.
const maxRuntimeDir = 107 - len("/app12/web-123456.sock")

// validateOneApp checks the app table number i ([app], or one [[app]]).
func (c *Config) validateOneApp(i int) ConfigErrors {
	var errs ConfigErrors
	add := func(key, msg, fix string) { errs = append(errs, c.problem(key, msg, fix)) }
	a := &c.Apps[i]
	k := c.appKey(i)
	switch {
	case a.Dir == "":
		add(k+".dir", "[app] has no dir", `set dir = "/srv/mysite", the directory holding manage.py`)
	case !filepath.IsAbs(a.Dir):
		add(k+".dir", fmt.Sprintf("%q is not an absolute path", a.Dir), "write the project directory's absolute path")
	default:
		if st, err := os.Stat(a.Dir); err != nil || !st.IsDir() {
			add(k+".dir", fmt.Sprintf("%s is not a directory", a.Dir), "point dir at the Django project (the directory with manage.py)")
		} else if _, err := os.Stat(filepath.Join(a.Dir, "manage.py")); err != nil && a.Settings == "" {
			add(k+".dir", fmt.Sprintf("%s holds no manage.py, and [app] names no settings module, so nothing says which application to run", a.Dir),
				`point dir at the Django project (the directory with manage.py), or set settings = "mysite.settings" (and module = "mysite.wsgi:application" if it has its own)`)
		}
	}
	if a.Settings != "" && !dottedName.MatchString(a.Settings) {
		add(k+".settings", fmt.Sprintf("%q is not a module name", a.Settings), `write it like "mysite.settings"`)
	}
	for j, d := range a.PythonPath {
		if !filepath.IsAbs(d) {
			add(fmt.Sprintf("%s.pythonpath[%d]", k, j), fmt.Sprintf("%q is not an absolute path", d), "write the directory's absolute path")
		}
	}
	if a.User == "root" || a.User == "0" {
		add(k+".user", "frontdoor never runs the application as root", `name the account that owns the project, e.g. user = "www-data"`)
	}
	if a.Python != "" {
		if !filepath.IsAbs(a.Python) {
			add(k+".python", fmt.Sprintf("%q is not an absolute path", a.Python), "write the interpreter's path, e.g. /srv/mysite/.venv/bin/python, or remove the key")
		} else if st, err := os.Stat(a.Python); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			add(k+".python", fmt.Sprintf("%s is not an executable file", a.Python), "point python at the project's interpreter, or remove the key to find it")
		}
	}
	switch a.Server {
	case "", string(supervisor.ServerGunicorn), string(supervisor.ServerUvicorn):
	default:
		add(k+".server", fmt.Sprintf("%q is not an application server", a.Server), `use "gunicorn" (WSGI) or "uvicorn" (ASGI), or remove the key`)
	}
	if a.Module != "" && !strings.Contains(a.Module, ":") {
		add(k+".module", fmt.Sprintf("%q is not module:attribute", a.Module), `write it like "mysite.wsgi:application"`)
	}
	if a.Workers < 0 {
		add(k+".workers", "must not be negative", "use 0 for 2×cores+1")
	}
	if a.Threads < 0 {
		add(k+".threads", "must not be negative", "use 0 for the default of 4")
	}
	if a.KeepAlive.Duration != 0 && a.KeepAlive.Duration < time.Second {
		add(k+".keepalive", "gunicorn counts keep-alive in whole seconds", `use at least "1s"`)
	}
	if a.EnvFile != "" {
		if !filepath.IsAbs(a.EnvFile) {
			add(k+".env_file", fmt.Sprintf("%q is not an absolute path", a.EnvFile), "write the env file's absolute path")
		} else if _, err := supervisor.ParseEnvFile(a.EnvFile); err != nil {
			add(k+".env_file", err.Error(), "fix the file (KEY=VALUE lines) or the path")
		}
	}
	for j, kv := range a.Env {
		if !envPair.MatchString(kv) {
			add(fmt.Sprintf("%s.env[%d]", k, j), fmt.Sprintf("%q is not KEY=VALUE", kv), `write it like "DJANGO_SETTINGS_MODULE=mysite.settings"`)
		}
	}
	if a.MemoryLimit != "" {
		if _, err := parseByteSize(a.MemoryLimit); err != nil {
			add(k+".memory_limit", err.Error(), `write a size such as "512MiB" or "2G"`)
		}
	}
	if a.BackoffMin.Duration != 0 && a.BackoffMax.Duration != 0 && a.BackoffMax.Duration < a.BackoffMin.Duration {
		add(k+".backoff_max", fmt.Sprintf("%s is below backoff_min %s", a.BackoffMax.Duration, a.BackoffMin.Duration), "make backoff_max at least backoff_min")
	}
	if a.ReadyPath != "" && !strings.HasPrefix(a.ReadyPath, "/") {
		add(k+".ready_path", fmt.Sprintf("%q must start with /", a.ReadyPath), `write a path such as "/healthz/"`)
	}
	for _, loc := range a.locations() {
		if loc.url == "" && loc.root == "" {
			continue
		}
		if loc.url == "" || loc.root == "" {
			if loc.urlKey == "static_url" && loc.root == "" {
				add(k+".static_url", fmt.Sprintf("the project has static files (static_url %q) but no static_root: collectstatic has nowhere to put them and the edge nothing to serve", loc.url),
					"set STATIC_ROOT in the Django settings and run `frontdoor init` again, or set static_root to that directory")
				continue
			}
			add(k+"."+loc.urlKey, fmt.Sprintf("%s and %s go together", loc.urlKey, loc.rootKey), fmt.Sprintf("set both %s and %s, or neither", loc.urlKey, loc.rootKey))
			continue
		}
		if !strings.HasPrefix(loc.url, "/") || !strings.HasSuffix(loc.url, "/") {
			add(k+"."+loc.urlKey, fmt.Sprintf("%q must start and end with /", loc.url), `write a URL prefix such as "/static/" (Django's own setting)`)
		}
		if !filepath.IsAbs(loc.root) {
			add(k+"."+loc.rootKey, fmt.Sprintf("%q is not an absolute path", loc.root), "write the directory's absolute path")
		} else if st, err := os.Stat(loc.root); err != nil || !st.IsDir() {
			add(k+"."+loc.rootKey, fmt.Sprintf("%s is not a directory", loc.root), "create it (`frontdoor init` does), or correct the path")
		}
	}
	seen := map[string]bool{"web": true}
	for j, p := range a.Processes {
		pk := fmt.Sprintf("%s.process[%d]", k, j)
		if !processNamePattern.MatchString(p.Name) {
			add(pk+".name", fmt.Sprintf("%q is not a process name", p.Name), "use lowercase letters, digits, '-' and '_' (at most 32)")
		} else if seen[p.Name] {
			add(pk+".name", fmt.Sprintf("%q is used twice or is the web process's name", p.Name), "give each process its own name")
		}
		seen[p.Name] = true
		if len(p.Command) == 0 {
			add(pk+".command", "the process has no command", `write command = ["python", "-m", "celery", "-A", "mysite", "worker"]`)
		}
		for e, kv := range p.Env {
			if !envPair.MatchString(kv) {
				add(fmt.Sprintf("%s.env[%d]", pk, e), fmt.Sprintf("%q is not KEY=VALUE", kv), `write it like "C_FORCE_ROOT=1"`)
			}
		}
	}
	steps := map[string]bool{"inspect": true, "wait-postgres": true, "migrate": true, "collectstatic": true, "compress-static": true}
	for j, r := range a.Release {
		rk := fmt.Sprintf("%s.release[%d]", k, j)
		if !processNamePattern.MatchString(r.Name) {
			add(rk+".name", fmt.Sprintf("%q is not a step name", r.Name), "use lowercase letters, digits, '-' and '_' (at most 32)")
		} else if steps[r.Name] {
			add(rk+".name", fmt.Sprintf("%q is used twice or is a built-in step's name", r.Name), "give each step its own name")
		}
		steps[r.Name] = true
		if len(r.Command) == 0 {
			add(rk+".command", "the step has no command", `write command = ["manage", "compress", "--force"]`)
		}
		for e, kv := range r.Env {
			if !envPair.MatchString(kv) {
				add(fmt.Sprintf("%s.env[%d]", rk, e), fmt.Sprintf("%q is not KEY=VALUE", kv), `write it like "COMPRESS_ENABLED=1"`)
			}
		}
	}
	if a.MaintenancePage != "" {
		if !filepath.IsAbs(a.MaintenancePage) {
			add(k+".maintenance_page", fmt.Sprintf("%q is not an absolute path", a.MaintenancePage), "write the HTML file's absolute path")
		} else if _, err := readMaintenancePage(a.MaintenancePage); err != nil {
			add(k+".maintenance_page", err.Error(), "point it at a readable HTML file (at most 1 MiB), or remove the key for frontdoor's page")
		}
	}
	return errs
}

// appLocation is one URL prefix of the generated site.
type appLocation struct {
	urlKey, rootKey string
	url, root       string
	internal        bool
}

func (a *AppConfig) locations() []appLocation {
	return []appLocation{
		{"static_url", "static_root", a.StaticURL, a.StaticRoot, false},
		{"media_url", "media_root", a.MediaURL, a.MediaRoot, false},
		{"protected_url", "protected_root", a.ProtectedURL, a.ProtectedRoot, true},
	}
}

// compressedDir holds the precompressed siblings of static files in
// directories frontdoor may not write (a package's STATIC_ROOT): the
// release step writes them there, under the file's absolute path.
func (c *Config) compressedDir() string {
	return filepath.Join(filepath.Dir(c.Server.State), "compressed")
}

// variantRoot is where a static route's root has siblings kept outside
// it: an app's STATIC_ROOT only ("" for any other directory).
func (c *Config) variantRoot(root string) string {
	for i := range c.Apps {
		if sr := c.Apps[i].StaticRoot; sr != "" && filepath.Clean(root) == filepath.Clean(sr) {
			return filepath.Join(c.compressedDir(), filepath.Clean(root))
		}
	}
	return ""
}

// prepareVariantRoot creates the apps' variant directories, so that the
// edge, which opens them with the routes, sees what the first release
// writes there. Best effort: without one there are no variants.
func (c *Config) prepareVariantRoot() {
	for i := range c.Apps {
		if sr := c.Apps[i].StaticRoot; sr != "" {
			_ = os.MkdirAll(c.variantRoot(sr), 0o755)
		}
	}
}

// supervisorConfig maps [app] onto the supervisor's configuration.
// runtimeDir is the directory of this supervisor's sockets.
func (a *AppConfig) supervisorConfig(runtimeDir string) supervisor.Config {
	off := func(b *bool) bool { return b != nil && !*b }
	allOff := off(a.ReleaseSteps)
	sc := supervisor.Config{
		ProjectDir:          a.Dir,
		Settings:            a.Settings,
		PythonPath:          a.PythonPath,
		User:                a.User,
		Python:              a.Python,
		Server:              supervisor.Server(a.Server),
		App:                 a.Module,
		Workers:             a.Workers,
		WorkerClass:         a.WorkerClass,
		Threads:             a.Threads,
		KeepAlive:           a.KeepAlive.Duration,
		ExtraArgs:           a.Args,
		EnvFile:             a.EnvFile,
		Env:                 a.Env,
		RuntimeDir:          runtimeDir,
		NoWaitPostgres:      allOff || off(a.WaitPostgres),
		NoMigrate:           allOff || off(a.Migrate),
		NoCollectStatic:     allOff || off(a.CollectStatic),
		NoCompressStatic:    allOff || off(a.CompressStatic),
		StepTimeout:         a.StepTimeout.Duration,
		PostgresInterval:    a.PostgresInterval.Duration,
		PostgresWaitTimeout: a.PostgresWaitTimeout.Duration,
		ReadyTimeout:        a.ReadyTimeout.Duration,
		ReadyPath:           a.ReadyPath,
		StopTimeout:         a.StopTimeout.Duration,
		WebSocketGrace:      a.WebSocketGrace.Duration,
		SampleInterval:      a.SampleInterval.Duration,
		MinBackoff:          a.BackoffMin.Duration,
		MaxBackoff:          a.BackoffMax.Duration,
		HealthyAfter:        a.HealthyAfter.Duration,
	}
	if a.MemoryLimit != "" {
		sc.RSSLimit, _ = parseByteSize(a.MemoryLimit) // validated at load
	}
	for _, p := range a.Processes {
		sc.Processes = append(sc.Processes, supervisor.ProcessSpec{Name: p.Name, Command: p.Command, Env: p.Env})
	}
	for _, r := range a.Release {
		sc.Release = append(sc.Release, supervisor.ReleaseStep{Name: r.Name, Command: r.Command, Timeout: r.Timeout.Duration,
			Optional: r.Optional, Off: allOff || off(r.Enabled), Env: r.Env})
	}
	return sc
}

// parseByteSize reads "512MiB", "2G", "1.5GiB", "1000000": K, M, G and T
// are powers of 1024 (with or without "iB" or "B").
func parseByteSize(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	mult := map[string]float64{"": 1, "b": 1,
		"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
		"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
		"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
		"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
	}[strings.ToLower(unit)]
	if mult == 0 {
		return 0, fmt.Errorf("%q: unknown unit %q", s, unit)
	}
	return uint64(v * mult), nil
}
