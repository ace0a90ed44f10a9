package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// ErrNotRunning is returned by Deploy and Restart when Run is not running.
var ErrNotRunning = errors.New("supervisor is not running")

// Supervisor runs one Django site. Create it with New, run it with Run;
// Deploy, Restart, Status and CodeChanged may be called from any goroutine
// while Run runs (Status and CodeChanged also before and after).
type Supervisor struct {
	cfg Config
	log *slog.Logger
	pg  *pgHealth
	// account is who the children run as (nil: frontdoor's own user).
	account *Account

	// deploySem admits one deploy at a time (first start, Deploy, Restart,
	// memory-limit restart): release steps never run concurrently.
	deploySem chan struct{}
	// bootSem admits one generation boot at a time (start, wait until
	// ready, switch the edge), deploys and crash restarts alike. A crash
	// restart takes only this one, so it is not held up by a deploy's
	// long migration.
	bootSem chan struct{}

	mu       sync.Mutex
	running  bool
	stopping bool            // Run is shutting down: exits are not crashes
	runCtx   context.Context // cancelled when shutdown begins
	launch   *launcher
	ops      sync.WaitGroup // every goroutine shutdown must wait for
	project  *Project       // from the last successful inspect
	nextGen  int
	web      webState
	gens     map[int]*generation // every live generation: current, candidates, draining
	extras   []*extraProc
	released chan struct{} // closed after the first successful release steps
	deploy   deployState
	rssBusy  bool      // a memory-limit restart is under way
	rssLast  time.Time // when the last one began
}

// New checks cfg and fills in its defaults. It starts nothing.
func New(cfg Config) (*Supervisor, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	account, err := RunAccount(cfg)
	if err != nil {
		return nil, err
	}
	s := &Supervisor{
		cfg:       cfg,
		account:   account,
		log:       cfg.Logger,
		deploySem: make(chan struct{}, 1),
		bootSem:   make(chan struct{}, 1),
		gens:      map[int]*generation{},
		released:  make(chan struct{}),
	}
	s.web = webState{
		state:   StateStopped,
		changed: make(chan struct{}),
		backoff: backoff{min: cfg.MinBackoff, max: cfg.MaxBackoff, healthyAfter: cfg.HealthyAfter},
	}
	for _, spec := range cfg.Processes {
		s.extras = append(s.extras, &extraProc{
			spec:    spec,
			state:   StateStopped,
			wake:    make(chan struct{}, 1),
			backoff: backoff{min: cfg.MinBackoff, max: cfg.MaxBackoff, healthyAfter: cfg.HealthyAfter},
		})
	}
	s.pg = newPGHealth(cfg.PostgresInterval, cfg.Logger.With("proc", "postgres"), s.record)
	return s, nil
}

// Run starts the site and keeps it running until ctx is done: it runs the
// release steps, starts the web process and the extra processes, restarts
// what crashes, watches PostgreSQL and samples resource use. When ctx is
// done it tells the edge the app is gone, stops every child gracefully
// (SIGTERM, then SIGKILL after StopTimeout) and returns once all of them
// have exited. A site that cannot start (failing release step, app that
// does not import) is not an error: Run keeps retrying with backoff and
// Status shows why. Run returns an error only if it cannot work at all
// (the runtime directory cannot be created, Run called twice).
func (s *Supervisor) Run(ctx context.Context) error {
	if err := s.prepareRuntimeDir(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("supervisor: Run called twice")
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.running, s.runCtx, s.launch = true, runCtx, newLauncher()
	s.web.state = StateStarting
	s.mu.Unlock()

	s.goTracked(func() { s.pg.run(runCtx) })
	s.goTracked(func() { s.sample(runCtx) })
	s.goTracked(func() { s.superviseWeb(runCtx) })
	for _, e := range s.extras {
		s.goTracked(func() { s.superviseExtra(runCtx, e) })
	}

	<-ctx.Done()
	s.shutdown(cancel)
	return nil
}

// prepareRuntimeDir creates the runtime directory, removes sockets left by
// a previous run and writes the gunicorn config.
func (s *Supervisor) prepareRuntimeDir() error {
	if err := os.MkdirAll(s.cfg.RuntimeDir, 0o711); err != nil {
		return fmt.Errorf("supervisor: runtime dir: %w", err)
	}
	stale, _ := filepath.Glob(filepath.Join(s.cfg.RuntimeDir, "web-*.sock"))
	for _, p := range stale {
		_ = os.Remove(p)
	}
	if err := s.writeGunicornConf(); err != nil {
		return err
	}
	return s.shareRuntimeDir()
}

// shareRuntimeDir lets the application's user, when it is not frontdoor's,
// read the gunicorn config in the runtime directory: the directory is
// frontdoor's, 0711 (others pass through, list and create nothing; the
// sockets in it are 0600, their descriptors handed to the app), and the
// directory above (frontdoor's runtime directory) gets search permission
// for others when that user could not pass it: it holds only sockets, each
// with its own mode.
func (s *Supervisor) shareRuntimeDir() error {
	if err := os.Chmod(s.cfg.RuntimeDir, 0o711); err != nil { // whatever the umask
		return fmt.Errorf("supervisor: runtime dir: %w", err)
	}
	a := s.account
	if a == nil {
		return nil
	}
	parent := filepath.Dir(s.cfg.RuntimeDir)
	if ok, _, _ := CanAccess(a, parent, AccessExec); !ok {
		if st, err := os.Stat(parent); err == nil {
			if err := os.Chmod(parent, st.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("supervisor: let user %s reach its gunicorn config in %s: %w", a.Name, parent, err)
			}
			s.log.Info("gave others search permission on the runtime directory, so the application's user reads its gunicorn config", "dir", parent, "user", a.Name)
		}
	}
	conf := filepath.Join(s.cfg.RuntimeDir, gunicornConfName)
	if ok, blocked, why := CanAccess(a, conf, AccessRead); !ok {
		return fmt.Errorf("supervisor: user %s cannot read %s: %s is %s", a.Name, conf, blocked, why)
	}
	return nil
}

// goTracked runs f in a goroutine that shutdown waits for.
func (s *Supervisor) goTracked(f func()) {
	s.ops.Add(1)
	go func() {
		defer s.ops.Done()
		f()
	}()
}

// shutdown stops everything. Setting stopping under mu first guarantees
// that every child is either in the snapshot below or stopped by the
// goroutine that started it (see adoptGeneration, adoptExtra).
func (s *Supervisor) shutdown(cancel context.CancelFunc) {
	s.log.Info("stopping the site")
	s.mu.Lock()
	s.stopping = true
	cancel()
	s.setUpstreamLocked("")
	var children []*child
	for _, g := range s.gens {
		children = append(children, g.child)
	}
	for _, e := range s.extras {
		if e.child != nil {
			children = append(children, e.child)
		}
	}
	s.mu.Unlock()

	var wg sync.WaitGroup
	for _, c := range children {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.stop(s.cfg.StopTimeout)
		}()
	}
	wg.Wait()
	s.ops.Wait()

	s.mu.Lock()
	s.web.state = StateStopped
	for _, e := range s.extras {
		e.state = StateStopped
	}
	for n, g := range s.gens {
		_ = os.Remove(g.sock)
		delete(s.gens, n)
	}
	s.running = false
	s.mu.Unlock()
	s.launch.close()
	s.log.Info("site stopped")
}

// record stamps and forwards an event to the Recorder.
func (s *Supervisor) record(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	s.cfg.Recorder.Record(e)
}

// beginOp registers a caller-driven operation (Deploy, Restart) so that
// shutdown waits for it, and returns a context that ends with either ctx
// or the supervisor's run.
func (s *Supervisor) beginOp(ctx context.Context) (context.Context, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running || s.stopping {
		return nil, nil, ErrNotRunning
	}
	s.ops.Add(1)
	opCtx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.runCtx, cancel)
	return opCtx, func() {
		stop()
		cancel()
		s.ops.Done()
	}, nil
}
