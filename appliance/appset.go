package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"time"
)

// errNoApp is returned by operations on an application when the
// configuration has none.
var errNoApp = errors.New("the configuration has no [app]: nothing to deploy (run `frontdoor init DJANGO_DIR`)")

// errUnknownApp is returned by operations on an app the configuration
// does not name.
var errUnknownApp = errors.New("no such app")

// errWhichApp is returned by an operation that names no app when there
// are several.
var errWhichApp = errors.New("several apps: name one")

// appSet holds every supervised application of the daemon, by name, and
// what the daemon does for all of them: reloads (which start, stop, hand
// over or deploy each app independently), the request rate and systemd's
// status line. It exists for the daemon's whole life, with or without
// apps.
type appSet struct {
	a   *Appliance
	log *slog.Logger

	mu       sync.Mutex
	runners  map[string]*appRunner
	order    []string // names in the configuration's order
	nextDir  int      // socket directories: app1/, app2/… never reused
	detached bool     // the engine has stopped: leave its groups alone

	reloads reloadTracker

	started    time.Time
	rate       requestRate
	statusPoke chan struct{}
	stopStatus context.CancelFunc
	statusDone chan struct{}
}

// startApps creates the set and starts a supervisor for every app of the
// configuration. It does not wait for them: release steps and first boots
// go on in the background while the edge holds or answers 503.
func (a *Appliance) startApps() error {
	s := &appSet{a: a, log: a.log.With("part", "app"), started: time.Now(), statusPoke: make(chan struct{}, 1),
		runners: map[string]*appRunner{}}
	s.rate.add(rateSample{at: s.started, requests: a.engine.Stats().Requests})
	s.reloads.init()
	a.apps = s
	s.removeStaleDirs()
	ctx, cancel := context.WithCancel(context.Background())
	s.stopStatus, s.statusDone = cancel, make(chan struct{})
	go s.publishStatus(ctx)
	shares := a.cfg.workerShares()
	for i := range a.cfg.Apps {
		cfg := a.cfg.Apps[i]
		r := s.newRunner(cfg.Name)
		r.restoreMaintenance(&cfg)
		if err := r.start(cfg, shares[cfg.Name], true); err != nil {
			return fmt.Errorf("%s: %s: %w", a.cfgPath, a.cfg.appKey(i), err)
		}
	}
	s.setOrder(a.cfg)
	return nil
}

// newRunner registers an app by name (not yet started).
func (s *appSet) newRunner(name string) *appRunner {
	r := &appRunner{set: s, name: name, group: appGroup(name), logs: newAppLog()}
	r.log = slog.New(newTeeHandler(s.log.Handler(), r.logs)).With("app", name)
	r.rec = newRecorder(s.a.state, r.log, name, s.poke)
	s.mu.Lock()
	s.runners[name] = r
	s.mu.Unlock()
	return r
}

// setOrder remembers the configuration's order of the apps, for status.
func (s *appSet) setOrder(cfg *Config) {
	s.mu.Lock()
	s.order = cfg.appNames()
	s.mu.Unlock()
}

// runner returns the app called name; with name "", the only app.
func (s *appSet) runner(name string) (*appRunner, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == "" {
		switch len(s.runners) {
		case 0:
			return nil, errNoApp
		case 1:
			for _, r := range s.runners {
				return r, nil
			}
		}
		return nil, fmt.Errorf("%w: %s", errWhichApp, strings.Join(s.order, ", "))
	}
	if r, ok := s.runners[name]; ok {
		return r, nil
	}
	if len(s.runners) == 0 {
		return nil, errNoApp
	}
	return nil, fmt.Errorf("%w %q (the apps: %s)", errUnknownApp, name, strings.Join(s.order, ", "))
}

// list returns the apps in the configuration's order.
func (s *appSet) list() []*appRunner {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*appRunner, 0, len(s.runners))
	for _, name := range s.order {
		if r, ok := s.runners[name]; ok {
			out = append(out, r)
		}
	}
	return out
}

// nextDirName is a new socket directory under the runtime directory.
func (s *appSet) nextDirName() string {
	s.mu.Lock()
	s.nextDir++
	id := s.nextDir
	s.mu.Unlock()
	return filepath.Join(s.a.started.Server.RuntimeDir, fmt.Sprintf("app%d", id))
}

// reloadApps applies a reloaded configuration to the applications, in
// the background (a deploy may take minutes; the signal loop must not
// wait), each app on its own: added → started; removed → stopped;
// changed → handed over to a new supervisor; unchanged → deployed if its
// code changed since its serving generation started. The outcome is kept
// for the admin socket's POST /reload.
func (a *Appliance) reloadApps(old, cfg *Config) {
	s := a.apps
	if s == nil {
		return
	}
	act := s.reloads.newAction()
	shares := cfg.workerShares()
	type change struct {
		name     string
		old, cur *AppConfig
	}
	var changes []change
	for i := range cfg.Apps {
		changes = append(changes, change{cfg.Apps[i].Name, old.appNamed(cfg.Apps[i].Name), &cfg.Apps[i]})
	}
	for i := range old.Apps {
		if cfg.appNamed(old.Apps[i].Name) == nil {
			changes = append(changes, change{old.Apps[i].Name, &old.Apps[i], nil})
		}
	}
	for _, ch := range changes {
		if ch.cur == nil {
			continue
		}
		s.mu.Lock()
		r, known := s.runners[ch.name]
		s.mu.Unlock()
		switch {
		case !known:
			s.newRunner(ch.name).restoreMaintenance(ch.cur)
		case r.maintenanceState() != nil:
			// The engine kept the group's page through its reload; the
			// file may name another page now.
			if err := r.setMaintenance(r.maintenanceState(), ch.cur.MaintenancePage); err != nil {
				r.log.Warn("maintenance page unreadable; the previous page stays", "err", err)
			}
		}
	}
	s.setOrder(cfg)
	go func() {
		results := make([]AppReloadResult, len(changes))
		var wg sync.WaitGroup
		for i, ch := range changes {
			r, err := s.runner(ch.name)
			if err != nil {
				results[i] = AppReloadResult{Name: ch.name, Error: err.Error()}
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.actions.Lock()
				defer r.actions.Unlock()
				res := r.applyReload(ch.old, ch.cur, shares[ch.name])
				res.Name = ch.name
				if res.Error != "" {
					r.log.Error("reload of the application failed", "err", res.Error)
				} else {
					r.log.Info("application reloaded", "action", res.App)
				}
				if ch.cur == nil {
					// A removed app leaves no maintenance mode behind for
					// an app of the same name added later.
					_ = r.storeMaintenance(nil)
					s.forget(r)
				}
				results[i] = res
			}()
		}
		wg.Wait()
		act.finish(combineReloadResults(results))
	}()
}

// forget drops a removed app's runner once it stopped.
func (s *appSet) forget(r *appRunner) {
	s.mu.Lock()
	if s.runners[r.name] == r {
		delete(s.runners, r.name)
	}
	s.mu.Unlock()
	r.rec.close(context.Background())
	s.poke()
}

// combineReloadResults makes one answer of the apps' results: each app's
// in Apps, and App/Error summing them up (for one app, its own words).
func combineReloadResults(results []AppReloadResult) AppReloadResult {
	if len(results) == 0 {
		return AppReloadResult{App: "no [app] configured"}
	}
	if len(results) == 1 {
		res := results[0]
		res.Apps = nil
		return res
	}
	var out AppReloadResult
	var said, failed []string
	for _, r := range results {
		out.Apps = append(out.Apps, r)
		if r.Error != "" {
			failed = append(failed, r.Name+": "+r.Error)
		} else {
			said = append(said, r.Name+": "+r.App)
		}
	}
	out.App = strings.Join(said, "; ")
	out.Error = strings.Join(failed, "; ")
	return out
}

// stopApps stops every application's processes gracefully (each
// supervisor gives its children StopTimeout), then flushes the event
// recorders. It returns early when ctx ends.
func (a *Appliance) stopApps(ctx context.Context) {
	s := a.apps
	if s == nil {
		return
	}
	s.mu.Lock()
	// The engine has been shut down: a supervisor going down must not
	// post to its stopped workers.
	s.detached = true
	s.mu.Unlock()
	runners := s.list()
	var wg sync.WaitGroup
	for _, r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.stop(ctx)
		}()
	}
	wg.Wait()
	s.stopStatus()
	<-s.statusDone
	for _, r := range runners {
		r.rec.close(ctx)
	}
}

// isDetached reports whether the engine has stopped.
func (s *appSet) isDetached() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.detached
}

// appDirPattern names the supervisors' socket directories.
var appDirPattern = regexp.MustCompile(`^app[0-9]+$`)

// removeStaleDirs removes socket directories a previous run left behind.
func (s *appSet) removeStaleDirs() {
	dir := s.a.started.Server.RuntimeDir
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() && appDirPattern.MatchString(e.Name()) {
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// poke asks publishStatus to recompute the systemd status line.
func (s *appSet) poke() {
	select {
	case s.statusPoke <- struct{}{}:
	default:
	}
}

// sameApp reports whether two app tables configure the same supervisor.
func sameApp(a, b *AppConfig) bool { return reflect.DeepEqual(*a, *b) }
