package supervisor

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"time"
)

// Server names the application server that runs the web process.
type Server string

const (
	// ServerAuto picks from the project: ServerUvicorn when the settings
	// define ASGI_APPLICATION, ServerGunicorn otherwise.
	ServerAuto Server = ""
	// ServerGunicorn serves a WSGI application with gunicorn (worker class
	// [Config.WorkerClass], gthread by default).
	ServerGunicorn Server = "gunicorn"
	// ServerUvicorn serves an ASGI application with uvicorn workers under
	// gunicorn's arbiter (`gunicorn -k uvicorn.workers.UvicornWorker`). The
	// arbiter respawns a dead worker (uvicorn 0.17's own --workers does not),
	// reports boot failures with exit codes 3 and 4, honours the graceful
	// timeout, and takes the same --keep-alive flag as the WSGI case.
	ServerUvicorn Server = "uvicorn"
)

// uvicornWorkerClass is the gunicorn worker class that runs an ASGI app.
const uvicornWorkerClass = "uvicorn.workers.UvicornWorker"

// ProcessSpec describes an extra long-running process (a Celery worker, a
// scheduler). It runs in the project directory with the project's
// environment, is restarted with the same backoff as the web process, and is
// restarted (stop, then start) after every successful deploy so it runs the
// new code.
type ProcessSpec struct {
	// Name tags the process in logs, events and status: lowercase letters,
	// digits, '-' and '_'; "web" is reserved.
	Name string
	// Command is the argv. A first word of "python" means the project's
	// interpreter ([Config.Python]), so ["python", "-m", "celery", "-A",
	// "mysite", "worker"] uses the project's virtualenv.
	Command []string
	// Env holds extra KEY=VALUE pairs for this process only.
	Env []string
}

// Config describes the site to run. Only ProjectDir and RuntimeDir are
// required; every other field has the default named in its comment.
type Config struct {
	// ProjectDir is the Django project: the directory holding manage.py,
	// or, for a project without one (Settings set), the working directory.
	ProjectDir string
	// Settings is DJANGO_SETTINGS_MODULE for every child. Default: the
	// environment's or the env file's, else what the application's module
	// sets (wsgi.py), else manage.py's. Required without manage.py.
	Settings string
	// PythonPath lists directories put in front of every child's
	// PYTHONPATH (a settings module outside the project, say).
	PythonPath []string
	// User is the account every child runs as when frontdoor runs as root:
	// a name or a numeric uid. Default: the owner of ProjectDir; a project
	// owned by root is refused (the application never runs as root). When
	// frontdoor does not run as root the children run as frontdoor's own
	// user, whatever this says.
	User string
	// Python is the interpreter that runs the project. Default: the
	// project's virtualenv or the system's, as [FindPython] chooses.
	Python string

	// Server chooses gunicorn (WSGI) or uvicorn (ASGI). Default: from the
	// project's settings (see [ServerAuto]).
	Server Server
	// App is the application object, "mysite.wsgi:application". Default:
	// WSGI_APPLICATION (or ASGI_APPLICATION for uvicorn) from the settings;
	// for uvicorn without ASGI_APPLICATION, the asgi module next to the
	// WSGI one ("mysite.asgi:application") when that file exists.
	App string
	// Workers is the number of gunicorn worker processes. Default 2×cores+1.
	Workers int
	// WorkerClass is gunicorn's worker class for WSGI. Default "gthread":
	// it keeps connections alive, while the "sync" worker closes every
	// connection and makes the edge's upstream pool useless. Ignored for
	// uvicorn.
	WorkerClass string
	// Threads is the number of threads per gthread worker. Default 4.
	Threads int
	// KeepAlive is how long the app server keeps an idle connection from
	// the edge open. It must stay above the edge pool's idle TTL, or the
	// edge would reuse connections the server is closing. Default 10s.
	KeepAlive time.Duration
	// ExtraArgs are appended to gunicorn's command line, before the app.
	ExtraArgs []string

	// EnvFile holds KEY=VALUE lines given to every child. Default: the
	// project's .env when it exists. It is read again at every start.
	EnvFile string
	// Env holds extra KEY=VALUE pairs given to every child; they override
	// the env file.
	Env []string

	// RuntimeDir holds the sockets (web-N.sock) and the generated gunicorn
	// config. It is created (mode 0750) if missing.
	RuntimeDir string

	// NoWaitPostgres skips the release step that waits for PostgreSQL
	// (it only runs when the settings use PostgreSQL).
	NoWaitPostgres bool
	// NoMigrate skips `manage.py migrate --noinput`.
	NoMigrate bool
	// NoCollectStatic skips `manage.py collectstatic --noinput`.
	NoCollectStatic bool
	// StepTimeout bounds each migrate/collectstatic run. Default 10m.
	StepTimeout time.Duration
	// Release are the project's own release steps, run in order after
	// collectstatic and before the static files are compressed.
	Release []ReleaseStep
	// NoCompressStatic skips writing .br, .zst and .gz next to the
	// compressible files of STATIC_ROOT after collectstatic.
	NoCompressStatic bool
	// CompressDir holds the compressed copies of a STATIC_ROOT frontdoor
	// may not write (a package's): under the root's absolute path, where
	// the edge's static route looks for them. Default none.
	CompressDir string

	// Processes are extra named processes started after the first
	// successful release steps.
	Processes []ProcessSpec

	// PostgresInterval is the time between two PostgreSQL health checks.
	// Default 10s.
	PostgresInterval time.Duration
	// PostgresWaitTimeout bounds the "wait for PostgreSQL" release step.
	// Default 5m.
	PostgresWaitTimeout time.Duration

	// ReadyTimeout bounds how long a new web generation may take to answer
	// HTTP on its socket; past it the generation is abandoned. Default 60s.
	ReadyTimeout time.Duration
	// ReadyPath is the path of the readiness request. Any HTTP status
	// counts as ready (ALLOWED_HOSTS may turn it into a 400). Default "/".
	ReadyPath string
	// StopTimeout is the graceful stop: after SIGTERM to a child's process
	// group, how long before SIGKILL. Also gunicorn's --graceful-timeout
	// (minus a second, so gunicorn finishes first). Default 30s.
	StopTimeout time.Duration
	// WebSocketGrace is how long a replaced web generation is kept alive
	// while WebSocket tunnels to it are still open. Default 10m.
	WebSocketGrace time.Duration
	// RSSLimit restarts the web generation (blue/green, no failed request)
	// when the resident memory of its whole process tree passes this many
	// bytes, at most once per HealthyAfter. 0 turns it off (the default).
	RSSLimit uint64
	// SampleInterval is how often CPU and memory are measured. Default 5s.
	SampleInterval time.Duration

	// MinBackoff is the delay before the first restart of a crashed
	// child; it doubles with every further failure. Default 1s.
	MinBackoff time.Duration
	// MaxBackoff caps the restart delay; FATAL children are retried only
	// at this interval. Default 60s.
	MaxBackoff time.Duration
	// HealthyAfter is how long a child must run for its backoff to reset.
	// Default 60s.
	HealthyAfter time.Duration
	// StderrLines is how many of a child's last stderr lines are kept for
	// crash reports. Default 40.
	StderrLines int

	// Logger receives the supervisor's own logs and every child's output
	// line, tagged with the process name. Default: discard.
	Logger *slog.Logger
	// Edge is told where the app listens and asked what is in flight.
	// Default: none (an Edge that ignores upstream changes and reports
	// nothing in flight — for tests and for running without an edge).
	Edge Edge
	// Recorder receives events (starts, exits, restarts, deploys, health
	// changes). Default: none.
	Recorder Recorder
}

// processName is what ProcessSpec.Name may look like.
var processName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// maxSocketPath is sun_path's size minus the NUL and room for "web-NNNNNN.sock".
const maxSocketPath = 107 - len("/web-000000.sock")

// withDefaults returns a copy of c with every zero field set to its default,
// or an error naming the first invalid field.
func (c Config) withDefaults() (Config, error) {
	if c.ProjectDir == "" {
		return c, errors.New("supervisor config: ProjectDir is required")
	}
	dir, err := filepath.Abs(c.ProjectDir)
	if err != nil {
		return c, fmt.Errorf("supervisor config: ProjectDir: %w", err)
	}
	c.ProjectDir = dir
	if _, err := os.Stat(filepath.Join(dir, "manage.py")); err != nil && c.Settings == "" {
		return c, fmt.Errorf("supervisor config: ProjectDir %s has no manage.py (and Settings is empty): %w", dir, err)
	}
	if c.RuntimeDir == "" {
		return c, errors.New("supervisor config: RuntimeDir is required")
	}
	if c.RuntimeDir, err = filepath.Abs(c.RuntimeDir); err != nil {
		return c, fmt.Errorf("supervisor config: RuntimeDir: %w", err)
	}
	if len(c.RuntimeDir) > maxSocketPath {
		return c, fmt.Errorf("supervisor config: RuntimeDir %s is too long for unix socket paths (max %d bytes)", c.RuntimeDir, maxSocketPath)
	}
	if c.Python == "" {
		c.Python, _ = FindPython(dir)
	}
	switch c.Server {
	case ServerAuto, ServerGunicorn, ServerUvicorn:
	default:
		return c, fmt.Errorf("supervisor config: Server %q: want %q or %q", c.Server, ServerGunicorn, ServerUvicorn)
	}
	if c.Workers == 0 {
		c.Workers = 2*runtime.NumCPU() + 1
	}
	if c.Workers < 0 {
		return c, fmt.Errorf("supervisor config: Workers %d must be positive", c.Workers)
	}
	if c.WorkerClass == "" {
		c.WorkerClass = "gthread"
	}
	if c.Threads == 0 {
		c.Threads = 4
	}
	setDuration(&c.KeepAlive, 10*time.Second)
	if c.KeepAlive < time.Second {
		return c, fmt.Errorf("supervisor config: KeepAlive %s: gunicorn counts it in whole seconds", c.KeepAlive)
	}
	if c.EnvFile == "" {
		if p := filepath.Join(dir, ".env"); fileExists(p) {
			c.EnvFile = p
		}
	}
	if err := validateEnv(c.Env); err != nil {
		return c, fmt.Errorf("supervisor config: Env: %w", err)
	}
	setDuration(&c.StepTimeout, 10*time.Minute)
	setDuration(&c.PostgresInterval, 10*time.Second)
	setDuration(&c.PostgresWaitTimeout, 5*time.Minute)
	setDuration(&c.ReadyTimeout, 60*time.Second)
	if c.ReadyPath == "" {
		c.ReadyPath = "/"
	}
	setDuration(&c.StopTimeout, 30*time.Second)
	setDuration(&c.WebSocketGrace, 10*time.Minute)
	setDuration(&c.SampleInterval, 5*time.Second)
	setDuration(&c.MinBackoff, time.Second)
	setDuration(&c.MaxBackoff, 60*time.Second)
	setDuration(&c.HealthyAfter, 60*time.Second)
	if c.MaxBackoff < c.MinBackoff {
		return c, fmt.Errorf("supervisor config: MaxBackoff %s is below MinBackoff %s", c.MaxBackoff, c.MinBackoff)
	}
	if c.StderrLines == 0 {
		c.StderrLines = 40
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Edge == nil {
		c.Edge = noEdge{}
	}
	if c.Recorder == nil {
		c.Recorder = noRecorder{}
	}
	seen := map[string]bool{webName: true}
	for i, p := range c.Processes {
		if !processName.MatchString(p.Name) {
			return c, fmt.Errorf("supervisor config: Processes[%d].Name %q: want lowercase letters, digits, '-' or '_'", i, p.Name)
		}
		if seen[p.Name] {
			return c, fmt.Errorf("supervisor config: Processes[%d].Name %q is used twice (or is the reserved %q)", i, p.Name, webName)
		}
		seen[p.Name] = true
		if len(p.Command) == 0 {
			return c, fmt.Errorf("supervisor config: Processes[%d] (%s) has no Command", i, p.Name)
		}
		if err := validateEnv(p.Env); err != nil {
			return c, fmt.Errorf("supervisor config: Processes[%d] (%s).Env: %w", i, p.Name, err)
		}
	}
	steps := map[string]bool{StepInspect: true, StepWaitPostgres: true, StepMigrate: true, StepCollectStatic: true, StepCompressStatic: true}
	for i := range c.Release {
		r := &c.Release[i]
		if !processName.MatchString(r.Name) {
			return c, fmt.Errorf("supervisor config: Release[%d].Name %q: want lowercase letters, digits, '-' or '_'", i, r.Name)
		}
		if steps[r.Name] {
			return c, fmt.Errorf("supervisor config: Release[%d].Name %q is used twice (or is a built-in step's)", i, r.Name)
		}
		steps[r.Name] = true
		if len(r.Command) == 0 {
			return c, fmt.Errorf("supervisor config: Release[%d] (%s) has no Command", i, r.Name)
		}
		if r.Timeout == 0 {
			r.Timeout = c.StepTimeout
		}
	}
	return c, nil
}

// setDuration sets *d to def when it is zero.
func setDuration(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}
